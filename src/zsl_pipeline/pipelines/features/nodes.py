"""Nodes of the image stages: optional seen-class fine-tuning, ResNet-101 feature extraction."""

from __future__ import annotations

from typing import Any

from zsl_pipeline.data.contract import ZeroShotDataset
from zsl_pipeline.vision.extraction import ExtractionConfig, extract_dataset_features, extraction_backbone
from zsl_pipeline.vision.finetune import FinetuneConfig, finetune_backbone
from zsl_pipeline.training.device import resolve_device


def finetune(
    dataset: ZeroShotDataset, params: dict[str, Any], extraction: dict[str, Any], device: str
) -> tuple[dict[str, Any], dict[str, list[float]]]:
    """Train the last block(s) + a head on seen-class trainval images only; returns the checkpoint."""
    settings = {k: v for k, v in params.items() if k != "enabled"}
    if "trainable_blocks" in settings:
        settings["trainable_blocks"] = tuple(settings["trainable_blocks"])
    config = FinetuneConfig(**settings)
    start = extraction_backbone(extraction["weights"], extraction.get("init_seed", 0))
    return finetune_backbone(dataset, config, resolve_device(device), start)


def extract(dataset: ZeroShotDataset, params: dict[str, Any], device: str) -> ZeroShotDataset:
    """ResNet-101 average-pooled features of every image, with the configured weights."""
    return extract_dataset_features(dataset, ExtractionConfig(**params), resolve_device(device))


def extract_finetuned(
    dataset: ZeroShotDataset, backbone: dict[str, Any], params: dict[str, Any], device: str
) -> ZeroShotDataset:
    """As :func:`extract`, with the fine-tuned backbone from the catalog."""
    config = ExtractionConfig(**params)
    return extract_dataset_features(
        dataset, config, resolve_device(device), backbone=extraction_backbone(config.weights, finetuned=backbone)
    )
