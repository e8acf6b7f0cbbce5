"""Seen-class fine-tuning: never reads an unseen-class image; self-describing checkpoint."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from PIL import Image

from crashes import Killed, crash_after_epoch_checkpoint
from device_checks import saved_devices, tensor_devices
from zsl_pipeline.data.contract import ZeroShotDataset
from zsl_pipeline.training.epoch_resume import EpochCheckpoint
from zsl_pipeline.vision import extraction
from zsl_pipeline.vision.backbone import build_backbone
from zsl_pipeline.vision.finetune import (
    FinetuneConfig,
    UnseenClassLeakError,
    finetune_backbone,
    seen_training_indices,
)

SEEN, UNSEEN = (0, 1, 2), (3, 4)
TINY = dict(resize=36, crop=32, batch_size=4, lr=1e-3, epochs=2)


@pytest.fixture(scope="module")
def backbone():
    return build_backbone("none")


def make_image_dataset(root, leak_unseen: bool = False) -> ZeroShotDataset:
    """3 seen classes (2 trainval + 1 test_seen images each) and 2 unseen (2 test_unseen each)."""
    rng = np.random.default_rng(0)
    labels, splits = [], {"trainval": [], "test_seen": [], "test_unseen": []}
    for c in SEEN:
        for split in ("trainval", "trainval", "test_seen"):
            splits[split].append(len(labels))
            labels.append(c)
    for c in UNSEEN:
        for _ in range(2):
            splits["test_unseen"].append(len(labels))
            labels.append(c)
    if leak_unseen:
        splits["trainval"].append(splits["test_unseen"][0])
    paths = []
    for i, c in enumerate(labels):
        path = root / f"c{c}_{i}.png"
        Image.fromarray(rng.integers(0, 256, size=(40, 40, 3), dtype=np.uint8)).save(path)
        paths.append(str(path))
    return ZeroShotDataset(
        labels=np.asarray(labels, dtype=np.int64),
        class_embeddings=rng.normal(size=(len(SEEN) + len(UNSEEN), 4)).astype(np.float32),
        splits={k: np.asarray(v, dtype=np.int64) for k, v in splits.items()},
        class_names=tuple(f"class_{c}" for c in range(len(SEEN) + len(UNSEEN))),
        image_paths=tuple(paths),
        name="tiny_images",
    )


@pytest.fixture
def spy_reads(monkeypatch) -> list[str]:
    """Every path the image loader decodes (DataLoader runs in-process: num_workers=0)."""
    reads: list[str] = []
    original = extraction.load_image

    def spy(path):
        reads.append(path)
        return original(path)

    monkeypatch.setattr(extraction, "load_image", spy)
    return reads


@pytest.mark.parametrize("cache", [True, False])
def test_finetuning_reads_only_seen_trainval_images(tmp_path, backbone, spy_reads, cache):
    ds = make_image_dataset(tmp_path)
    config = FinetuneConfig(cache_frozen_activations=cache, **TINY)
    checkpoint, history = finetune_backbone(ds, config, "cpu", backbone)

    allowed = {ds.image_paths[i] for i in ds.splits["trainval"]}
    assert spy_reads and set(spy_reads) <= allowed
    read_indices = {ds.image_paths.index(p) for p in spy_reads}
    assert all(ds.labels[i] in SEEN for i in read_indices)
    assert len(history["loss"]) == config.epochs and np.isfinite(history["loss"]).all()
    assert checkpoint["seen_classes"] == list(SEEN)


def test_unseen_image_in_trainval_raises_before_any_read(tmp_path, backbone, spy_reads):
    ds = make_image_dataset(tmp_path, leak_unseen=True)
    with pytest.raises(UnseenClassLeakError, match="unseen"):
        seen_training_indices(ds)
    with pytest.raises(UnseenClassLeakError):
        finetune_backbone(ds, FinetuneConfig(**TINY), "cpu", backbone)
    assert spy_reads == []


def test_checkpoint_is_self_describing_and_loads_as_backbone(tmp_path, backbone):
    ds = make_image_dataset(tmp_path)
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    config = FinetuneConfig(epochs=1, cached_views=2, **{k: v for k, v in TINY.items() if k != "epochs"})
    checkpoint, _ = finetune_backbone(ds, config, "cpu", backbone)

    path = tmp_path / "ft.pt"
    torch.save(checkpoint, path)
    loaded = torch.load(path, weights_only=True)
    assert loaded["config"]["trainable_blocks"] == ["layer4"] and loaded["epoch"] == 1
    rebuilt = build_backbone(path)
    for k, v in rebuilt.state_dict().items():
        assert torch.equal(v, checkpoint["state_dict"][k])
    # only layer4 moved; the caller's backbone is untouched
    assert torch.equal(rebuilt.layer3[0].conv1.weight, before["layer3.0.conv1.weight"])
    assert not torch.equal(rebuilt.layer4[0].conv1.weight, before["layer4.0.conv1.weight"])
    assert all(torch.equal(v, before[k]) for k, v in backbone.state_dict().items())


def test_trainable_blocks_must_be_a_suffix():
    with pytest.raises(ValueError, match="suffix"):
        FinetuneConfig(trainable_blocks=("layer3",))
    assert FinetuneConfig(trainable_blocks=["layer3", "layer4"]).trainable_blocks == ("layer3", "layer4")


def test_same_seed_same_result(tmp_path, backbone):
    ds = make_image_dataset(tmp_path)
    config = FinetuneConfig(**{**TINY, "epochs": 1})
    first, h1 = finetune_backbone(ds, config, "cpu", backbone)
    second, h2 = finetune_backbone(ds, config, "cpu", backbone)
    assert h1["loss"] == h2["loss"]
    assert all(torch.equal(v, second["state_dict"][k]) for k, v in first["state_dict"].items())


def test_seeding_leaves_the_callers_gpu_generators_alone(tmp_path, backbone, monkeypatch):
    """The random init and fine-tuning seed the CPU's generator inside ``fork_rng(devices=[])``;
    ``torch.manual_seed`` would also reseed every GPU's generator, which fork_rng does not
    restore, so a CUDA run's global RNG state would change under the caller."""
    calls = []
    monkeypatch.setattr(torch.cuda, "manual_seed_all", lambda seed: calls.append(seed))
    build_backbone("none")
    finetune_backbone(make_image_dataset(tmp_path), FinetuneConfig(**{**TINY, "epochs": 1}), "cpu", backbone)
    assert calls == []


