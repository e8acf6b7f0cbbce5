"""Nodes of the inversion stage: train the feature-to-image inversion, invert features."""

from __future__ import annotations

from typing import Any

from matplotlib.figure import Figure

from zsl_pipeline.data.contract import ZeroShotDataset
from zsl_pipeline.pipelines.params import ExtractionParams, InversionParams
from zsl_pipeline.training.device import resolve_device
from zsl_pipeline.vision import stages


def train_inversion(
    *,
    dataset: ZeroShotDataset,
    params: InversionParams,
    extraction: ExtractionParams,
    device: str,
    checkpoint_dir: str,
    finetuned: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], dict[str, list[float]]]:
    """Train the up-convolutional generator + discriminator on all real (feature, image) pairs;
    a killed run started again resumes after its last epoch (epoch checkpoint in ``checkpoint_dir``)."""
    return stages.train_inversion(
        dataset,
        params.config(),
        resolve_device(device),
        weights=extraction.weights,
        init_seed=extraction.init_seed,
        finetuned=finetuned,
        checkpoint_dir=checkpoint_dir,
    )


def invert_features(
    *,
    inversion: dict[str, Any],
    tfvaegan: dict[str, Any],
    dataset: ZeroShotDataset,
    params: InversionParams,
    extraction: ExtractionParams,
    device: str,
    finetuned: dict[str, Any] | None = None,
) -> tuple[Figure, dict[str, Any]]:
    """Grid of real | inverted real | synthetic without / with feedback, and image-space scores
    over ``score_classes`` unseen classes (every one by default)."""
    return stages.invert_features(
        inversion,
        tfvaegan,
        dataset,
        resolve_device(device),
        weights=extraction.weights,
        init_seed=extraction.init_seed,
        finetuned=finetuned,
        num_classes=params.num_classes,
        seed=params.figure_seed,
        score_classes=params.score_classes,
    )
