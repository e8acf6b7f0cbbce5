"""Nodes of the TF-VAEGAN pipeline: unpack parameters, call the library, return results."""

from __future__ import annotations

from typing import Any

import logging

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure

from zsl_pipeline.data.contract import ZeroShotDataset
from zsl_pipeline.methods.eszsl.closed_form import run_eszsl
from zsl_pipeline.evaluation.metrics import report_names
from zsl_pipeline.evaluation.report import per_class_table, plot_accuracy, plot_losses, summary_table
from zsl_pipeline.methods.tfvaegan.config import TFVAEGANConfig
from zsl_pipeline.methods.tfvaegan.stages import (
    classify_stage,
    history_columns,
    summarise_protocols,
    synthesize_stage,
)
from zsl_pipeline.methods.tfvaegan.validation import train_with_schedule
from zsl_pipeline.training.device import resolve_device

logger = logging.getLogger(__name__)


def train_generative_model(
    dataset: ZeroShotDataset, params: dict[str, Any], selection: dict[str, Any], device: str, checkpoint_dir: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Train E, G, D, Dec and F (§2.5); per-epoch evaluation every ``eval_every`` epochs.

    ``selection.protocol``: ``fixed`` (the configured ``nepoch``) or ``validation`` (the epoch
    count chosen on the val split first, without test labels).
    """
    config = TFVAEGANConfig.from_params(params)
    return train_with_schedule(
        dataset, config, resolve_device(device), protocol=selection["protocol"],
        criterion=selection["criterion"], checkpoint_dir=checkpoint_dir,
    )


def synthesize_unseen_features(
    model: dict[str, Any], dataset: ZeroShotDataset, params: dict[str, Any], device: str
) -> dict[str, torch.Tensor]:
    """``syn_num`` features per unseen class with one feedback step of weight a2 (§2.7).

    ``syn_num`` and ``a2`` come from the current parameters, so they can change on a rerun.
    """
    return synthesize_stage(model, dataset, resolve_device(device), overrides=params)


def train_classifiers(
    model: dict[str, Any],
    dataset: ZeroShotDataset,
    synthetic: dict[str, torch.Tensor],
    params: dict[str, Any],
    device: str,
) -> tuple[dict[str, Any], dict[str, Any], dict[str, list]]:
    """ZSL and GZSL softmax classifiers on x ⊕ Dec(x) ⊕ h (§2.7–2.8); classifier_* from params."""
    result = classify_stage(model, dataset, synthetic, resolve_device(device), overrides=params)
    classifiers = {
        "input_mode": result.input_mode,
        "zsl": result.zsl_classifier.state_dict(),
        "gzsl": result.gzsl_classifier.state_dict(),
    }
    results = {
        "final": vars(result.final),
        "best_on_test": vars(result.best_on_test),
        "per_class": {k: v.tolist() for k, v in result.per_class.items()},
    }
    return classifiers, results, history_columns(result.history)


def eszsl_baseline(dataset: ZeroShotDataset) -> dict[str, Any]:
    """The non-generative reference point on the same features (ESZSL, GBU protocol)."""
    return vars(run_eszsl(dataset))


def evaluate(
    classifier_results: dict[str, Any],
    train_history: dict[str, list],
    dataset: ZeroShotDataset,
    eszsl: dict[str, Any],
) -> tuple[dict[str, Any], pd.DataFrame, Figure, Figure]:
    """Metrics of both protocols side by side, per-class table, loss and accuracy figures."""
    metrics = summarise_protocols(classifier_results["final"], train_history)
    metrics["eszsl"] = report_names(eszsl)
    metrics["schedule"] = train_history.get("schedule", {"protocol": "fixed"})
    metrics["dataset"] = {"name": dataset.name, **dataset.summary()}
    logger.info(
        "%s results (per-class mean top-1, %%; best_on_test is selected on test labels):\n%s",
        dataset.name,
        summary_table(metrics, ("final", "best_on_test", "eszsl")),
    )
    table = per_class_table(
        {k: np.asarray(v) for k, v in classifier_results["per_class"].items()},
        dataset.class_names,
        dataset.seen_classes,
        dataset.unseen_classes,
    )
    baseline = {"ESZSL ZSL T1": eszsl["zsl_accuracy"], "ESZSL H": eszsl["harmonic_mean"]}
    return metrics, table, plot_losses(train_history), plot_accuracy(train_history, baseline)