@pytest.mark.gpu
def test_finetuning_on_cuda_writes_a_checkpoint_that_loads_without_a_gpu(tmp_path, backbone):
    ds = make_image_dataset(tmp_path)
    config = FinetuneConfig(**{**TINY, "epochs": 1})
    for cache in (True, False):
        checkpoint, history = finetune_backbone(
            ds, dataclasses.replace(config, cache_frozen_activations=cache), "cuda", backbone
        )
        assert np.isfinite(history["loss"]).all()
        assert tensor_devices(checkpoint) == {"cpu"}  # weights and Adam state alike
        torch.save(checkpoint, tmp_path / "ft.pt")
        assert saved_devices(tmp_path / "ft.pt") == {"cpu"}
        build_backbone(tmp_path / "ft.pt")


@pytest.mark.parametrize("cache", [True, False])
def test_killed_finetuning_resumes_after_its_last_epoch_checkpoint(tmp_path, backbone, monkeypatch, cache):
    ds = make_image_dataset(tmp_path)
    config = FinetuneConfig(**{**TINY, "epochs": 3, "cache_frozen_activations": cache})
    reference, reference_history = finetune_backbone(ds, config, "cpu", backbone, progress=False)

    resume_file = EpochCheckpoint(tmp_path / "finetune.pt", "test+code")
    saved = crash_after_epoch_checkpoint(monkeypatch, epoch=2)
    with pytest.raises(Killed):
        finetune_backbone(ds, config, "cpu", backbone, progress=False, resume_file=resume_file)
    resumed, history = finetune_backbone(ds, config, "cpu", backbone, progress=False, resume_file=resume_file)
    assert saved == [1, 2]  # resumed after epoch 2; no checkpoint after the last epoch
    for key in ("loss", "train_accuracy", "epoch"):
        assert history[key] == reference_history[key]
    for part in ("state_dict", "head_state_dict"):
        for key, tensor in reference[part].items():
            torch.testing.assert_close(resumed[part][key], tensor, rtol=0, atol=0)

    # nepoch (epochs) lowered to the checkpoint's 2 epochs: refused, naming the file
    with pytest.raises(ValueError, match=r"finetune\.pt: it has 2 epochs completed.*nepoch=2"):
        finetune_backbone(ds, FinetuneConfig(**{**TINY, "epochs": 2, "cache_frozen_activations": cache}), "cpu",
                          backbone, progress=False, resume_file=resume_file)


def test_the_stage_keeps_an_epoch_checkpoint_and_removes_it_when_done(tmp_path, monkeypatch):
    from zsl_pipeline.vision import stages

    ds = make_image_dataset(tmp_path)
    config = FinetuneConfig(**{**TINY, "epochs": 2})
    folder = tmp_path / "checkpoints"
    resume_file = stages.finetune_resume_file(folder, ds, config, weights="none", init_seed=0)
    lowered = stages.finetune_resume_file(folder, ds, FinetuneConfig(**{**TINY, "epochs": 1}), weights="none", init_seed=0)
    assert lowered.path == resume_file.path  # epochs may change on resume; the rest names the file
    assert stages.finetune_resume_file(folder, ds, FinetuneConfig(**{**TINY, "lr": 0.1}), weights="none",
                                       init_seed=0).path != resume_file.path  # fmt: skip
    crash_after_epoch_checkpoint(monkeypatch)
    with pytest.raises(Killed):
        stages.finetune_backbone(ds, config, torch.device("cpu"), weights="none", init_seed=0, checkpoint_dir=folder)
    assert resume_file.path.is_file()
    monkeypatch.undo()
    resumed, _ = stages.finetune_backbone(ds, config, torch.device("cpu"), weights="none", init_seed=0,
                                          checkpoint_dir=folder)  # fmt: skip
    reference, _ = stages.finetune_backbone(ds, config, torch.device("cpu"), weights="none", init_seed=0)
    assert all(torch.equal(v, resumed["state_dict"][k]) for k, v in reference["state_dict"].items())
    assert not resume_file.path.exists()
