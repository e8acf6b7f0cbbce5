"""Nodes of the method branches and the comparison: unpack parameters, call the library."""

from __future__ import annotations

import logging
from typing import Any, Callable

import pandas as pd
from matplotlib.figure import Figure

from zsl_pipeline.data.contract import ZeroShotDataset
from zsl_pipeline.evaluation.compare import aggregate_runs, markdown_table, plot_seen_unseen
from zsl_pipeline.methods import get_method
from zsl_pipeline.methods.eszsl.method import eszsl_records
from zsl_pipeline.methods.runner import RunSettings, evaluate_runs, train_runs
from zsl_pipeline.training.device import resolve_device

logger = logging.getLogger(__name__)


def train_node(method: str) -> Callable[..., dict[str, Any]]:
    """The training node of ``method``'s branch."""

    def train(dataset: ZeroShotDataset, params: dict[str, Any], runs: dict[str, Any], device: str) -> dict[str, Any]:
        """Train the method once per seed of ``runs.seeds`` (few-shot when ``runs.n_shots`` > 0)."""
        return train_runs(get_method(method), dataset, params, RunSettings.from_params(runs), resolve_device(device))

    train.__name__ = train.__qualname__ = f"train_{method}"
    return train


def evaluate_node(method: str) -> Callable[..., list[dict[str, Any]]]:
    """The evaluation node of ``method``'s branch."""

    def evaluate(
        trained: dict[str, Any], dataset: ZeroShotDataset, runs: dict[str, Any], device: str
    ) -> list[dict[str, Any]]:
        """Both classifier protocols and zero-shot retrieval for every trained seed."""
        settings = RunSettings.from_params(runs)
        return evaluate_runs(get_method(method), dataset, trained, settings, resolve_device(device))

    evaluate.__name__ = evaluate.__qualname__ = f"evaluate_{method}"
    return evaluate


def eszsl_method(dataset: ZeroShotDataset) -> list[dict[str, Any]]:
    """The ESZSL baseline (γ, λ chosen on the validation classes, GBU protocol)."""
    return eszsl_records(dataset)


def report(*runs: list[dict[str, Any]]) -> tuple[pd.DataFrame, str, Figure, dict[str, Any]]:
    """Methods × {ZSL T1, u, s, H, retrieval} for both protocols, mean ± std over seeds."""
    records = [record for method_runs in runs for record in method_runs]
    frame = aggregate_runs(records)
    table = markdown_table(frame)
    logger.info("comparison (per-class mean top-1 and retrieval, %%):\n%s", table)
    metrics = {
        f"{row.method}.{row.protocol}": {
            key: float(value) for key, value in row._asdict().items() if isinstance(value, float) and value == value
        }
        for row in frame.itertuples(index=False)
    }
    return frame, table, plot_seen_unseen(records), metrics
