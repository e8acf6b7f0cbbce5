"""The whole chain on a tiny demo: images → features → TF-VAEGAN → classifiers → inversion."""

from __future__ import annotations

import json

import pytest

TINY_CHAIN = {
    "demo": {"num_classes": 12, "num_unseen": 3, "images_per_class": 6},
    "extraction": {"resize": 32, "crop": 32, "batch_size": 16},
    "tfvaegan": {"nepoch": 1, "syn_num": 8, "encoder_hidden": 16, "ngh": 16, "ndh": 16, "classifier_epochs": 2},
    "inversion": {"epochs": 1, "batch_size": 16, "num_classes": 2},
}


def _latest(folder):
    return json.loads(max(folder.glob("*/*")).read_text())


@pytest.mark.slow
def test_image_chain_runs_end_to_end(run_pipeline, tmp_path):
    run_pipeline("tfvaegan", params=TINY_CHAIN)
    reporting = tmp_path / "data" / "local" / "08_reporting"
    metrics = _latest(reporting / "tfvaegan_metrics.json")
    assert metrics["dataset"]["feature_dim"] == 2048 and metrics["dataset"]["unseen"] == 3
    assert metrics["generator"]["spread_ratio"] > 0 and len(metrics["generator"]["class_distance"]) == 3
    assert next((reporting / "tfvaegan_generator_projection.png").glob("*/*.png")).stat().st_size > 0
    scores = _latest(reporting / "inversion_metrics.json")
    assert len(scores["classes"]) == 3 and len(scores["grid_classes"]) == 2  # scores: every unseen class
    assert set(scores["grid_classes"]) <= set(scores["classes"])
    for row in ("inverted_real_feature", "synthetic_no_feedback", "synthetic_feedback"):
        assert 0.0 <= scores[row]["l1_mean"] <= 1.0 and scores[row]["perceptual_mean"] >= 0.0
    assert next((reporting / "inversion_grid.png").glob("*/inversion_grid.png")).stat().st_size > 0


@pytest.mark.slow
def test_finetuning_switch_adds_the_stage(run_pipeline, tmp_path):
    params = {**TINY_CHAIN, "finetune": {"enabled": True, "epochs": 1, "resize": 32, "crop": 32, "batch_size": 8}}
    run_pipeline("features", params=params)
    history = _latest(tmp_path / "data" / "local" / "07_model_output" / "finetune_history.json")
    assert history["epoch"] == [1]
    assert any((tmp_path / "data" / "local" / "04_feature" / "zsl_dataset.npz").glob("*/zsl_dataset.npz"))
    xlsa17 = tmp_path / "data" / "local" / "04_feature" / "xlsa17"  # the export for other ZSL code
    assert (xlsa17 / "res101.mat").is_file() and (xlsa17 / "att_splits.mat").is_file()
    checkpoints = tmp_path / "data" / "local" / "06_models" / "checkpoints"
    assert not checkpoints.exists() or not any(checkpoints.iterdir())  # extraction shards removed when done
