"""Nodes of the inversion stage: train feature-to-image inversion, compare inversions."""

from __future__ import annotations

from typing import Any

from matplotlib.figure import Figure

from zsl_pipeline.data.contract import ZeroShotDataset
from zsl_pipeline.vision.backbone import ResNetBackbone
from zsl_pipeline.vision.extraction import extraction_backbone
from zsl_pipeline.vision.inversion import InversionConfig
from zsl_pipeline.vision.inversion_stages import compare_inversions, train_inversion_stage
from zsl_pipeline.training.device import resolve_device

#: Keys of the ``inversion`` parameters that are not InversionConfig fields.
_STAGE_KEYS = ("num_classes", "figure_seed")


def _backbone(extraction: dict[str, Any], finetuned: dict[str, Any] | None) -> ResNetBackbone:
    """The extraction backbone (fine-tuned when the features came from it), for the perceptual loss."""
    return extraction_backbone(extraction["weights"], extraction.get("init_seed", 0), finetuned)


def train_inverter(
    dataset: ZeroShotDataset, params: dict[str, Any], extraction: dict[str, Any], device: str,
    finetuned: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], dict[str, list[float]]]:
    """Train the up-convolutional generator + discriminator on all real (feature, image) pairs."""
    config = InversionConfig(**{k: v for k, v in params.items() if k not in _STAGE_KEYS})
    return train_inversion_stage(dataset, config, _backbone(extraction, finetuned), resolve_device(device))


def compare(
    inversion: dict[str, Any], tfvaegan: dict[str, Any], dataset: ZeroShotDataset, params: dict[str, Any],
    extraction: dict[str, Any], device: str, finetuned: dict[str, Any] | None = None,
) -> tuple[Figure, dict[str, Any]]:
    """Grid of real | inverted real | synthetic without / with feedback, and image-space scores."""
    return compare_inversions(
        inversion, tfvaegan, dataset, _backbone(extraction, finetuned), resolve_device(device),
        num_classes=params["num_classes"], seed=params["figure_seed"],
    )
