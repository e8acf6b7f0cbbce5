"""MLflow tracking of a kedro run: offline SQLite store, tags, params, histories; switchable."""

from __future__ import annotations

import mlflow
import pytest
import torch
from matplotlib.figure import Figure

from zsl_pipeline.hooks import MlflowHook, flatten

SMALL_DEMO = {"demo": {"num_classes": 12, "num_unseen": 3, "images_per_class": 4}}


def test_flatten_nested_parameters():
    assert flatten({"a": {"b": 1, "c": {"d": "x"}}, "e": 2}) == {"a.b": 1, "a.c.d": "x", "e": 2}


@pytest.mark.slow
def test_run_is_tracked_offline_in_sqlite(run_pipeline, tmp_path):
    run_pipeline("data", params=SMALL_DEMO, track=True)
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["zsl_pipeline"])
    assert len(runs) == 1
    run = runs.iloc[0]
    assert run["status"] == "FINISHED"
    assert run["tags.dataset"] == "demo" and run["tags.device"] in ("cpu", "cuda")
    assert run["tags.git_commit"]
    assert run["params.demo.num_classes"] == "12"


def test_tracking_can_be_switched_off(run_pipeline, tmp_path):
    run_pipeline("data", params=SMALL_DEMO, track=False)
    assert not (tmp_path / "mlflow.db").exists()


def test_node_outputs_are_logged_by_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # artifacts go to ./mlruns
    hook = MlflowHook()
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'm.db'}")
    mlflow.set_experiment("hook-unit-test")
    with mlflow.start_run() as run:
        hook._active = True
        hook._log_models = {"tiny_model"}
        fig = Figure()
        fig.add_subplot().plot([0, 1])
        hook.after_node_run(
            node=None,
            outputs={
                "tfvaegan_metrics": {"final": {"zsl_t1": 0.5}, "note": "text", "odd, name": 1.0},
                "train_history": {"epoch": [1, 2], "loss_d": [3.0, 2.0]},
                "curves": fig,
                "tiny_model": {"w": torch.zeros(2)},
                "huge_model": {"w": torch.zeros(3)},  # not in mlflow.log_models: catalog only
                "skipped_images": [{"index": 3, "path": "a/b.jpg", "problem": "missing"}],
            },
        )
        hook._active = False
    client = mlflow.tracking.MlflowClient()
    data = client.get_run(run.info.run_id).data
    assert data.metrics["tfvaegan.final.zsl_t1"] == 0.5
    assert data.metrics["tfvaegan.odd_ name"] == 1.0  # characters MLflow rejects are replaced
    history = client.get_metric_history(run.info.run_id, "train.loss_d")
    assert [(m.step, m.value) for m in history] == [(1, 3.0), (2, 2.0)]
    assert [a.path for a in client.list_artifacts(run.info.run_id, "figures")] == ["figures/curves.png"]
    assert [a.path for a in client.list_artifacts(run.info.run_id, "models")] == ["models/tiny_model.pt"]
    assert data.metrics["skipped_images"] == 1
    assert "skipped_images.json" in [a.path for a in client.list_artifacts(run.info.run_id)]


def test_a_tracking_failure_does_not_fail_the_node(monkeypatch, caplog):
    hook = MlflowHook()
    hook._active = True

    def broken(outputs):
        raise RuntimeError("tracking server gone")

    monkeypatch.setattr(hook, "_log_outputs", broken)
    hook.after_node_run(node=None, outputs={"x_metrics": {"a": 1}})
    assert "tracking server gone" in caplog.text


