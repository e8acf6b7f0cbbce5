"""The TF-VAEGAN pipeline's report: both protocols side by side, the ESZSL reference point, the
generator's diagnostics, the per-class table and the loss, accuracy and projection figures."""

from __future__ import annotations

import logging
from typing import Any, Mapping

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure

from zsl_pipeline.data.contract import ZeroShotDataset
from zsl_pipeline.data.fingerprint import check_source, source_data, unstamped
from zsl_pipeline.evaluation.diagnostics import generator_diagnostics, projection_figure
from zsl_pipeline.evaluation.metrics import report_names
from zsl_pipeline.evaluation.protocols import reference_best_over_epochs
from zsl_pipeline.evaluation.report import per_class_table, plot_accuracy, plot_losses, summary_table
from zsl_pipeline.training.features import prepare_features

log = logging.getLogger(__name__)


def evaluate(
    classifier_results: Mapping[str, Any],
    train_history: Mapping[str, Any],
    ds: ZeroShotDataset,
    eszsl: Mapping[str, Any],
    synthetic: Mapping[str, Any],
) -> tuple[dict[str, Any], pd.DataFrame, Figure, Figure, Figure]:
    """Metrics of both protocols and ESZSL side by side (logged as a table), the generator's
    diagnostics (``generator``: the synthetic against the real test_unseen features, in the
    scaled feature space, ``evaluation.diagnostics``), the per-class table, and the loss,
    accuracy and projection figures. Each input must come from ``ds`` (``source_data``,
    checked), so a report never mixes runs on different data."""
    source = source_data(ds)
    check_source(synthetic, source, "the synthetic features (synthetic_unseen_features)")
    check_source(classifier_results, source, "the classifier results (classifier_results)")
    check_source(train_history, source, "the training history (tfvaegan_train_history)")
    check_source(eszsl, source, "the ESZSL baseline (eszsl_baseline_metrics)")
    eszsl = unstamped(eszsl)
    metrics = summarise_protocols(classifier_results["final"], train_history)
    metrics["eszsl"] = report_names(eszsl)
    metrics["schedule"] = train_history.get("schedule", {"protocol": "fixed"})
    metrics["precision"] = train_history.get("precision", "fp32")  # older histories: fp32 on the CPU
    metrics["dataset"] = {"name": ds.name, **ds.summary()}
    data = prepare_features(ds, torch.device("cpu"))
    syn_x, syn_y = synthetic["features"].float(), synthetic["labels"]
    metrics["generator"] = generator_diagnostics(syn_x, syn_y, data.test_unseen_x, data.test_unseen_y, data.unseen_classes)
    log.info("%s generator: synthetic/real class-mean spread %.2f, nearest synthetic class mean %.1f %% "
             "(nearest real class mean %.1f %%)", ds.name, metrics["generator"]["spread_ratio"],
             100 * metrics["generator"]["nearest_synthetic_mean_accuracy"],
             100 * metrics["generator"]["nearest_real_mean_accuracy"])  # fmt: skip
    projection = projection_figure(syn_x, syn_y, data.test_unseen_x, data.test_unseen_y, class_names=ds.class_names,
                                   title=f"TF-VAEGAN on {ds.name}")  # fmt: skip
    log.info(
        "%s results (per-class mean top-1, %%; best_on_test is selected on test labels):\n%s",
        ds.name,
        summary_table(metrics, ("final", "best_on_test", "eszsl")),
    )
    table = per_class_table(
        {k: np.asarray(v) for k, v in classifier_results["per_class"].items()},
        ds.class_names,
        ds.seen_classes,
        ds.unseen_classes,
    )
    baseline = {"ESZSL ZSL T1": eszsl["zsl_accuracy"], "ESZSL H": eszsl["harmonic_mean"]}
    return metrics, table, plot_losses(train_history), plot_accuracy(train_history, baseline), projection


def summarise_protocols(final: Mapping[str, float], history: Mapping[str, list[float | None]]) -> dict[str, Any]:
    """The two protocols side by side, never mixed (fractions in [0, 1]).

    ``final`` (the headline): the classifier stage's last classifier epoch on the last generator
    epoch — ``final`` is that stage's :class:`ProtocolMetrics` as a dict. ``best_on_test``: the
    reference's selection of the best classifier epoch and, independently for ZSL and GZSL, the
    best evaluated generator epoch, ON THE TEST SET (optimistic; how the paper reports).
    """
    columns = {k: v for k, v in history.items() if isinstance(v, list)}
    evaluated = [
        {k: v[i] for k, v in columns.items() if v[i] is not None}
        for i in range(len(columns.get("epoch", [])))
        if columns.get("best_on_test_zsl_accuracy", [None] * (i + 1))[i] is not None
    ]
    return {
        "final": report_names(final),
        "best_on_test": _best_on_test_selection(evaluated),
        "best_on_test_note": "selected on test labels over classifier and generator epochs "
        "(the reference protocol): optimistic",
        "evaluated_epochs": len(evaluated),
    }


def _best_on_test_selection(evaluated: list[dict[str, float]]) -> dict[str, float]:
    """The reference's test-selected numbers, named like ``final``, with the generator epochs
    they come from (1-based; 0 when no epoch beat 0)."""
    if not evaluated:
        return {}
    best = reference_best_over_epochs(evaluated)

    def epoch_of(index: float) -> int:
        return int(evaluated[int(index)]["epoch"]) if index >= 0 else 0

    return {
        **report_names(best),
        "zsl_generator_epoch": epoch_of(best["zsl_index"]),
        "gzsl_generator_epoch": epoch_of(best["gzsl_index"]),
    }
