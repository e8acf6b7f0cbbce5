"""Nodes of the TF-VAEGAN pipeline: each unpacks its parameters and calls the library function
of the same name."""

from __future__ import annotations

from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from zsl_pipeline.data.contract import ZeroShotDataset
from zsl_pipeline.data.fingerprint import source_data, stamped
from zsl_pipeline.methods.eszsl.closed_form import run_eszsl
from zsl_pipeline.methods.tfvaegan import report, stages
from zsl_pipeline.pipelines.params import SelectionParams, TFVAEGANParams
from zsl_pipeline.training.device import resolve_device


def train_generative_model(
    *, dataset: ZeroShotDataset, params: TFVAEGANParams, selection: SelectionParams, device: str, checkpoint_dir: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Train E, G, D, Dec and F (§2.5); per-epoch evaluation every ``eval_every`` epochs.

    ``selection.protocol``: ``fixed`` (the configured ``nepoch``) or ``validation`` (the epoch
    count chosen on the val split first, without test labels).
    """
    return stages.train_generative_model(
        dataset,
        params.config(),
        resolve_device(device),
        protocol=selection.protocol,
        criterion=selection.criterion,
        checkpoint_dir=checkpoint_dir,
    )


def synthesize_unseen_features(
    *, model: dict[str, Any], dataset: ZeroShotDataset, params: TFVAEGANParams, device: str
) -> dict[str, Any]:
    """``syn_num`` features per unseen class with one feedback step of weight a2 (§2.7).

    ``syn_num`` and ``a2`` given in the current parameters win over the checkpoint's, so they can
    change on a rerun.
    """
    return stages.synthesize_unseen_features(
        model, dataset, resolve_device(device), overrides=params.model_dump(exclude_unset=True)
    )


def train_classifiers(
    *,
    model: dict[str, Any],
    dataset: ZeroShotDataset,
    synthetic: dict[str, Any],
    params: TFVAEGANParams,
    device: str,
) -> tuple[dict[str, Any], dict[str, Any], dict[str, list]]:
    """ZSL and GZSL softmax classifiers on x ⊕ Dec(x) ⊕ h (§2.7–2.8); classifier_* from params."""
    return stages.train_classifiers(
        model, dataset, synthetic, resolve_device(device), overrides=params.model_dump(exclude_unset=True)
    )


def eszsl_baseline(dataset: ZeroShotDataset) -> dict[str, Any]:
    """The non-generative reference point on the same features (ESZSL, GBU protocol), stamped
    with the data it came from."""
    return stamped(vars(run_eszsl(dataset)), source_data(dataset))


def evaluate(
    *,
    classifier_results: dict[str, Any],
    train_history: dict[str, list],
    dataset: ZeroShotDataset,
    eszsl: dict[str, Any],
    synthetic: dict[str, Any],
) -> tuple[dict[str, Any], pd.DataFrame, Figure, Figure, Figure]:
    """Metrics of both protocols side by side with the generator's diagnostics, per-class table,
    loss, accuracy and projection figures."""
    return report.evaluate(classifier_results, train_history, dataset, eszsl, synthetic)
