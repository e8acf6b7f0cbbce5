"""ResNet-101 up to global average pooling: the 2048-d image features of every ZSL benchmark.

The xlsa17 features (Xian et al., GBU, TPAMI 2018) are the 2048-d average-pool output of an
ImageNet ResNet-101; :class:`ResNetBackbone` is exactly that trunk (torchvision's ResNet-101
without ``fc``) so its ``state_dict`` keys equal torchvision's minus ``fc.*``.

Weights come only from torchvision's weights API (house style 12). Nothing here downloads:
``"imagenet"`` reads the torch hub cache and fails at once, naming the file to put there, when
the cache lacks it.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlparse

import torch
from torch import nn
from torchvision.models import ResNet101_Weights, resnet101
from torchvision.transforms._presets import ImageClassification

log = logging.getLogger(__name__)

#: The ImageNet weights of the xlsa17 features' network family (torchvision's V1 recipe).
IMAGENET_WEIGHTS = ResNet101_Weights.IMAGENET1K_V1
#: Width of the average-pooled ResNet-101 output (Bottleneck expansion 4 x 512 channels).
FEATURE_DIM = 2048
#: The reference preprocessing: resize the short side to 256, centre crop 224 (GBU / torchvision).
DEFAULT_RESIZE = 256
DEFAULT_CROP = 224
#: Blocks in forward order; a fine-tuning run trains a suffix of these.
BLOCK_NAMES = ("stem", "layer1", "layer2", "layer3", "layer4")
#: Our fine-tuned checkpoint's ``format`` tag (written by vision.finetune).
FINETUNED_FORMAT = "zsl_pipeline.finetuned_backbone"
#: Seed of the random initialisation for ``weights="none"`` (features must be reproducible).
DEFAULT_INIT_SEED = 0


class BackboneWeightsError(RuntimeError):
    """The requested backbone weights are unavailable or not a ResNet-101 state_dict."""


class ResNetBackbone(nn.Module):
    """ResNet-101 trunk: stem, layer1..layer4, global average pool. Input ImageNet-normalised."""

    def __init__(self, resnet: nn.Module):
        super().__init__()
        # Same attribute names as torchvision's ResNet, so state_dict keys match (minus fc).
        self.conv1, self.bn1, self.relu, self.maxpool = resnet.conv1, resnet.bn1, resnet.relu, resnet.maxpool
        self.layer1, self.layer2, self.layer3, self.layer4 = (
            resnet.layer1, resnet.layer2, resnet.layer3, resnet.layer4
        )
        self.avgpool = nn.AdaptiveAvgPool2d(1)

    def block(self, name: str) -> nn.Module:
        """The module of one of :data:`BLOCK_NAMES` (``stem`` = conv1, bn1, relu, maxpool)."""
        if name == "stem":
            return nn.Sequential(self.conv1, self.bn1, self.relu, self.maxpool)
        if name not in BLOCK_NAMES:
            raise ValueError(f"unknown block {name!r}; expected one of {BLOCK_NAMES}")
        return getattr(self, name)

    def run_blocks(self, x: torch.Tensor, start: int = 0, stop: int = len(BLOCK_NAMES)) -> torch.Tensor:
        """Apply ``BLOCK_NAMES[start:stop]`` to ``x`` (no pooling)."""
        for name in BLOCK_NAMES[start:stop]:
            x = self.block(name)(x)
        return x

    def pool(self, fmap: torch.Tensor) -> torch.Tensor:
        """(N, 2048, h, w) layer4 map -> (N, 2048) features."""
        return torch.flatten(self.avgpool(fmap), 1)

    def feature_maps(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, 3, H, W) -> (layer4 "conv5" map (N, 2048, H/32, W/32), pooled (N, 2048))."""
        fmap = self.run_blocks(x)
        return fmap, self.pool(fmap)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) normalised images -> (N, 2048) average-pooled features."""
        return self.pool(self.run_blocks(x))


def imagenet_mean_std() -> tuple[list[float], list[float]]:
    """Mean and std of the ImageNet weights' own ``transforms()`` (never hand-typed)."""
    preset = IMAGENET_WEIGHTS.transforms()
    return list(preset.mean), list(preset.std)


class ImageNetNormalize(nn.Module):
    """Images in [0, 1] (N, 3, H, W) -> ImageNet-normalised, as the backbone expects."""

    def __init__(self):
        super().__init__()
        mean, std = imagenet_mean_std()
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return (images - self.mean) / self.std


