"""The TF-VAEGAN pipeline as Kedro runs it: features-only env, stage reruns, versions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from toy_data import make_toy_dataset
from zsl_pipeline.data import write_xlsa17

TINY = {
    "nepoch": 2,
    "syn_num": 20,
    "encoder_hidden": 32,
    "ngh": 32,
    "ndh": 32,
    "classifier_epochs": 3,
    "eval_every": 1,
    "checkpoint_every": 1,
}


@pytest.fixture
def toy_xlsa17(tmp_path) -> Path:
    root = tmp_path / "xlsa17"
    write_xlsa17(make_toy_dataset(per_class=20, feature_dim=24), root / "CUB")
    return root


def _params(root: Path) -> dict:
    return {"xlsa17_root": str(root), "tfvaegan": TINY}


def _versions(tmp_path: Path, relative: str) -> list[str]:
    return sorted(p.name for p in (tmp_path / relative).iterdir())


def test_features_only_env_runs_the_generative_stages(run_pipeline, tmp_path, toy_xlsa17):
    run_pipeline("tfvaegan", env="cub", params=_params(toy_xlsa17))
    assert not (tmp_path / "data" / "cub" / "01_raw" / "demo").exists()  # no image stage ran
    metrics_file = next((tmp_path / "data/cub/08_reporting/tfvaegan_metrics.json").glob("*/tfvaegan_metrics.json"))
    metrics = json.loads(metrics_file.read_text())
    assert set(metrics["final"]) == {"zsl_t1", "gzsl_u", "gzsl_s", "gzsl_h"}
    assert 0.0 <= metrics["final"]["zsl_t1"] <= 1.0
    assert metrics["evaluated_epochs"] == 2
    assert metrics["dataset"]["name"] == "CUB"
    assert metrics["precision"] == "fp32"  # the reference's, set by the benchmark environment
    history = json.loads(next((tmp_path / "data/cub/07_model_output/tfvaegan_train_history.json").glob("*/*")).read_text())
    assert history["epoch"] == [1, 2] and len(history["gp_weight"]) == 2  # 1-based
    # the classifier stage reproduces the training stage's last-epoch evaluation exactly
    assert metrics["final"]["zsl_t1"] == history["final_zsl_accuracy"][-1]
    assert metrics["final"]["gzsl_h"] == history["final_harmonic_mean"][-1]
    assert not any((tmp_path / "data/cub/06_models/checkpoints").glob("*.pt"))  # removed when done


def test_classifier_stage_reruns_alone_from_cached_outputs(run_pipeline, tmp_path, toy_xlsa17):
    run_pipeline("tfvaegan", env="cub", params=_params(toy_xlsa17))
    model_versions = _versions(tmp_path, "data/cub/06_models/tfvaegan_model.pt")
    classifier_versions = _versions(tmp_path, "data/cub/06_models/tfvaegan_classifiers.pt")
    run_pipeline("tfvaegan", env="cub", params=_params(toy_xlsa17), from_nodes=["train_classifiers"])
    assert _versions(tmp_path, "data/cub/06_models/tfvaegan_model.pt") == model_versions  # generator not retrained
    assert len(_versions(tmp_path, "data/cub/06_models/tfvaegan_classifiers.pt")) == len(classifier_versions) + 1
    assert len(_versions(tmp_path, "data/cub/08_reporting/tfvaegan_metrics.json")) == 2


def test_validation_protocol_is_a_parameter(run_pipeline, tmp_path, toy_xlsa17):
    params = {**_params(toy_xlsa17), "tfvaegan_selection": {"protocol": "validation", "criterion": "h"}}
    run_pipeline("tfvaegan", env="cub", params=params)
    metrics = json.loads(next((tmp_path / "data/cub/08_reporting/tfvaegan_metrics.json").glob("*/*")).read_text())
    schedule = metrics["schedule"]
    assert schedule["protocol"] == "validation" and len(schedule["curve"]) == TINY["nepoch"]
    assert 1 <= schedule["nepoch"] <= TINY["nepoch"]
    assert metrics["evaluated_epochs"] == schedule["nepoch"]  # the final run trained the chosen count
