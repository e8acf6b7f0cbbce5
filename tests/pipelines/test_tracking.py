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
