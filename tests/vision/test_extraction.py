"""Feature extraction: shape, determinism, order, DataLoader workers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from zsl_pipeline.vision.backbone import FEATURE_DIM, build_backbone
from zsl_pipeline.vision.extraction import ExtractionConfig, extract_features

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
    rng = np.random.default_rng(0)
    paths = []
    for i in range(NUM_IMAGES):
        path = tmp_path / f"img_{i}.png"
        Image.fromarray(rng.integers(0, 256, size=(40, 48, 3), dtype=np.uint8)).save(path)
        paths.append(str(path))
    return paths


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
