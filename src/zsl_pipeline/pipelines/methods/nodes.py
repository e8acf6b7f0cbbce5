"""Nodes of the method branches and the comparison: unpack parameters, call the library.

A branch's nodes are made per method (``train_node``, ``evaluate_node``): each is named after
its node (``train``, ``evaluate``; ``<method>.train`` in the DAG) and its ``params`` argument
is annotated with the method's parameter model, so Kedro validates every branch's parameters
before the run starts.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

import pandas as pd
from matplotlib.figure import Figure

from zsl_pipeline.data.contract import ZeroShotDataset
from zsl_pipeline.data.fingerprint import check_same_source
from zsl_pipeline.evaluation.compare import comparison_report
from zsl_pipeline.methods import get_method
from zsl_pipeline.methods.eszsl.method import eszsl_records
from zsl_pipeline.methods.runner import evaluate_runs, generator_figure, train_runs
from zsl_pipeline.pipelines.params import METHOD_PARAMS, ConfigParams, RunParams
from zsl_pipeline.training.device import resolve_device

logger = logging.getLogger(__name__)


def train_node(method: str) -> Callable[..., dict[str, Any]]:
    """The training node of ``method``'s branch."""

    def train(
        *, dataset: ZeroShotDataset, params: ConfigParams, runs: RunParams, device: str, checkpoint_dir: str
    ) -> dict[str, Any]:
        """Train the method once per seed of ``runs.seeds`` (few-shot when ``runs.n_shots`` > 0);
        a killed run started again loads the seeds it finished from ``checkpoint_dir``."""
        return train_runs(
            get_method(method), dataset, params.config(), runs.config(), resolve_device(device),
            checkpoint_dir=checkpoint_dir,
        )

    train.__annotations__["params"] = METHOD_PARAMS[method]  # what Kedro validates params:<method> against
    train.__qualname__ = f"train_node({method!r}).train"
    return train


def evaluate_node(method: str) -> Callable[..., Any]:
    """The evaluation node of ``method``'s branch (ESZSL's fits and evaluates in one)."""
    if method == "eszsl":

        def evaluate(*, dataset: ZeroShotDataset) -> list[dict[str, Any]]:
            """The ESZSL baseline (γ, λ chosen on the validation classes, GBU protocol)."""
            return eszsl_records(dataset)

    else:

        def evaluate(
            *, trained: dict[str, Any], dataset: ZeroShotDataset, runs: RunParams, device: str
        ) -> tuple[list[dict[str, Any]], Figure]:
            """Both classifier protocols, zero-shot retrieval and the generator's diagnostics for
            every trained seed; real and synthetic unseen features in two dimensions."""
            m, torch_device = get_method(method), resolve_device(device)
            records = evaluate_runs(m, dataset, trained, runs.config(), torch_device)
            return records, generator_figure(m, dataset, trained, torch_device)

    evaluate.__qualname__ = f"evaluate_node({method!r}).evaluate"
    return evaluate


def report(*runs: list[dict[str, Any]]) -> tuple[pd.DataFrame, str, Figure, dict[str, Any]]:
    """Methods × {ZSL T1, u, s, H, retrieval} for both protocols, mean ± std over seeds; every
    method's runs must come from the same data (``source_data``, checked)."""
    records = [record for method_runs in runs for record in method_runs]
    check_same_source(records)
    return comparison_report(records)
