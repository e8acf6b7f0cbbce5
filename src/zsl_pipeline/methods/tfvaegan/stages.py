"""The TF-VAEGAN stages, one function per node of the ``tfvaegan`` pipeline: train, synthesize,
train the classifiers (``evaluate`` is in :mod:`~zsl_pipeline.methods.tfvaegan.report`).

Each function takes and returns plain objects (the data contract, checkpoint dicts, tensors),
so a node only unpacks parameters and calls one of them, and a notebook can do the same.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any, Mapping

import torch

from zsl_pipeline.data.contract import ZeroShotDataset
from zsl_pipeline.data.fingerprint import check_source, source_data, stamped
from zsl_pipeline.evaluation.protocols import ProtocolResult
from zsl_pipeline.methods.tfvaegan.config import TFVAEGANConfig
from zsl_pipeline.methods.tfvaegan.evaluate import (
    classifier_outputs,
    classify,
    synthesize_unseen,
    synthetic_digest,
)
from zsl_pipeline.methods.tfvaegan.loop import build_training_state
from zsl_pipeline.methods.tfvaegan.models import TFVAEGANModels
from zsl_pipeline.methods.tfvaegan.run import train_stage
from zsl_pipeline.methods.tfvaegan.validation import select_nepoch
from zsl_pipeline.training.checkpoint import models_digest
from zsl_pipeline.training.features import prepare_features
from zsl_pipeline.training.streams import eval_stream

log = logging.getLogger(__name__)

#: Settings the synthesis and classifier stages may take from the current parameters instead of
#: the generator checkpoint (they do not change the trained generator).
STAGE_SETTINGS = frozenset(
    {"syn_num", "a2", "classifier_lr", "classifier_epochs", "classifier_batch_size", "classifier_input"}
)
#: How the number of generator epochs is chosen (``tfvaegan_selection.protocol``).
SCHEDULE_PROTOCOLS = ("fixed", "validation")


def train_generative_model(
    ds: ZeroShotDataset,
    config: TFVAEGANConfig,
    device: torch.device,
    *,
    protocol: str = "fixed",
    criterion: str = "h",
    checkpoint_dir: str | Path | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Train E, G, D, Dec and F (§2.5) on trainval, evaluating every ``eval_every`` epochs, for
    ``config.nepoch`` epochs (``fixed``, the reference) or for the count chosen on the val split
    without test labels (``validation``, :func:`~zsl_pipeline.methods.tfvaegan.validation.select_nepoch`).

    Returns (final checkpoint, per-epoch history columns with the ``schedule`` it ran and the
    ``precision`` it trained in), both stamped with the data they came from (``source_data``).
    """
    source = source_data(ds)
    if protocol == "validation":
        schedule = {"protocol": "validation", **select_nepoch(ds, config, device, criterion)}
        config = dataclasses.replace(config, nepoch=schedule["nepoch"])
    elif protocol == "fixed":
        schedule = {"protocol": "fixed", "nepoch": config.nepoch}
    else:
        raise ValueError(f"tfvaegan_selection.protocol must be one of {SCHEDULE_PROTOCOLS}, got {protocol!r}")
    checkpoint, history = train_stage(ds, config, device, checkpoint_dir=checkpoint_dir)
    history = {**history, "schedule": schedule, "precision": config.precision}
    return stamped(checkpoint, source), stamped(history, source)


def stage_config(checkpoint: Mapping[str, Any], overrides: Mapping[str, Any] | None = None) -> TFVAEGANConfig:
    """The checkpoint's config with the ``overrides`` that do not shape generator training
    (:data:`STAGE_SETTINGS`); other keys of ``overrides`` are ignored."""
    saved = dict(checkpoint["config"])
    saved.pop("amp", None)  # checkpoints written before `precision` replaced it (they trained in bf16 on CUDA)
    saved.update({k: v for k, v in (overrides or {}).items() if k in STAGE_SETTINGS})
    return TFVAEGANConfig(**saved)


