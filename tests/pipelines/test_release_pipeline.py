"""The image environments end to end on miniature releases (tests/releases.py): the release's
images → fine-tuning on seen classes → extraction → TF-VAEGAN → classifiers → inversion, with
the rows, labels and splits of the xlsa17 files, and nothing else of the project touched."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from releases import build_release
from zsl_pipeline.data.contract import DatasetValidationError
from zsl_pipeline.data.xlsa17 import read_xlsa17
from zsl_pipeline.io import ZeroShotDatasetIO
from zsl_pipeline.vision.inversion import load_generator

#: Small sizes for a CPU test (the environments' defaults: ResNet-101 at 224 px, ImageNet weights).
TINY = {
    "extraction": {"weights": "none", "resize": 32, "crop": 32, "batch_size": 16, "num_workers": 0},
    "finetune": {"trainable_blocks": ["layer4"], "epochs": 2, "lr": 1.0e-3, "batch_size": 16, "resize": 32,
                 "crop": 32, "num_workers": 0, "cache_frozen_activations": True, "patience": 2},  # fmt: skip
    "tfvaegan": {"nepoch": 1, "syn_num": 8, "encoder_hidden": 16, "ngh": 16, "ndh": 16, "classifier_epochs": 2},
    "inversion": {"epochs": 1, "batch_size": 16, "num_classes": 2},
}


#: A smaller cut for the whole chain (the readers' tests use a few hundred rows): 6 seen classes
#: with 8 trainval + 2 test_seen images, 3 unseen classes with 4 test_unseen images.
CHAIN_CUT = {"seen": 6, "unseen": 3, "per_class": (8, 2, 4), "used_classes_only": True}


def _latest(folder: Path) -> Path:
    return max(folder.glob("*/*"))


def _run_release(run_pipeline, mini, pipeline="tfvaegan", **params):
    env = f"{mini.dataset.lower()}_images"
    runtime = {**TINY, "image_root": str(mini.image_root), "xlsa17_root": str(mini.xlsa17_root), **params}
    run_pipeline(pipeline, env=env, params=runtime)
    return Path("data") / env


@pytest.fixture
def reads(monkeypatch):
    """The images each stage opens: ``reads["finetune"]`` while fine-tuning runs, ``reads["other"]`` else."""
    from zsl_pipeline.vision import extraction, finetune

    log: dict[str, list[str]] = {"finetune": [], "other": []}
    state = {"stage": "other"}
    load, train = extraction.load_image, finetune.finetune_backbone

    def spy_load(path):
        log[state["stage"]].append(str(path))
        return load(path)

    def spy_train(*args, **kwargs):
        state["stage"] = "finetune"
        try:
            return train(*args, **kwargs)
        finally:
            state["stage"] = "other"

    monkeypatch.setattr(extraction, "load_image", spy_load)
    monkeypatch.setattr(finetune, "finetune_backbone", spy_train)
    return log


def _check_chain(mini, out: Path, reads) -> None:
    ds = ZeroShotDatasetIO(filepath=str(out / "02_intermediate" / "image_dataset.npz")).load()
    np.testing.assert_array_equal(ds.labels, mini.labels)  # the xlsa17 order, exactly
    for split, idx in mini.splits.items():
        np.testing.assert_array_equal(ds.splits[split], idx)
    assert ds.image_paths == tuple(str(mini.image_path(i)) for i in range(len(mini.image_files)))

    # fine-tuning opened images, only seen-class trainval ones (never a test or an unseen image)
    trainval = {ds.image_paths[i] for i in ds.splits["trainval"]}
    assert reads["finetune"] and set(reads["finetune"]) <= trainval
    assert not set(reads["finetune"]) & {ds.image_paths[i] for i in ds.splits["test_unseen"]}

    features = ZeroShotDatasetIO(filepath=str(_latest(out / "04_feature" / "zsl_dataset.npz"))).load()
    assert features.features.shape == (len(mini.image_files), 2048)
    np.testing.assert_array_equal(features.labels, mini.labels)
    exported = read_xlsa17(out / "04_feature" / "xlsa17")  # the features as an xlsa17 folder too
    np.testing.assert_array_equal(exported.features, features.features)
    np.testing.assert_array_equal(exported.labels, mini.labels)
    metrics = json.loads(_latest(out / "08_reporting" / "tfvaegan_metrics.json").read_text())
    assert metrics["dataset"]["unseen"] == np.unique(mini.labels[mini.splits["test_unseen"]]).size
    scores = json.loads(_latest(out / "08_reporting" / "inversion_metrics.json").read_text())
    assert len(scores["grid_classes"]) == 2 and len(scores["classes"]) == metrics["dataset"]["unseen"]
    assert set(scores["between_class_l1"]) == {"real_image", "inverted_real_feature", "synthetic_no_feedback",
                                               "synthetic_feedback"}  # fmt: skip
    assert scores["between_class_l1"]["real_image"] > 0  # the picked real images of different classes differ
    assert json.loads((out / "02_intermediate" / "skipped_images.json").read_text()) == []


def _snapshot(folder: Path) -> dict[str, tuple[int, bytes]]:
    return {str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.read_bytes()) for p in folder.rglob("*") if p.is_file()}


@pytest.mark.slow
def test_flo_images_chain_end_to_end(run_pipeline, project, reads, tmp_path):
    """FLO (a generated list: its real one is not among the reference files) with the inversion
    at 128 px, and the demo's files are left as they were."""
    run_pipeline("data", params={"demo": {"num_classes": 12, "num_unseen": 3, "images_per_class": 6}})
    demo_before = _snapshot(tmp_path / "data" / "local")
    mini = build_release(tmp_path / "downloads", "FLO", **CHAIN_CUT)
    release_before = _snapshot(mini.image_root)
    out = _run_release(run_pipeline, mini, inversion={**TINY["inversion"], "image_size": 128})
    _check_chain(mini, out, reads)
    inverter = torch.load(_latest(out / "06_models" / "inversion_model.pt"), weights_only=True)
    assert load_generator(inverter).image_size == 128  # the larger of the two inversion sizes
    assert _snapshot(tmp_path / "data" / "local") == demo_before  # the demo's manifest, attributes, images
    assert _snapshot(mini.image_root) == release_before  # the release is only read
    assert not (out / "01_raw").exists()  # no demo node in an image environment


