"""Nodes of the image stages: optional seen-class fine-tuning, ResNet-101 feature extraction."""

from __future__ import annotations

from typing import Any

from zsl_pipeline.data.contract import ZeroShotDataset
from zsl_pipeline.pipelines.params import ExtractionParams, FinetuneParams
from zsl_pipeline.training.device import resolve_device
from zsl_pipeline.vision import stages


def finetune_backbone(
    *, dataset: ZeroShotDataset, params: FinetuneParams, extraction: ExtractionParams, device: str, checkpoint_dir: str
) -> tuple[dict[str, Any], dict[str, list[float]]]:
    """Train the last block(s) + a head on seen-class trainval images only; returns the checkpoint.
    A killed run started again resumes after its last epoch (epoch checkpoint in ``checkpoint_dir``)."""
    return stages.finetune_backbone(
        dataset, params.config(), resolve_device(device), weights=extraction.weights, init_seed=extraction.init_seed,
        checkpoint_dir=checkpoint_dir,
    )


def extract_features(
    *,
    dataset: ZeroShotDataset,
    params: ExtractionParams,
    device: str,
    checkpoint_dir: str,
    finetuned: dict[str, Any] | None = None,
) -> tuple[ZeroShotDataset, ZeroShotDataset]:
    """ResNet-101 average-pooled features of every image (with the fine-tuned backbone when given),
    twice: for ``zsl_dataset`` and for its xlsa17 export (``res101.mat`` + ``att_splits.mat``).
    A killed run started again resumes at its last finished shard (``shard_size`` images, kept
    in ``checkpoint_dir`` and removed when done)."""
    ds = stages.extract_features(
        dataset, params.config(), resolve_device(device), finetuned=finetuned, checkpoint_dir=checkpoint_dir
    )
    return ds, ds