def load_models(
    checkpoint: Mapping[str, Any], device: torch.device, overrides: Mapping[str, Any] | None = None
) -> tuple[TFVAEGANModels, TFVAEGANConfig]:
    """The five trained networks (eval mode, on ``device``) and the config of a checkpoint.

    ``overrides`` may change the settings that do not shape generator training (synthesis and
    classifier settings such as ``syn_num``, ``a2``, ``classifier_*``), so the later stages can
    be rerun with new values on a cached generator; other keys of ``overrides`` are ignored.
    """
    config = stage_config(checkpoint, overrides)
    models, _, _ = build_training_state(
        config, feature_dim=int(checkpoint["feature_dim"]), attr_dim=int(checkpoint["attr_dim"]), device=device
    )
    for name, net in models.networks().items():
        net.load_state_dict(checkpoint["models"][name])
    return models.eval(), config


def synthesize_unseen_features(
    checkpoint: Mapping[str, Any],
    ds: ZeroShotDataset,
    device: torch.device,
    overrides: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """``syn_num`` synthetic features per unseen class (one feedback step with δ = a2, §2.7).

    Returns CPU tensors ``{"features": (n·syn_num, D), "labels": (n·syn_num,), "rng_state"}`` and
    ``rng_device`` (the device type the random stream belongs to: ``device``'s, or ``cpu`` with
    ``noise_device: cpu``) in the scaled feature space of the training stage. The RNG is the last epoch's evaluation RNG
    and its state after synthesis is kept, so the classifier stage continues the same stream:
    synthesis + classifiers reproduce the training stage's last-epoch evaluation exactly.
    The generator must come from ``ds`` (``source_data``, checked); the features say so too, and
    name the generator they came from (``generator``: :func:`models_digest` of its weights).
    """
    source = source_data(ds)
    check_source(checkpoint, source, "the generator checkpoint (tfvaegan_model)")
    models, config = load_models(checkpoint, device, overrides)
    data = prepare_features(ds, device)
    gen = eval_stream(config.seed, device, int(checkpoint["epochs_completed"]) - 1, config.noise_device)
    x, y = synthesize_unseen(models, data, config, gen)
    synthetic = {
        "features": x.cpu(),
        "labels": y.cpu(),
        "rng_state": gen.get_state().cpu(),
        "rng_device": gen.device.type,
        "generator": models_digest(checkpoint),
    }
    return stamped(synthetic, source)


def _check_stage_inputs(checkpoint: Mapping[str, Any], ds: ZeroShotDataset, synthetic: Mapping[str, Any],
                        device: torch.device) -> dict[str, str]:
    """The generator and the synthetic features come from ``ds``, the features from this
    generator, and their random stream can continue on ``device``; ValueError otherwise.
    Returns ``source_data(ds)``."""
    source = source_data(ds)
    check_source(checkpoint, source, "the generator checkpoint (tfvaegan_model)")
    check_source(synthetic, source, "the synthetic features (synthetic_unseen_features)")
    made_by = synthetic.get("generator")  # absent in features saved before it was recorded
    if made_by is not None and made_by != models_digest(checkpoint):
        raise ValueError(
            f"the synthetic features (synthetic_unseen_features) were made by generator {made_by}, not by "
            f"the generator checkpoint given with them (tfvaegan_model, {models_digest(checkpoint)}): "
            "they come from different runs. Name one run's versions of both with --load-versions, or "
            "rerun synthesis on this generator (--from-nodes=synthesize_unseen_features)."
        )
    made_on = synthetic.get("rng_device", "cpu")
    if made_on not in ("cpu", device.type):
        raise ValueError(
            f"the synthetic features were made on {made_on} and their random stream continues only there: "
            f"run the classifier stage with --params device={made_on}, or rerun synthesis on {device.type} "
            "(--from-nodes=synthesize_unseen_features)"
        )
    return source


def classify_synthetic(
    checkpoint: Mapping[str, Any],
    ds: ZeroShotDataset,
    synthetic: Mapping[str, Any],
    device: torch.device,
    overrides: Mapping[str, Any] | None = None,
) -> ProtocolResult:
    """Train the ZSL and GZSL softmax classifiers on the transformed features, both protocols.

    The classifiers continue the random stream of the synthesis stage, in a generator of the
    device type it was made on: a CPU stream (a CPU run's, or ``noise_device: cpu``) continues on
    any device, its draws moved there; a CUDA stream only on CUDA, anything else is an error.
    The generator and the synthetic features must both come from ``ds`` (``source_data``, checked),
    and the features from this generator (``generator``, checked).
    """
    _check_stage_inputs(checkpoint, ds, synthetic, device)
    return _classify(checkpoint, ds, synthetic, device, overrides)


def _classify(
    checkpoint: Mapping[str, Any],
    ds: ZeroShotDataset,
    synthetic: Mapping[str, Any],
    device: torch.device,
    overrides: Mapping[str, Any] | None,
) -> ProtocolResult:
    """:func:`classify_synthetic` on inputs already checked (:func:`_check_stage_inputs`)."""
    models, config = load_models(checkpoint, device, overrides)
    data = prepare_features(ds, device)
    made_on = synthetic.get("rng_device", "cpu")
    gen = torch.Generator(device="cpu" if made_on == "cpu" else device)
    gen.set_state(synthetic["rng_state"])
    syn_x, syn_y = synthetic["features"].to(device), synthetic["labels"].to(device)
    return classify(models, data, config, syn_x, syn_y, generator=gen)


def reusable_evaluation(
    checkpoint: Mapping[str, Any],
    synthetic: Mapping[str, Any],
    device: torch.device,
    overrides: Mapping[str, Any] | None = None,
) -> dict[str, Any] | None:
    """The training stage's last-epoch evaluation (``last_evaluation`` of the checkpoint) when the
    classifier stage would repeat it exactly, else None.

    It is reused when it ran with the same settings (the checkpoint's, with ``overrides``), on
    the same device type, and on the same synthetic features and random stream
    (:func:`~zsl_pipeline.methods.tfvaegan.evaluate.synthetic_digest`): the synthesis stage
    reproduces that evaluation's features exactly, so the classifiers would come out the same.
    """
    record = checkpoint.get("last_evaluation")
    if not record:
        return None
    if record["device"] != device.type or record["settings"] != stage_config(checkpoint, overrides).to_dict():
        return None
    if record["synthetic"] != synthetic_digest(synthetic["features"], synthetic["labels"], synthetic["rng_state"]):
        return None
    return record


def train_classifiers(
    checkpoint: Mapping[str, Any],
    ds: ZeroShotDataset,
    synthetic: Mapping[str, Any],
    device: torch.device,
    overrides: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any], dict[str, Any], dict[str, list]]:
    """ZSL and GZSL softmax classifiers on x ⊕ Dec(x) ⊕ h (§2.7–2.8), ``classifier_*`` from
    ``overrides``. Returns (the classifiers' state dicts as CPU copies, so the saved file loads
    on a machine without the training device, both protocols' results with the per-class
    accuracies, the per-epoch classifier history columns); the first two stamped with
    ``source_data``.

    When the training stage's last-epoch evaluation ran on these very inputs
    (:func:`reusable_evaluation`), its classifiers and results are returned instead of training
    them again (the same numbers: the inputs are checked to be identical).
    """
    source = _check_stage_inputs(checkpoint, ds, synthetic, device)
    record = reusable_evaluation(checkpoint, synthetic, device, overrides)
    if record is not None:
        log.info("the classifiers of the training stage's last epoch (%d) ran on these inputs: reusing them",
                 record["epoch"])
        classifiers, results, history = record["classifiers"], record["results"], record["history"]
    else:
        classifiers, results, history = classifier_outputs(_classify(checkpoint, ds, synthetic, device, overrides))
    return stamped(classifiers, source), stamped(results, source), history
