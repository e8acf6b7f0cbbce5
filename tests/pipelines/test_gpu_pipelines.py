"""Every Kedro pipeline on CUDA on tiny data, and what a CUDA run leaves in the catalog: every
checkpoint loads on a machine without a GPU, and the later stages rerun there.

All gpu-marked (skipped without CUDA).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from device_checks import saved_devices
from tiny_methods import TINY_PARAMS
from toy_data import make_toy_dataset
from zsl_pipeline.data import write_xlsa17

pytestmark = pytest.mark.gpu

#: The demo chain at toy size, fine-tuning included (as test_image_pipeline.py).
TINY_CHAIN = {
    "demo": {"num_classes": 12, "num_unseen": 3, "images_per_class": 6},
    "finetune": {"enabled": True, "epochs": 1, "resize": 32, "crop": 32, "batch_size": 8},
    "extraction": {"resize": 32, "crop": 32, "batch_size": 16},
    "tfvaegan": {"nepoch": 1, "syn_num": 8, "encoder_hidden": 16, "ngh": 16, "ndh": 16, "classifier_epochs": 2},
    "inversion": {"epochs": 1, "batch_size": 16, "num_classes": 2},
}
#: Every method at toy size as runtime parameters (YAML lists, not tuples).
TINY = {
    method: {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()}
    for method, params in TINY_PARAMS.items()
}
#: The single-method pipelines besides ``tfvaegan``.
METHOD_PIPELINES = ("clswgan", "cada_vae", "filmwgan", "zswgan", "eszsl")


@pytest.fixture
def toy_xlsa17(tmp_path) -> Path:
    root = tmp_path / "xlsa17"
    write_xlsa17(make_toy_dataset(per_class=12, feature_dim=24), root / "CUB")
    return root


def _latest_json(folder: Path) -> dict:
    return json.loads(max(folder.glob("*/*")).read_text())


def _versions(folder: Path) -> list[Path]:
    return sorted(folder.glob("*/*"))


def _checkpoints_load_without_a_gpu(data: Path) -> list[Path]:
    """Every ``.pt`` file of the run: its tensors are CPU tensors as stored (loaded without
    ``map_location``). Returns the files."""
    files = sorted(p for p in data.rglob("*.pt") if p.is_file())  # versioned: <name>.pt/<version>/<name>.pt
    for path in files:
        assert saved_devices(path) <= {"cpu"}, path
    return files


def test_image_chain_on_cuda_then_later_stages_on_the_cpu(run_pipeline, tmp_path):
    """data → fine-tuning → extraction → ESZSL → TF-VAEGAN → classifiers → evaluation → inversion on
    CUDA; then the classifier stage is refused on the CPU (its random stream is a CUDA one), and
    synthesis onwards and the inversion figure rerun on the CPU from the CUDA-written models."""
    cuda = {**TINY_CHAIN, "device": "cuda"}
    run_pipeline("tfvaegan", params=cuda)
    data = tmp_path / "data" / "local"
    reporting = data / "08_reporting"
    names = {p.parent.parent.name for p in _checkpoints_load_without_a_gpu(data)}
    assert {"finetuned_backbone.pt", "tfvaegan_model.pt", "synthetic_unseen_features.pt",
            "tfvaegan_classifiers.pt", "inversion_model.pt"} <= names  # fmt: skip
    metrics = _latest_json(reporting / "tfvaegan_metrics.json")
    history = _latest_json(data / "07_model_output" / "tfvaegan_train_history.json")
    assert metrics["final"]["zsl_t1"] == history["final_zsl_accuracy"][-1]
    gpu_scores = _latest_json(reporting / "inversion_metrics.json")

    cpu = {**TINY_CHAIN, "device": "cpu"}
    with pytest.raises(ValueError, match="made on cuda.*device=cuda"):
        run_pipeline("tfvaegan", params=cpu, from_nodes=["train_classifiers"])
    run_pipeline("tfvaegan", params=cpu, from_nodes=["synthesize_unseen_features"], to_nodes=["evaluate"])
    assert len(_versions(reporting / "tfvaegan_metrics.json")) == 2
    assert 0.0 <= _latest_json(reporting / "tfvaegan_metrics.json")["final"]["zsl_t1"] <= 1.0
    run_pipeline("tfvaegan", params=cpu, from_nodes=["invert_features"])
    cpu_scores = _latest_json(reporting / "inversion_metrics.json")
    # the same classes and latents (drawn on the CPU on either device), the same trained networks:
    # the scores differ by floating-point arithmetic only
    assert cpu_scores["classes"] == gpu_scores["classes"]
    for row in ("inverted_real_feature", "synthetic_no_feedback", "synthetic_feedback"):
        for key in ("l1_mean", "perceptual_mean"):
            assert cpu_scores[row][key] == pytest.approx(gpu_scores[row][key], rel=1e-2, abs=1e-3), (row, key)


@pytest.mark.parametrize("noise_device", ["device", "cpu"])
def test_tfvaegan_pipeline_on_cuda(run_pipeline, tmp_path, toy_xlsa17, noise_device):
    """The features-only TF-VAEGAN pipeline on CUDA with either noise device: the classifier stage
    continues the synthesis stage's stream and reproduces the training stage's last evaluation."""
    params = {
        "xlsa17_root": str(toy_xlsa17),
        "tfvaegan": {**TINY["tfvaegan"], "eval_every": 1, "checkpoint_every": 1, "noise_device": noise_device},
        "device": "cuda",
    }
    run_pipeline("tfvaegan", env="cub", params=params)
    data = tmp_path / "data" / "cub"
    _checkpoints_load_without_a_gpu(data)
    metrics = _latest_json(data / "08_reporting" / "tfvaegan_metrics.json")
    history = _latest_json(data / "07_model_output" / "tfvaegan_train_history.json")
    assert metrics["final"]["zsl_t1"] == history["final_zsl_accuracy"][-1]
    assert metrics["final"]["gzsl_h"] == history["final_harmonic_mean"][-1]
    assert not any((data / "06_models" / "checkpoints").glob("*.pt"))  # the resume file is removed


@pytest.mark.parametrize("method", METHOD_PIPELINES)
def test_method_pipeline_on_cuda(run_pipeline, tmp_path, toy_xlsa17, method):
    params = {"xlsa17_root": str(toy_xlsa17), **TINY, "runs": {"seeds": [0], "n_shots": 0}, "device": "cuda"}
    run_pipeline(method, env="cub", params=params)
    data = tmp_path / "data" / "cub"
    files = _checkpoints_load_without_a_gpu(data)
    assert bool(files) == (method != "eszsl")  # ESZSL has no model to save
    runs = _latest_json(data / "07_model_output" / method / "runs.json")
    assert [r["seed"] for r in runs] == ([None] if method == "eszsl" else [0])
    assert all(0.0 <= v <= 1.0 for r in runs for v in r["final"].values())
    metrics = _latest_json(data / "08_reporting" / method / "comparison_metrics.json")
    assert set(metrics) == {f"{method}.final"} | ({f"{method}.best_on_test"} if method != "eszsl" else set())


def test_compare_on_cuda_then_one_branch_evaluated_on_the_cpu(run_pipeline, tmp_path, toy_xlsa17):
    """Every method × 2 seeds and the report on CUDA; then CADA-VAE's evaluation reruns on the CPU
    from the CUDA-trained models (and the report after it)."""
    params = {"xlsa17_root": str(toy_xlsa17), **TINY, "compare_runs": {"seeds": [0, 1]}, "device": "cuda"}
    run_pipeline("compare", env="cub", params=params)
    data = tmp_path / "data" / "cub"
    _checkpoints_load_without_a_gpu(data)
    table = (data / "08_reporting" / "compare" / "comparison.csv")
    assert len(_versions(table)) == 1
    run_pipeline("compare", env="cub", params={**params, "device": "cpu"}, from_nodes=["cada_vae.evaluate"])
    runs = _versions(data / "07_model_output" / "cada_vae" / "runs.json")
    assert len(runs) == 2
    records = json.loads(runs[-1].read_text())
    assert [r["seed"] for r in records] == [0, 1]
    assert all(0.0 <= v <= 1.0 for r in records for v in r["final"].values())
    assert len(_versions(table)) == 2
