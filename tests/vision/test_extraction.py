"""Feature extraction: shape, determinism, order, DataLoader workers; resumable shards and
memory that does not grow with the number of images; the stage's shard folder."""

from __future__ import annotations

import dataclasses
import gc
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from crashes import Killed
from zsl_pipeline.data.contract import ZeroShotDataset
from zsl_pipeline.vision import extraction
from zsl_pipeline.vision.backbone import FEATURE_DIM, build_backbone
from zsl_pipeline.vision.extraction import ExtractionConfig, extract_features, shard_file

NUM_IMAGES = 5
# channels_last=False: the fixture backbone is used as is (no copy); the config-built one
# in test_workers_... covers channels_last.
CONFIG = ExtractionConfig(
    weights="none", resize=36, crop=32, batch_size=2, num_workers=0, channels_last=False
)


@pytest.fixture(scope="module")
def backbone():
    return build_backbone("none")


@pytest.fixture
def image_paths(tmp_path) -> list[str]:
    return write_images(tmp_path, NUM_IMAGES)


def test_shape_dtype_and_determinism(image_paths, backbone):
    first = extract_features(image_paths, CONFIG, "cpu", backbone=backbone, progress=False)
    second = extract_features(image_paths, CONFIG, "cpu", backbone=backbone, progress=False)
    assert first.shape == (NUM_IMAGES, FEATURE_DIM) and first.dtype == np.float32
    assert np.isfinite(first).all() and (first >= 0).all()  # post-ReLU average pool
    np.testing.assert_array_equal(first, second)
    assert not backbone.training  # the caller's module is left as it was
    assert backbone.conv1.weight.is_contiguous()


def test_rows_follow_the_input_order(image_paths, backbone):
    feats = extract_features(image_paths, CONFIG, "cpu", backbone=backbone, progress=False)
    reversed_feats = extract_features(image_paths[::-1], CONFIG, "cpu", backbone=backbone, progress=False)
    # other batch compositions change float rounding slightly (untrained features are ~1e2)
    np.testing.assert_allclose(reversed_feats, feats[::-1], rtol=1e-4, atol=1e-5 * np.abs(feats).max())
    assert not np.allclose(feats[0], feats[1])  # different images, different rows


def test_workers_and_weights_from_config_give_the_same_features(image_paths, backbone):
    cfg = ExtractionConfig(weights="none", resize=36, crop=32, batch_size=4, num_workers=1)
    from_config = extract_features(image_paths, cfg, "cpu", progress=False)  # builds "none" itself
    in_process = extract_features(image_paths, CONFIG, "cpu", backbone=backbone, progress=False)
    np.testing.assert_allclose(from_config, in_process, rtol=1e-4, atol=1e-5 * np.abs(in_process).max())
    # channels_last with the caller's contiguous module: extraction works on a copy
    extract_features(image_paths[:2], cfg, "cpu", backbone=backbone, progress=False)
    assert backbone.conv1.weight.is_contiguous()


def test_batched_normalisation_equals_the_preset_per_image(image_paths):
    from zsl_pipeline.data.images import load_image
    from zsl_pipeline.vision.backbone import build_preprocess

    preset = build_preprocess(resize=36, crop=32)
    split = extraction.DecodeAndCrop(preset)
    crops = torch.stack([split(load_image(p)) for p in image_paths])
    assert crops.dtype == torch.uint8 and crops.shape == (NUM_IMAGES, 3, 32, 32)
    expected = torch.stack([preset(load_image(p)) for p in image_paths])
    assert torch.equal(split.normalise(crops), expected)  # bit for bit


def test_empty_input_and_config_checks(backbone):
    assert extract_features([], CONFIG, "cpu", backbone=backbone).shape == (0, FEATURE_DIM)
    with pytest.raises(ValueError, match="crop"):
        ExtractionConfig(resize=32, crop=64)


def test_precision_is_checked_against_the_stage_and_the_device():
    from zsl_pipeline.vision.finetune import FinetuneConfig
    from zsl_pipeline.vision.inversion import InversionConfig

    assert ExtractionConfig().precision == FinetuneConfig().precision == InversionConfig().precision == "fp32"
    with pytest.raises(ValueError, match="precision"):
        ExtractionConfig(precision="fp8")
    for config in (FinetuneConfig, InversionConfig):
        with pytest.raises(ValueError, match="precision"):
            config(precision="fp16")  # training would need a grad scaler
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="'bf16' needs a CUDA device"):
            extract_features([], ExtractionConfig(precision="bf16"), torch.device("cpu"))


# ---- shards: resume and bounded memory --------------------------------------------------------

#: 4 batches of 4 ... shards of 8 images: two batches per shard.
SHARDED = dataclasses.replace(CONFIG, batch_size=4, shard_size=8)


def write_images(folder: Path, count: int, seed: int = 0) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(count):
        path = folder / f"img_{i:03d}.png"
        Image.fromarray(rng.integers(0, 256, size=(36, 40, 3), dtype=np.uint8)).save(path)
        paths.append(str(path))
    return paths


