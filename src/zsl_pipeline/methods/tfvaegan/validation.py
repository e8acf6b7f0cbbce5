"""A validation protocol: choose the number of generator epochs on the val split, never on test.

The reference selects its epochs on the test set (§2.8, §2.13.1). This variant (parameter
``tfvaegan_selection.protocol: validation``) instead runs TF-VAEGAN once on a zero-shot problem built
from the ``train``/``val`` splits alone — the ``val`` classes play the unseen classes, and a
held-out part of each ``train`` class's images plays test_seen — picks the generator epoch with
the best validation score, then trains on trainval for that many epochs. No test image and no
test label is read before the final evaluation.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import numpy as np
import torch

from zsl_pipeline.data.contract import ZeroShotDataset, validate
from zsl_pipeline.methods.tfvaegan.config import TFVAEGANConfig
from zsl_pipeline.methods.tfvaegan.run import train_stage

log = logging.getLogger(__name__)

#: Selection criteria: the validation history's column to maximise.
CRITERIA = {"h": "final_harmonic_mean", "zsl": "final_zsl_accuracy"}


def validation_dataset(ds: ZeroShotDataset, holdout_fraction: float = 0.2, seed: int = 0) -> ZeroShotDataset:
    """``ds`` re-split for model selection from ``train``/``val`` only.

    trainval := (1 − holdout_fraction) of each train class's train images, test_seen := the
    rest of them, test_unseen := the val images. Raises when ``ds`` has no train/val splits.
    """
    if "train" not in ds.splits or "val" not in ds.splits:
        raise ValueError(
            f"dataset '{ds.name}' has no train/val splits, so the validation protocol cannot run "
            "(xlsa17's CUB att_splits.mat has none; CUB's sent_splits.mat and AWA1/AWA2/SUN/FLO do)"
        )
    rng = np.random.default_rng(seed)
    train = ds.splits["train"]
    # Images of val classes that also sit in train (xlsa17 lists some) stay out of training.
    train = train[~np.isin(ds.labels[train], np.unique(ds.labels[ds.splits["val"]]))]
    order = rng.permutation(train.size)
    shuffled = train[order]
    labels = ds.labels[shuffled]
    rank = np.empty_like(order)
    for c in np.unique(labels):  # position of each image within its class, after shuffling
        members = np.flatnonzero(labels == c)
        rank[members] = np.arange(members.size)
    counts = np.bincount(labels, minlength=ds.num_classes)
    held_out = rank < np.floor(holdout_fraction * counts[labels]).astype(int)
    splits = {
        "trainval": np.sort(shuffled[~held_out]),
        "test_seen": np.sort(shuffled[held_out]),
        "test_unseen": np.sort(ds.splits["val"]),
    }
    val_ds = replace(ds, splits=splits, name=f"{ds.name}-validation")
    return validate(val_ds, source=f"validation split of '{ds.name}'")


def select_nepoch(
    ds: ZeroShotDataset, config: TFVAEGANConfig, device: torch.device, criterion: str = "h"
) -> dict[str, Any]:
    """Train on the validation problem for ``config.nepoch`` epochs, evaluating every epoch;
    return the chosen epoch count and the validation curve."""
    if criterion not in CRITERIA:
        raise ValueError(f"selection criterion must be one of {sorted(CRITERIA)}, got {criterion!r}")
    val_ds = validation_dataset(ds, seed=config.seed)
    _, history = train_stage(val_ds, replace(config, eval_every=1), device, checkpoint_dir=None)
    scores = [v if v is not None else -1.0 for v in history[CRITERIA[criterion]]]
    best = int(np.argmax(scores))
    chosen = int(history["epoch"][best])
    log.info("validation protocol: %s is best after %d of %d epochs (%.4f)", criterion, chosen, config.nepoch, scores[best])
    return {"criterion": criterion, "nepoch": chosen, "score": float(scores[best]), "curve": scores}

