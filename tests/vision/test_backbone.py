"""ResNet-101 backbone: shapes, offline weight resolution, local checkpoints, preprocessing."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.models import resnet101

from zsl_pipeline.vision.backbone import (
    FEATURE_DIM,
    FINETUNED_FORMAT,
    IMAGENET_WEIGHTS,
    BackboneWeightsError,
    ResNetBackbone,
    build_backbone,
    build_preprocess,
    imagenet_cache_path,
)


@pytest.fixture(scope="module")
def random_backbone() -> ResNetBackbone:
    return build_backbone("none")


@pytest.fixture(scope="module")
def resnet_state_file(tmp_path_factory) -> tuple[str, dict]:
    """A torchvision ResNet-101 state_dict (with its fc head) saved as a local file."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(123)
        state = resnet101(weights=None).state_dict()
    path = tmp_path_factory.mktemp("weights") / "resnet101_local.pth"
    torch.save(state, path)
    return str(path), state


@pytest.fixture
def empty_torch_home(tmp_path, monkeypatch):
    """TORCH_HOME in tmp_path, so no real hub cache interferes, and downloads fail loudly."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)

    def no_download(*args, **kwargs):
        raise AssertionError("a download was attempted")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_download)
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_download)
    return tmp_path


def _same_weights(backbone: ResNetBackbone, state: dict) -> bool:
    return all(torch.equal(v, state[k]) for k, v in backbone.state_dict().items())


def test_random_backbone_gives_2048_features(random_backbone):
    with torch.inference_mode():
        out = random_backbone(torch.rand(3, 3, 32, 32))
        fmap, pooled = random_backbone.feature_maps(torch.rand(2, 3, 64, 64))
    assert out.shape == (3, FEATURE_DIM) and torch.isfinite(out).all()
    assert fmap.shape == (2, FEATURE_DIM, 2, 2) and pooled.shape == (2, FEATURE_DIM)
    assert not random_backbone.training


def test_random_init_is_seeded_and_warns(random_backbone, caplog):
    with caplog.at_level("WARNING"):
        again = build_backbone("none")
    assert _same_weights(again, random_backbone.state_dict())
    assert "untrained" in caplog.text


def test_imagenet_without_cache_names_the_expected_path(empty_torch_home):
    expected = empty_torch_home / "hub" / "checkpoints" / "resnet101-63fe2227.pth"
    assert imagenet_cache_path() == expected
    with pytest.raises(BackboneWeightsError, match=re.escape(str(expected))) as info:
        build_backbone("imagenet")
    assert IMAGENET_WEIGHTS.url in str(info.value)


def test_imagenet_loads_from_the_cache_file(empty_torch_home, resnet_state_file):
    path, state = resnet_state_file
    cached = imagenet_cache_path()
    cached.parent.mkdir(parents=True)
    cached.symlink_to(path)
    assert _same_weights(build_backbone("imagenet"), state)


def test_local_state_dict_path_loads(resnet_state_file):
    path, state = resnet_state_file
    backbone = build_backbone(path)
    assert _same_weights(backbone, state)
    assert not any(k.startswith("fc.") for k in backbone.state_dict())


def test_finetuned_checkpoint_dict_and_file_load(tmp_path, resnet_state_file):
    _, state = resnet_state_file
    ckpt = {"format": FINETUNED_FORMAT, "config": {}, "epoch": 1,
            "state_dict": {k: v for k, v in state.items() if not k.startswith("fc.")}}
    assert _same_weights(build_backbone(ckpt), state)
    torch.save(ckpt, tmp_path / "ft.pt")
    assert _same_weights(build_backbone(tmp_path / "ft.pt"), state)


def test_wrong_weights_raise_clear_errors(tmp_path):
    with pytest.raises(BackboneWeightsError, match="not 'imagenet', 'none'"):
        build_backbone(str(tmp_path / "missing.pth"))
    torch.save({"conv1.weight": torch.zeros(1)}, tmp_path / "bad.pth")
    with pytest.raises(BackboneWeightsError, match="not a ResNet-101"):
        build_backbone(tmp_path / "bad.pth")


def test_preprocess_uses_the_weights_normalisation():
    preset = build_preprocess(resize=72, crop=64)
    reference = IMAGENET_WEIGHTS.transforms()
    assert preset.mean == list(reference.mean) and preset.std == list(reference.std)
    img = Image.fromarray(np.full((90, 80, 3), 255, dtype=np.uint8))
    x = preset(img)
    assert x.shape == (3, 64, 64)
    expected = (1 - torch.tensor(reference.mean)) / torch.tensor(reference.std)
    assert torch.allclose(x[:, 0, 0], expected, atol=1e-5)
    with pytest.raises(ValueError, match="crop"):
        build_preprocess(resize=32, crop=64)