def spy_on_reads(monkeypatch, fail_at: int | None = None) -> list[str]:
    """Record every image read (num_workers=0: in this process); raise :class:`Killed` at read
    number ``fail_at`` (1-based) instead of reading it."""
    reads: list[str] = []
    original = extraction.load_image

    def spy(path):
        if fail_at is not None and len(reads) + 1 == fail_at:
            raise Killed(f"simulated crash at read {fail_at}")
        reads.append(path)
        return original(path)

    monkeypatch.setattr(extraction, "load_image", spy)
    return reads


def test_killed_extraction_resumes_without_reading_finished_shards(tmp_path, backbone, monkeypatch):
    paths = write_images(tmp_path / "images", 20)  # shards [0, 8), [8, 16), [16, 20)
    shards = tmp_path / "shards"
    reads = spy_on_reads(monkeypatch, fail_at=18)  # mid shard 2: shards 0 and 1 are finished
    with pytest.raises(Killed):
        extract_features(paths, SHARDED, "cpu", backbone=backbone, progress=False, shard_dir=shards)
    assert reads == paths[:17]
    assert shard_file(shards, 0).is_file() and shard_file(shards, 1).is_file()
    assert not shard_file(shards, 2).exists() and not list(shards.glob(".*.tmp"))

    monkeypatch.undo()
    reads = spy_on_reads(monkeypatch)
    resumed = extract_features(paths, SHARDED, "cpu", backbone=backbone, progress=False, shard_dir=shards)
    assert reads == paths[16:]  # only the unfinished shard is read again
    assert isinstance(resumed, np.memmap) and shard_file(shards, 2).is_file()

    del reads[:]
    again = extract_features(paths, SHARDED, "cpu", backbone=backbone, progress=False, shard_dir=shards)
    assert reads == []  # everything finished: no image is read, no model run
    uninterrupted = extract_features(
        paths, SHARDED, "cpu", backbone=backbone, progress=False, shard_dir=tmp_path / "uninterrupted"
    )
    in_memory = extract_features(paths, SHARDED, "cpu", backbone=backbone, progress=False)
    assert not isinstance(in_memory, np.memmap) and not (tmp_path / "images" / "features.npy").exists()
    for result in (resumed, again, in_memory):
        np.testing.assert_array_equal(result, uninterrupted)  # exactly: the same batches, resumed or not
    np.testing.assert_array_equal(np.load(shard_file(shards, 1)), uninterrupted[8:16])


def test_shard_batches_never_span_shards_so_resuming_batches_as_uninterrupted():
    batches = list(extraction.ShardBatches(num_images=11, shard_size=5, shards=[0, 1, 2], batch_size=3))
    assert batches == [[0, 1, 2], [3, 4], [5, 6, 7], [8, 9], [10]]
    resumed = extraction.ShardBatches(num_images=11, shard_size=5, shards=[1, 2], batch_size=3)
    assert list(resumed) == batches[2:] and len(resumed) == 3


def test_shards_of_another_extraction_are_refused_naming_the_file(tmp_path, backbone):
    paths = write_images(tmp_path / "images", 10)
    shards = tmp_path / "shards"
    extract_features(paths, SHARDED, "cpu", backbone=backbone, progress=False, shard_dir=shards)
    with pytest.raises(ValueError, match=r"shard_00001\.npy holds \(2, 2048\)"):  # 10 images, now 12
        extract_features(paths + paths[:2], SHARDED, "cpu", backbone=backbone, progress=False, shard_dir=shards)
    with pytest.raises(ValueError, match=r"shard_00001\.npy is beyond the 1 shards"):
        extract_features(paths[:4], SHARDED, "cpu", backbone=backbone, progress=False, shard_dir=shards)


def traced_peak(call) -> int:
    """Peak bytes allocated through Python's allocators (numpy's included) during ``call()``,
    above what was allocated before it."""
    gc.collect()
    tracemalloc.start()
    try:
        base, _ = tracemalloc.get_traced_memory()
        call()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - base