@pytest.mark.slow
@pytest.mark.parametrize("dataset", ["CUB", "SUN", "AWA2"])
def test_real_list_chain_end_to_end(run_pipeline, project, reads, tmp_path, shared_xlsa17, dataset):
    mini = build_release(tmp_path / "downloads", dataset, shared_xlsa17, **CHAIN_CUT)
    _check_chain(mini, _run_release(run_pipeline, mini), reads)


def test_a_corrupt_image_stops_the_run_before_any_work(run_pipeline, project, tmp_path):
    mini = build_release(tmp_path / "downloads", "FLO", used_classes_only=True)
    broken = mini.image_path(3)
    broken.write_text("not a JPEG")
    missing = mini.image_path(8)
    missing.unlink()
    with pytest.raises(DatasetValidationError, match="2 of 200 images are missing or unreadable") as info:
        _run_release(run_pipeline, mini)
    assert f"{broken}: unreadable" in str(info.value) and f"{missing}: missing" in str(info.value)
    assert not (tmp_path / "data" / "flo_images").exists()  # nothing written


def test_skipping_unreadable_images_saves_the_list(run_pipeline, project, tmp_path):
    mini = build_release(tmp_path / "downloads", "FLO", used_classes_only=True)
    mini.image_path(3).write_text("not a JPEG")
    out = _run_release(run_pipeline, mini, pipeline="data", images={"skip_unreadable": True})
    skipped = json.loads((out / "02_intermediate" / "skipped_images.json").read_text())
    assert [(s["index"], s["path"]) for s in skipped] == [(3, str(mini.image_path(3)))]
    ds = ZeroShotDatasetIO(filepath=str(out / "02_intermediate" / "image_dataset.npz")).load()
    assert ds.num_samples == 199 and str(mini.image_path(3)) not in ds.image_paths
    np.testing.assert_array_equal(ds.labels, np.delete(mini.labels, 3))