def test_method_runs_become_nested_runs_per_seed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    hook = MlflowHook()
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'm.db'}")
    mlflow.set_experiment("nested-unit-test")
    record = lambda seed, h: {  # noqa: E731
        "method": "clswgan", "seed": seed, "n_shots": 0, "wall_time_s": 2.0, "peak_memory_mb": 10.0,
        "final": {"gzsl_h": h}, "retrieval": {"zsr": {"map": 0.5}}, "classifier_history": [{"epoch": 0}],
    }
    with mlflow.start_run() as parent:
        hook._active = True
        hook.after_node_run(node=None, outputs={"clswgan_runs": [record(0, 0.25), record(1, 0.75)]})
        hook._active = False
    client = mlflow.tracking.MlflowClient()
    children = client.search_runs(
        [parent.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    )
    by_name = {run.info.run_name: run.data for run in children}
    assert set(by_name) == {"clswgan-seed0", "clswgan-seed1"}
    assert by_name["clswgan-seed1"].metrics["final.gzsl_h"] == 0.75
    assert by_name["clswgan-seed0"].metrics["retrieval.zsr.map"] == 0.5
    assert by_name["clswgan-seed0"].tags["method"] == "clswgan"


# ---- live tracking: each finished epoch is in the store while the run goes on ---------------

from pathlib import Path  # noqa: E402

from toy_data import make_toy_dataset  # noqa: E402
from zsl_pipeline.data import write_xlsa17  # noqa: E402
from zsl_pipeline.hooks import dataset_digest, system_metrics_enabled  # noqa: E402
from zsl_pipeline.training.events import epoch_listener  # noqa: E402

TINY_TFVAEGAN = {
    "nepoch": 3, "syn_num": 10, "encoder_hidden": 16, "ngh": 16, "ndh": 16, "classifier_epochs": 2,
    "eval_every": 1, "checkpoint_every": 0,
}  # fmt: skip
TINY_CLSWGAN = {
    "ngh": 16, "ndh": 16, "pretrain_epochs": 1, "classifier_epochs": 2, "critic_iter": 2,
    "settings": {"gzsl": {"nepoch": 3, "syn_num": 10}, "zsl": {"nepoch": 3, "syn_num": 10}},
}  # fmt: skip
TINY_CADA = {
    "image_encoder_hidden": 16, "image_decoder_hidden": 16, "attribute_encoder_hidden": 8,
    "attribute_decoder_hidden": 8, "nepoch": 3, "samples_per_class_gzsl": [5, 0, 10, 0],
    "samples_per_class_zsl": [0, 0, 5, 0], "classifier_epochs_gzsl": 2, "classifier_epochs_zsl": 2,
}  # fmt: skip


@pytest.fixture
def toy_xlsa17(tmp_path) -> Path:
    root = tmp_path / "xlsa17"
    write_xlsa17(make_toy_dataset(per_class=12, feature_dim=24), root / "CUB")
    return root


class StoreReader:
    """An extra epoch listener that, at every epoch k >= 2 of ``stage``, reads the tracking store
    and records which steps of ``stage.<key>`` are already there (the hook logs epoch k after it)."""

    def __init__(self, db: Path, stage: str, keys: tuple[str, ...]):
        self.uri, self.stage, self.keys = f"sqlite:///{db}", stage, keys
        self.seen: dict[int, dict[str, list[tuple[int, float]]]] = {}
        self.values: dict[int, dict[str, float]] = {}

    def __call__(self, stage: str, epoch: int, values) -> None:
        if stage != self.stage:
            return
        self.values[epoch] = dict(values)
        if epoch < 2:
            return
        run_id = mlflow.active_run().info.run_id
        client = mlflow.MlflowClient(self.uri)
        self.seen[epoch] = {
            key: [(m.step, m.value) for m in client.get_metric_history(run_id, f"{stage}.{key}")] for key in self.keys
        }

    def check(self, epochs: int) -> None:
        """Every epoch k >= 2 found epochs 1 .. k-1 in the store, with the values emitted."""
        assert sorted(self.seen) == list(range(2, epochs + 1)), self.seen
        for epoch, by_key in self.seen.items():
            for key, points in by_key.items():
                assert points == [(k, self.values[k][key]) for k in range(1, epoch)], (epoch, key, points)


def _run_with_reader(run_pipeline, tmp_path, reader: StoreReader, name: str, **kwargs):
    with epoch_listener(reader):
        run_pipeline(name, track=True, **kwargs)
    client = mlflow.MlflowClient(reader.uri)
    runs = client.search_runs([client.get_experiment_by_name("zsl_pipeline").experiment_id])
    (run,) = [run for run in runs if "mlflow.parentRunId" not in run.data.tags]  # not the per-seed runs
    assert run.info.status == "FINISHED"
    return client, run.info.run_id


@pytest.mark.slow
def test_tfvaegan_epochs_are_in_the_store_during_the_run(run_pipeline, tmp_path, toy_xlsa17):
    keys = ("d_loss", "g_loss", "gp_weight", "final_zsl_accuracy", "final_harmonic_mean")
    reader = StoreReader(tmp_path / "mlflow.db", "tfvaegan_train", keys)
    client, run_id = _run_with_reader(
        run_pipeline, tmp_path, reader, "tfvaegan", env="cub",
        params={"xlsa17_root": str(toy_xlsa17), "tfvaegan": TINY_TFVAEGAN},
    )  # fmt: skip
    reader.check(3)
    # logged once per epoch: the end-of-node history logging does not repeat a streamed stage
    assert [m.step for m in client.get_metric_history(run_id, "tfvaegan_train.d_loss")] == [1, 2, 3]
    run = client.get_run(run_id)
    assert any(key.startswith("classifier.") for key in run.data.metrics)  # not streamed: logged at node end
    # the version of every versioned input this run loaded, and the dataset as an input
    assert run.data.tags["input_version.tfvaegan_model"]
    (dataset_input,) = run.inputs.dataset_inputs
    assert dataset_input.dataset.name == "CUB"
    from zsl_pipeline.data import read_xlsa17

    assert dataset_input.dataset.digest == dataset_digest(read_xlsa17(toy_xlsa17 / "CUB", name="CUB"))
    assert str(toy_xlsa17 / "CUB") in dataset_input.dataset.source


@pytest.mark.slow
@pytest.mark.parametrize(
    ("method", "params", "keys"),
    [
        ("clswgan", TINY_CLSWGAN, ("d_loss", "wasserstein", "gp", "g_adv", "cls_loss")),
        ("cada_vae", TINY_CADA, ("loss", "reconstruction", "kl", "beta", "delta")),
    ],
)
def test_method_epochs_are_in_the_store_during_the_run(run_pipeline, tmp_path, toy_xlsa17, method, params, keys):
    reader = StoreReader(tmp_path / "mlflow.db", f"{method}_train.seed3", keys)
    run_pipeline_params = {"xlsa17_root": str(toy_xlsa17), method: params, "runs": {"seeds": [3]}}
    _run_with_reader(run_pipeline, tmp_path, reader, method, env="cub", params=run_pipeline_params)
    reader.check(3)


@pytest.mark.slow
def test_finetuning_epochs_are_in_the_store_during_the_run(run_pipeline, tmp_path):
    params = {
        "demo": {"num_classes": 12, "num_unseen": 3, "images_per_class": 4},
        "extraction": {"resize": 32, "crop": 32, "batch_size": 16},
        "finetune": {"enabled": True, "epochs": 2, "resize": 32, "crop": 32, "batch_size": 8},
    }
    reader = StoreReader(tmp_path / "mlflow.db", "finetune", ("loss", "train_accuracy"))
    client, run_id = _run_with_reader(run_pipeline, tmp_path, reader, "features", params=params)
    reader.check(2)
    assert [m.step for m in client.get_metric_history(run_id, "finetune.loss")] == [1, 2]


def test_a_node_that_raises_leaves_the_run_failed_with_the_error(run_pipeline, tmp_path, monkeypatch):
    from zsl_pipeline.data import images

    def broken(**kwargs):
        raise RuntimeError("the node broke")

    monkeypatch.setattr(images, "read_image_dataset", broken)  # the second node's library call
    with pytest.raises(Exception, match="the node broke"):
        run_pipeline("data", params=SMALL_DEMO, track=True)
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    (run,) = mlflow.MlflowClient().search_runs(
        [mlflow.get_experiment_by_name("zsl_pipeline").experiment_id]
    )  # fmt: skip
    assert run.info.status == "FAILED"
    assert run.data.tags["error"] == "RuntimeError: the node broke"
    text = mlflow.artifacts.load_text(f"{run.info.artifact_uri}/error.txt")
    assert "RuntimeError: the node broke" in text and "Traceback" in text


def test_system_metrics_switch(monkeypatch, caplog):
    import importlib.util

    installed = {"psutil", "pynvml"}
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: object() if name in installed else None)
    assert system_metrics_enabled("auto", cuda_available=False) is False
    assert system_metrics_enabled("false", cuda_available=True) is False
    assert system_metrics_enabled(True, cuda_available=False) is True
    assert system_metrics_enabled("auto", cuda_available=True) is True
    with pytest.raises(ValueError, match="mlflow.system_metrics"):
        system_metrics_enabled("sometimes", cuda_available=False)
    installed.clear()  # without psutil: off, with a warning (MLflow would refuse to start the run)
    assert system_metrics_enabled("true", cuda_available=False) is False
    assert "psutil is not installed" in caplog.text