def build_preprocess(resize: int = DEFAULT_RESIZE, crop: int = DEFAULT_CROP) -> nn.Module:
    """Evaluation preprocessing: PIL/tensor image -> normalised (3, crop, crop) float tensor.

    The weights' own preset with the sizes overridden: bilinear antialiased resize of the short
    side to ``resize``, centre crop ``crop``, scale to [0, 1], ImageNet mean/std.
    """
    if crop > resize:
        raise ValueError(f"crop ({crop}) must not exceed resize ({resize})")
    preset = IMAGENET_WEIGHTS.transforms(crop_size=crop, resize_size=resize)
    assert isinstance(preset, ImageClassification)
    return preset


def imagenet_cache_path() -> Path:
    """Where torchvision's hub cache keeps the ImageNet ResNet-101 file (honours TORCH_HOME)."""
    filename = os.path.basename(urlparse(IMAGENET_WEIGHTS.url).path)
    return Path(torch.hub.get_dir()) / "checkpoints" / filename


def _random_resnet(init_seed: int) -> nn.Module:
    # fork_rng: a reproducible init without touching the caller's global RNG state.
    with torch.random.fork_rng(devices=[]):
        # the CPU's generator only: torch.manual_seed would also reseed every GPU's, which
        # fork_rng(devices=[]) does not restore (the caller's CUDA RNG state would change)
        torch.default_generator.manual_seed(init_seed)
        return resnet101(weights=None)


def _state_dict_from(
    weights: str | os.PathLike | Mapping[str, Any],
) -> tuple[Mapping[str, torch.Tensor], str]:
    """Resolve a weights spec (not "none") to a backbone state_dict and a description."""
    if isinstance(weights, Mapping):
        obj, origin = weights, "checkpoint dict"
    elif str(weights) == "imagenet":
        path = imagenet_cache_path()
        if not path.is_file():
            raise BackboneWeightsError(
                f"ImageNet ResNet-101 weights not found in the torch hub cache: expected the file "
                f"{path} (nothing is downloaded). Download {IMAGENET_WEIGHTS.url} and place it at "
                f"that exact path (set TORCH_HOME to use another cache root), or use weights='none' "
                f"for an untrained network."
            )
        obj, origin = torch.load(path, map_location="cpu", weights_only=True), f"ImageNet cache {path}"
    else:
        path = Path(weights)
        if not path.is_file():
            raise BackboneWeightsError(
                f"backbone weights {str(weights)!r}: not 'imagenet', 'none' or an existing file"
            )
        obj, origin = torch.load(path, map_location="cpu", weights_only=True), str(path)
    if not isinstance(obj, Mapping):
        raise BackboneWeightsError(f"{origin}: expected a state_dict or checkpoint dict, got {type(obj)}")
    if "state_dict" in obj:  # our self-describing fine-tuned checkpoint
        if obj.get("format") not in (None, FINETUNED_FORMAT):
            raise BackboneWeightsError(f"{origin}: unknown checkpoint format {obj.get('format')!r}")
        obj = obj["state_dict"]
    return obj, origin


def build_backbone(
    weights: str | os.PathLike | Mapping[str, Any] = "imagenet",
    init_seed: int = DEFAULT_INIT_SEED,
) -> ResNetBackbone:
    """ResNet-101 up to global average pooling, in eval mode on the CPU.

    Args:
        weights: ``"imagenet"`` (torchvision IMAGENET1K_V1 from the hub cache only; a missing
            file raises :class:`BackboneWeightsError` naming the path and URL), ``"none"``
            (seeded random init; a warning says the features are untrained), a path to a
            ResNet-101 ``state_dict`` or to our fine-tuned checkpoint, or such a dict itself.
        init_seed: seed of the random init used with ``"none"``.
    """
    if isinstance(weights, (str, os.PathLike)) and str(weights) == "none":
        log.warning(
            "backbone weights='none': ResNet-101 is randomly initialised (seed %d); its features "
            "come from an untrained network and carry no ImageNet semantics",
            init_seed,
        )
        return ResNetBackbone(_random_resnet(init_seed)).eval()
    state, origin = _state_dict_from(weights)  # fails fast, before building the network
    backbone = ResNetBackbone(_random_resnet(init_seed))
    state = {k.removeprefix("module."): v for k, v in state.items()}  # DataParallel-saved files
    state = {k: v for k, v in state.items() if not k.startswith("fc.")}  # ImageNet classifier head
    try:
        backbone.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise BackboneWeightsError(f"{origin}: not a ResNet-101 backbone state_dict: {err}") from err
    log.info("ResNet-101 backbone weights loaded from %s", origin)
    return backbone.eval()
