"""Feature extraction: images -> (N, 2048) ResNet-101 average-pool features, in input order.

Memory is bounded by one batch: images are decoded by a DataLoader (``num_workers``
processes) and each batch's features are written into a preallocated float32 array.
"""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from zsl_pipeline.data.contract import ZeroShotDataset
from zsl_pipeline.data.images import load_image  # the one image reader; tests spy on it here
from zsl_pipeline.training.device import PRECISIONS, check_precision, precision_autocast, tf32_allowed
from zsl_pipeline.vision.backbone import (
    DEFAULT_CROP,
    DEFAULT_INIT_SEED,
    DEFAULT_RESIZE,
    FEATURE_DIM,
    ResNetBackbone,
    build_backbone,
    build_preprocess,
)

log = logging.getLogger(__name__)

#: Autocast dtypes a config may name (CUDA only; CPU always runs float32).


@dataclass(frozen=True)
class ExtractionConfig:
    """How to turn images into features.

    Attributes:
        weights: backbone weights when no backbone is passed in (see ``build_backbone``).
        resize: short side after resizing (reference 256).
        crop: centre-crop size (reference 224).
        batch_size: images per forward pass; bounds memory.
        num_workers: DataLoader decoding processes (0 = in the main process).
        precision: ``fp32`` (default), or on CUDA ``tf32``, ``bf16`` or ``fp16`` (autocast).
        channels_last: NHWC memory format for the convolutions.
        init_seed: random-init seed when ``weights == "none"``.
    """

    weights: str = "imagenet"
    resize: int = DEFAULT_RESIZE
    crop: int = DEFAULT_CROP
    batch_size: int = 64
    num_workers: int = 4
    precision: str = "fp32"
    channels_last: bool = True
    init_seed: int = DEFAULT_INIT_SEED

    def __post_init__(self) -> None:
        if self.crop > self.resize:
            raise ValueError(f"crop ({self.crop}) must not exceed resize ({self.resize})")
        if self.batch_size < 1 or self.num_workers < 0:
            raise ValueError("batch_size must be >= 1 and num_workers >= 0")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")


class ImagePathDataset(Dataset):
    """Image files -> transformed tensors, in the given order; ``__getitem__`` returns (i, x)."""

    def __init__(self, paths: Sequence[str], transform: Callable[[Image.Image], torch.Tensor]):
        self.paths = tuple(str(p) for p in paths)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[int, torch.Tensor]:
        # ``load_image`` is resolved on this module at call time: a spy patched there sees every read.
        return i, self.transform(load_image(self.paths[i]))


def _is_ready(model: torch.nn.Module, device: torch.device, memory_format: torch.memory_format) -> bool:
    """Already in eval mode, on ``device`` and (4-D weights) in ``memory_format``."""
    if any(m.training for m in model.modules()):
        return False
    for p in model.parameters():
        if p.device.type != device.type or (device.index is not None and p.device.index != device.index):
            return False
        if p.ndim == 4 and not p.is_contiguous(memory_format=memory_format):
            return False
    return True


def extract_features(
    image_paths: Sequence[str],
    config: ExtractionConfig,
    device: torch.device | str,
    backbone: ResNetBackbone | None = None,
    progress: bool = True,
) -> np.ndarray:
    """(N, 2048) float32 features of ``image_paths``, row i for path i.

    Deterministic for a given backbone, config and device (eval mode, no augmentation). A
    passed-in ``backbone`` is never modified: it is used as is when already in eval mode on
    ``device`` in the configured memory format, otherwise copied first. Without one it is
    built from ``config.weights``.
    """
    device = torch.device(device)
    check_precision(config.precision, device)
    paths = tuple(str(p) for p in image_paths)
    out = np.empty((len(paths), FEATURE_DIM), dtype=np.float32)
    if not paths:
        return out
    memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
    if backbone is None:
        model = build_backbone(config.weights, init_seed=config.init_seed)
    elif _is_ready(backbone, device, memory_format):
        model = backbone  # inference only: nothing to change, no copy needed
    else:
        model = copy.deepcopy(backbone)  # never move or convert the caller's module
    model = model.eval().to(device=device, memory_format=memory_format)

    loader = DataLoader(
        ImagePathDataset(paths, build_preprocess(resize=config.resize, crop=config.crop)),
        batch_size=config.batch_size,
        shuffle=False,
        num_workers=config.num_workers,
        pin_memory=device.type == "cuda",
        persistent_workers=False,
    )
    start = time.perf_counter()
    with (
        torch.inference_mode(),
        tqdm(total=len(paths), unit="img", desc="feature extraction", disable=not progress) as bar,
    ):
        for idx, images in loader:
            images = images.to(device, non_blocking=True).contiguous(memory_format=memory_format)
            with precision_autocast(device, config.precision), tf32_allowed(config.precision == "tf32"):
                feats = model(images)  # (B, 2048)
            out[idx.numpy()] = feats.float().cpu().numpy()
            bar.update(len(idx))
    seconds = time.perf_counter() - start
    log.info(
        "extracted %d features on %s in %.1f s (%.1f images/s)",
        len(paths), device, seconds, len(paths) / max(seconds, 1e-9),
    )
    return out


def extract_dataset_features(
    ds: ZeroShotDataset,
    config: ExtractionConfig,
    device: torch.device | str,
    backbone: ResNetBackbone | None = None,
    progress: bool = True,
) -> ZeroShotDataset:
    """A copy of the image dataset ``ds`` carrying its extracted features."""
    if ds.image_paths is None:
        raise ValueError(f"dataset '{ds.name}' has no image paths to extract features from")
    feats = extract_features(ds.image_paths, config, device, backbone=backbone, progress=progress)
    return ds.with_features(feats)


def extraction_backbone(weights: str, init_seed: int = DEFAULT_INIT_SEED, finetuned: Any = None) -> ResNetBackbone:
    """The backbone features come from: the fine-tuned checkpoint when given, else ``weights``."""
    return build_backbone(finetuned) if finetuned is not None else build_backbone(weights, init_seed=init_seed)