@pytest.mark.slow
def test_system_metrics_are_logged_when_switched_on(run_pipeline, tmp_path, monkeypatch):
    pytest.importorskip("psutil")
    import time

    from zsl_pipeline.data import images

    read = images.read_image_dataset
    monkeypatch.setattr(images, "read_image_dataset", lambda **kw: (time.sleep(1.0), read(**kw))[1])  # samples
    run_pipeline("data", params={**SMALL_DEMO, "mlflow": {"system_metrics": True, "system_metrics_interval_s": 0.2}},
                 track=True)
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("zsl_pipeline").experiment_id])
    assert {"system/cpu_utilization_percentage", "system/system_memory_usage_megabytes"} <= set(run.data.metrics)


def test_history_outputs_skip_only_the_epochs_streamed_live(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    hook = MlflowHook()
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'm.db'}")
    mlflow.set_experiment("history-unit-test")
    with mlflow.start_run() as run:
        hook._active, hook._run_id = True, run.info.run_id
        hook._log_epoch("train", 3, {"loss_d": 1.0})  # a resumed run streams epochs 3.. only
        hook.after_node_run(node=None, outputs={"train_history": {"epoch": [1, 2, 3], "loss_d": [3.0, 2.0, 1.0]}})
        hook._active = False
    history = mlflow.MlflowClient().get_metric_history(run.info.run_id, "train.loss_d")
    assert sorted((m.step, m.value) for m in history) == [(1, 3.0), (2, 2.0), (3, 1.0)]