def test_peak_memory_does_not_grow_with_the_number_of_images(tmp_path, backbone):
    """tracemalloc sees every numpy array and Python object, but not torch's own allocations
    (image tensors, activations): those are per batch by construction (the DataLoader yields one
    batch at a time and nothing keeps it), so the growth this test can catch is that of numpy
    arrays or Python lists kept per image or per batch (collected batch outputs, a final
    concatenation, an in-RAM output array). With ``shard_dir`` the output is a memory map,
    which tracemalloc does not count either: the peak should be the same at 16 and 96 images."""
    small, large = write_images(tmp_path / "small", 16), write_images(tmp_path / "large", 96, seed=1)

    def peak(paths, shard_dir=None) -> int:
        return traced_peak(
            lambda: extract_features(paths, SHARDED, "cpu", backbone=backbone, progress=False, shard_dir=shard_dir)
        )

    peak(small, tmp_path / "warm-up")  # first-call caches (imports, torch dispatch, PIL plugins)
    sharded = peak(small, tmp_path / "s16"), peak(large, tmp_path / "s96")
    in_ram = peak(small), peak(large)
    added_output = (96 - 16) * FEATURE_DIM * 4  # 640 KiB more of output rows
    # The measurement catches growth: the in-RAM output (np.empty((N, 2048))) shows up in full.
    assert in_ram[1] - in_ram[0] >= 0.9 * added_output, in_ram
    # Sharded: no growth beyond 128 KiB, a fifth of what one 2048-float row per image adds. What
    # does grow a little is garbage: PIL and torchvision leave small reference cycles per image
    # (60-70 B objects) that only the cyclic collector frees, at allocation-count thresholds, so
    # the peak rises until a collection runs: measured +37 to +44 KiB from 16 to 96 images and
    # +21 KiB more from 96 to 256, flattening, where an output kept in RAM or per-batch arrays
    # kept in a list would add the full 640 KiB.
    assert sharded[1] - sharded[0] <= added_output / 5, sharded


# ---- the stage: shard folder under checkpoint_dir ---------------------------------------------


def image_dataset(folder: Path, count: int = 12) -> ZeroShotDataset:
    """3 seen classes (trainval 2 + test_seen 1 image each) and 1 unseen class (the rest)."""
    paths = write_images(folder, count, seed=2)
    labels = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2] + [3] * (count - 9), dtype=np.int64)
    return ZeroShotDataset(
        labels=labels,
        class_embeddings=np.random.default_rng(0).normal(size=(4, 5)).astype(np.float32),
        splits={
            "trainval": np.array([0, 1, 3, 4, 6, 7]),
            "test_seen": np.array([2, 5, 8]),
            "test_unseen": np.arange(9, count),
        },
        class_names=("a", "b", "c", "d"),
        image_paths=tuple(paths),
        name="tiny_images",
    )


def test_stage_resumes_from_its_shard_folder_and_leaves_checkpoint_dir_empty(tmp_path, monkeypatch):
    from zsl_pipeline.vision import stages

    ds = image_dataset(tmp_path / "images")
    config = ExtractionConfig(weights="none", resize=36, crop=32, batch_size=2, num_workers=0, shard_size=4)
    folder = tmp_path / "checkpoints"
    shard_dir, _ = stages.extraction_shard_dir(folder, ds, config, torch.device("cpu"))
    assert shard_dir.parent == folder and shard_dir.name.startswith("extract_tiny_images_")
    same = stages.extraction_shard_dir(folder, ds, dataclasses.replace(config, num_workers=3), torch.device("cpu"))
    assert same[0] == shard_dir  # workers do not change the features
    for other in (dataclasses.replace(config, batch_size=4), dataclasses.replace(config, init_seed=1)):
        assert stages.extraction_shard_dir(folder, ds, other, torch.device("cpu"))[0] != shard_dir
    finetuned = {"state_dict": {"w": torch.zeros(2)}}
    assert stages.extraction_shard_dir(folder, ds, config, torch.device("cpu"), finetuned)[0] != shard_dir

    reads = spy_on_reads(monkeypatch, fail_at=10)  # shards [0, 4) and [4, 8) finished
    with pytest.raises(Killed):
        stages.extract_features(ds, config, torch.device("cpu"), checkpoint_dir=folder)
    assert sorted(p.name for p in shard_dir.glob("shard_*.npy")) == ["shard_00000.npy", "shard_00001.npy"]
    monkeypatch.undo()
    reads = spy_on_reads(monkeypatch)
    resumed = stages.extract_features(ds, config, torch.device("cpu"), checkpoint_dir=folder)
    assert reads == list(ds.image_paths[8:])
    assert list(folder.iterdir()) == []  # nothing left after success
    assert type(resumed.features) is np.ndarray  # in memory, not a map of a deleted file
    plain = stages.extract_features(ds, config, torch.device("cpu"))
    np.testing.assert_array_equal(resumed.features, plain.features)


def test_stage_starts_fresh_from_a_shard_folder_of_other_code(tmp_path, caplog):
    from zsl_pipeline.vision import stages

    ds = image_dataset(tmp_path / "images")
    config = ExtractionConfig(weights="none", resize=36, crop=32, batch_size=2, num_workers=0, shard_size=4)
    folder = tmp_path / "checkpoints"
    shard_dir, _ = stages.extraction_shard_dir(folder, ds, config, torch.device("cpu"))
    shard_dir.mkdir(parents=True)
    (shard_dir / "code_version.txt").write_text("0.0.1+older")
    np.save(shard_file(shard_dir, 0), np.zeros((4, FEATURE_DIM), dtype=np.float32))  # would be loaded as is
    with caplog.at_level("WARNING"):
        result = stages.extract_features(ds, config, torch.device("cpu"), checkpoint_dir=folder)
    assert "written by code version 0.0.1+older" in caplog.text
    assert (result.features[:4] > 0).any() and list(folder.iterdir()) == []
