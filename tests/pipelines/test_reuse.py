"""Safe reuse of cached outputs (issue 12, parts 2 and 3).

* Environments keep their outputs apart (``data/<env>/``), and every saved model and tensor names
  the data it came from: a stage rerun against another environment's or dataset's outputs stops
  with a message naming both.
* A run loads only what it saved, or what it was told to load: two runs started side by side in
  one checkout each report their own results.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from kedro.io.core import Version

from toy_data import make_toy_dataset
from zsl_pipeline.data import write_xlsa17
from zsl_pipeline.io import ZeroShotDatasetIO

REPO_ROOT = Path(__file__).resolve().parents[2]

TINY = {"nepoch": 2, "syn_num": 20, "encoder_hidden": 32, "ngh": 32, "ndh": 32, "classifier_epochs": 3,
        "eval_every": 1, "checkpoint_every": 1}  # fmt: skip


@pytest.fixture
def toy_xlsa17(tmp_path) -> Path:
    root = tmp_path / "xlsa17"
    write_xlsa17(make_toy_dataset(per_class=20, feature_dim=24, name="CUB"), root / "CUB")
    return root


def _versions(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def test_a_demo_rerun_finds_nothing_of_a_cub_run(run_pipeline, tmp_path, toy_xlsa17):
    """The issue's case: a ``--env cub`` run, then the demo's ``--from-nodes=train_classifiers``.
    The demo environment has its own folder, so it finds nothing to load and says so."""
    run_pipeline("tfvaegan", env="cub", params={"xlsa17_root": str(toy_xlsa17), "tfvaegan": TINY})
    assert _versions(tmp_path / "data/cub/06_models/tfvaegan_model.pt")
    with pytest.raises(ValueError) as error:
        run_pipeline("tfvaegan", from_nodes=["train_classifiers"])
    message = str(error.value)
    assert "no earlier run saved a version in environment 'local'" in message
    for name in ("tfvaegan_model", "synthetic_unseen_features", "zsl_dataset"):
        assert name in message
    assert str(Path("data/local/06_models/tfvaegan_model.pt")) in message
    assert not (tmp_path / "data/local/06_models").exists()  # nothing ran, nothing written


def test_outputs_of_another_dataset_are_refused_naming_both(run_pipeline, tmp_path, toy_xlsa17):
    """The demo environment given a CUB run's generator and synthetic features (what the shared
    layout did; here copied into the demo's folder) stops before training a classifier, naming
    both datasets and fingerprints and the catalog entry, instead of an IndexError."""
    run_pipeline("tfvaegan", env="cub", params={"xlsa17_root": str(toy_xlsa17), "tfvaegan": TINY})
    shutil.copytree(tmp_path / "data" / "cub", tmp_path / "data" / "local")
    demo = make_toy_dataset(num_seen=8, num_unseen=4, per_class=10, feature_dim=24, seed=3, name="demo")
    features = tmp_path / "data/local/04_feature/zsl_dataset.npz"
    ZeroShotDatasetIO(filepath=str(features), version=Version(None, "2000-01-01T00.00.00.000Z")).save(demo)
    classifiers = _versions(tmp_path / "data/local/06_models/tfvaegan_classifiers.pt")

    with pytest.raises(ValueError) as error:
        run_pipeline("tfvaegan", from_nodes=["train_classifiers"])
    message = str(error.value)
    assert "tfvaegan_model" in message
    assert "dataset 'CUB' (fingerprint " in message and "dataset 'demo' (fingerprint " in message
    assert _versions(tmp_path / "data/local/06_models/tfvaegan_classifiers.pt") == classifiers


def test_a_changed_dataset_in_one_environment_is_refused(run_pipeline, tmp_path, toy_xlsa17):
    """Same environment, other data (``--params xlsa17_root=...``): the cached generator and the
    cached ESZSL baseline are refused by fingerprint; the full chain on the new data is fine."""
    run_pipeline("tfvaegan", env="cub", params={"xlsa17_root": str(toy_xlsa17), "tfvaegan": TINY})
    other = tmp_path / "other"
    write_xlsa17(make_toy_dataset(per_class=20, feature_dim=24, seed=5, name="CUB"), other / "CUB")
    with pytest.raises(ValueError, match=r"generator checkpoint \(tfvaegan_model\) was made from dataset 'CUB'"):
        run_pipeline("tfvaegan", env="cub", params={"xlsa17_root": str(other), "tfvaegan": TINY},
                     from_nodes=["synthesize_unseen_features"])  # fmt: skip
    run_pipeline("tfvaegan", env="cub", params={"xlsa17_root": str(other), "tfvaegan": TINY})


def test_load_versions_of_a_dataset_the_run_produces_is_refused(run_pipeline, toy_xlsa17):
    params = {"xlsa17_root": str(toy_xlsa17), "tfvaegan": TINY}
    with pytest.raises(ValueError, match="--load-versions names tfvaegan_model, which this run also produces"):
        run_pipeline("tfvaegan", env="cub", params=params, load_versions={"tfvaegan_model": "2000-01-01T00.00.00.000Z"})


def test_a_stage_rerun_reads_the_pinned_or_the_latest_version(run_pipeline, tmp_path, toy_xlsa17):
    """Two full runs, then the classifier stage pinned to the first run's generator and features:
    its metrics are the first run's last-epoch evaluation, not the second's."""
    first, second = {**TINY, "nepoch": 1}, TINY
    run_pipeline("tfvaegan", env="cub", params={"xlsa17_root": str(toy_xlsa17), "tfvaegan": first})
    run_pipeline("tfvaegan", env="cub", params={"xlsa17_root": str(toy_xlsa17), "tfvaegan": second})
    data = tmp_path / "data" / "cub"
    old = _versions(data / "06_models/tfvaegan_model.pt")[0]
    pinned = {name: old for name in ("tfvaegan_model", "synthetic_unseen_features", "tfvaegan_train_history")}
    run_pipeline("tfvaegan", env="cub", params={"xlsa17_root": str(toy_xlsa17), "tfvaegan": first},
                 from_nodes=["train_classifiers"], load_versions=pinned)  # fmt: skip
    latest = _versions(data / "08_reporting/tfvaegan_metrics.json")[-1]
    metrics = json.loads((data / "08_reporting/tfvaegan_metrics.json" / latest / "tfvaegan_metrics.json").read_text())
    history = json.loads((data / "07_model_output/tfvaegan_train_history.json" / old / "tfvaegan_train_history.json").read_text())
    assert metrics["evaluated_epochs"] == 1
    assert metrics["final"]["zsl_t1"] == history["final_zsl_accuracy"][-1]
    # one run's synthetic features with the other run's generator: refused, naming both entries
    with pytest.raises(ValueError, match=r"synthetic_unseen_features\) were made by generator .* \(tfvaegan_model"):
        run_pipeline("tfvaegan", env="cub", params={"xlsa17_root": str(toy_xlsa17), "tfvaegan": first},
                     from_nodes=["train_classifiers"], load_versions={"synthetic_unseen_features": old})  # fmt: skip


# ---- two runs started side by side in one checkout -------------------------------------------

SLOW = {**TINY, "nepoch": 200, "eval_every": 1}
FAST = {**TINY, "nepoch": 1, "encoder_hidden": 16, "ngh": 16, "ndh": 16}  # other settings: another resume file


def _kedro_run(project: Path, toy: Path, settings: dict, log: Path) -> subprocess.Popen:
    params = ",".join(
        ["mlflow.enabled=false", f"xlsa17_root={toy}", *(f"tfvaegan.{k}={v}" for k, v in settings.items())]
    )
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(project / "src"), os.environ.get("PYTHONPATH", "")])}  # fmt: skip
    command = [sys.executable, "-m", "kedro", "run", "--pipelines=tfvaegan", "--env=cub", f"--params={params}"]
    return subprocess.Popen(command, cwd=project, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)


def _wait(condition, timeout: float, what: str, procs=()) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if any(p.poll() not in (None, 0) for p in procs):
            raise AssertionError(f"a run failed while waiting for {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


@pytest.mark.slow
def test_two_concurrent_runs_each_report_their_own_results(project, toy_xlsa17):
    """A slow run (200 epochs) and a fast one (1 epoch, narrower networks) in one project folder,
    the fast one started second (once the slow one is training) and finishing first. Each run's
    metrics come from its own generator: its final ZSL equals the last evaluation in its own
    training history, over its own number of epochs."""
    shutil.copytree(REPO_ROOT / "src" / "zsl_pipeline", project / "src" / "zsl_pipeline",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip  (kedro run needs the source dir)
    data = project / "data" / "cub"
    slow = _kedro_run(project, toy_xlsa17, SLOW, project / "slow.log")
    fast = None
    try:
        _wait(lambda: any((data / "06_models/checkpoints").glob("*.pt")), 300, "the slow run to train", [slow])
        fast = _kedro_run(project, toy_xlsa17, FAST, project / "fast.log")
        assert fast.wait(timeout=300) == 0, (project / "fast.log").read_text()[-3000:]
        assert slow.poll() is None, "the slow run finished before the fast one: make it slower"
        assert slow.wait(timeout=600) == 0, (project / "slow.log").read_text()[-3000:]
    finally:
        for proc in (slow, fast):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()

    metrics_dir, history_dir = data / "08_reporting/tfvaegan_metrics.json", data / "07_model_output/tfvaegan_train_history.json"
    slow_version, fast_version = _versions(metrics_dir)  # the slow run started first: the older timestamp
    assert _versions(history_dir) == [slow_version, fast_version]
    assert _versions(data / "06_models/tfvaegan_model.pt") == [slow_version, fast_version]
    # the fast run finished first: its report is older than the slow run's generator
    slow_model = data / "06_models/tfvaegan_model.pt" / slow_version / "tfvaegan_model.pt"
    assert (metrics_dir / fast_version / "tfvaegan_metrics.json").stat().st_mtime < slow_model.stat().st_mtime
    for version, settings in ((slow_version, SLOW), (fast_version, FAST)):
        metrics = json.loads((metrics_dir / version / "tfvaegan_metrics.json").read_text())
        history = json.loads((history_dir / version / "tfvaegan_train_history.json").read_text())
        assert metrics["evaluated_epochs"] == settings["nepoch"] == history["epoch"][-1]
        assert metrics["final"]["zsl_t1"] == history["final_zsl_accuracy"][-1]
        assert metrics["final"]["gzsl_h"] == history["final_harmonic_mean"][-1]
    for log in ("slow.log", "fast.log"):
        assert "did not match load version" not in (project / log).read_text()


def test_only_missing_outputs_reruns_only_what_is_missing(run_pipeline, tmp_path, toy_xlsa17):
    """``--only-missing-outputs`` after a full run: nothing runs; with the report removed, only
    the evaluation runs, on the cached classifier results."""
    params = {"xlsa17_root": str(toy_xlsa17), "tfvaegan": TINY}
    run_pipeline("tfvaegan", env="cub", params=params)
    data = tmp_path / "data" / "cub"
    models = _versions(data / "06_models/tfvaegan_model.pt")
    run_pipeline("tfvaegan", env="cub", params=params, only_missing_outputs=True)
    assert _versions(data / "08_reporting/tfvaegan_metrics.json") == models
    for name in ("tfvaegan_metrics.json", "per_class_accuracy.csv"):
        shutil.rmtree(data / "08_reporting" / name)
    run_pipeline("tfvaegan", env="cub", params=params, only_missing_outputs=True)
    assert _versions(data / "06_models/tfvaegan_model.pt") == models
    assert _versions(data / "07_model_output/classifier_results.json") == models
    (version,) = _versions(data / "08_reporting/tfvaegan_metrics.json")
    assert version != models[0]
