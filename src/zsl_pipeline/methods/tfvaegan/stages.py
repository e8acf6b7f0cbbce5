"""The TF-VAEGAN stages as the pipeline runs them: train (with resume), synthesize, classify.

Each function takes and returns plain objects (the data contract, checkpoint dicts, tensors),
so a node only unpacks parameters and calls one of them, and a notebook can do the same.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from zsl_pipeline.data.contract import ZeroShotDataset
from zsl_pipeline.evaluation.metrics import report_names
from zsl_pipeline.evaluation.protocols import ProtocolResult, reference_best_over_epochs
from zsl_pipeline.methods.tfvaegan.checkpoint import RESUME_FREE_FIELDS, check_resumable
from zsl_pipeline.methods.tfvaegan.config import TFVAEGANConfig
from zsl_pipeline.methods.tfvaegan.evaluate import classify, make_epoch_evaluator, synthesize_unseen
from zsl_pipeline.methods.tfvaegan.loop import build_training_state, train_tfvaegan
from zsl_pipeline.methods.tfvaegan.models import TFVAEGANModels
from zsl_pipeline.training.checkpoint import load_checkpoint, save_checkpoint
from zsl_pipeline.training.features import prepare_features
from zsl_pipeline.training.progress import EpochProgressBar
from zsl_pipeline.training.stats import history_columns
from zsl_pipeline.training.streams import eval_stream

log = logging.getLogger(__name__)

#: Settings the synthesis and classifier stages may take from the current parameters instead of
#: the generator checkpoint (they do not change the trained generator).
STAGE_SETTINGS = frozenset({"syn_num", "a2", "classifier_lr", "classifier_epochs", "classifier_batch_size",
                            "classifier_input"})

def dataset_fingerprint(ds: ZeroShotDataset) -> str:
    """A short hash of the features, labels, embeddings and splits (names a resume checkpoint)."""
    h = hashlib.sha256()
    for array in (ds.features, ds.labels, ds.class_embeddings, *(ds.splits[k] for k in sorted(ds.splits))):
        h.update(np.ascontiguousarray(array).tobytes())
    return h.hexdigest()[:16]


def checkpoint_path(folder: str | Path, ds: ZeroShotDataset, config: TFVAEGANConfig) -> Path:
    """Where a run of ``config`` on ``ds`` keeps its resume checkpoint.

    The name hashes the data and the settings that shape training (all but
    ``RESUME_FREE_FIELDS``), so a changed setting or dataset never resumes from another run's state.
    """
    settings = {k: v for k, v in config.to_dict().items() if k not in RESUME_FREE_FIELDS}
    key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]
    return Path(folder) / f"tfvaegan_{ds.name}_{dataset_fingerprint(ds)}_{key}.pt"


def train_stage(
    ds: ZeroShotDataset,
    config: TFVAEGANConfig,
    device: torch.device,
    checkpoint_dir: str | Path | None = None,
    show_progress: bool = True,
) -> tuple[dict[str, Any], dict[str, list[float | None]]]:
    """Train TF-VAEGAN on ``ds`` and return (final checkpoint, per-epoch history columns).

    Every ``config.eval_every`` epochs the generator is evaluated (synthesis + both classifier
    protocols), giving the per-epoch ZSL/GZSL curves and the reference's best-on-test selection.
    With ``checkpoint_dir``, a checkpoint is written every ``config.checkpoint_every`` epochs and
    a run started again with the same data and settings resumes from it; the file is removed
    once training completes.
    """
    data = prepare_features(ds, device)
    path = checkpoint_path(checkpoint_dir, ds, config) if checkpoint_dir else None
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    resume = None
    if path is not None and path.is_file():
        resume = load_checkpoint(path)
        check_resumable(resume, config, device)
        log.info("found checkpoint %s after epoch %d: resuming", path, resume["epochs_completed"])
    bar = EpochProgressBar(total=config.nepoch, desc=f"TF-VAEGAN {ds.name}", enabled=show_progress)
    evaluator = make_epoch_evaluator(data, config, device)

    def on_epoch(epoch: int, stats: dict[str, float], models: TFVAEGANModels) -> dict[str, float]:
        metrics = evaluator(epoch, stats, models)
        bar.set_metrics(
            {"ZSL": metrics["final_zsl_accuracy"], "H": metrics["final_harmonic_mean"], "λ": stats["gp_weight"]}
        )
        return metrics

    on_checkpoint = (lambda state: save_checkpoint(state, path)) if path is not None else None
    if resume is not None:
        bar.advance_to(int(resume["epochs_completed"]))
    with bar:
        result = train_tfvaegan(
            data,
            config,
            device,
            callback=on_epoch,
            resume_from=resume,
            on_checkpoint=on_checkpoint,
            progress=lambda done, total: bar.advance_to(done),
        )
    if path is not None and path.is_file():
        path.unlink()
    return result.checkpoint(), history_columns(result.history)


def load_models(
    checkpoint: Mapping[str, Any], device: torch.device, overrides: Mapping[str, Any] | None = None
) -> tuple[TFVAEGANModels, TFVAEGANConfig]:
    """The five trained networks (eval mode, on ``device``) and the config of a checkpoint.

    ``overrides`` may change the settings that do not shape generator training (synthesis and
    classifier settings such as ``syn_num``, ``a2``, ``classifier_*``), so the later stages can
    be rerun with new values on a cached generator; other keys of ``overrides`` are ignored.
    """
    saved = dict(checkpoint["config"])
    saved.update({k: v for k, v in (overrides or {}).items() if k in STAGE_SETTINGS})
    config = TFVAEGANConfig.from_params(saved)
    models, _, _ = build_training_state(
        config, feature_dim=int(checkpoint["feature_dim"]), attr_dim=int(checkpoint["attr_dim"]), device=device
    )
    for name, net in models.networks().items():
        net.load_state_dict(checkpoint["models"][name])
    return models.eval(), config


def synthesize_stage(
    checkpoint: Mapping[str, Any],
    ds: ZeroShotDataset,
    device: torch.device,
    overrides: Mapping[str, Any] | None = None,
) -> dict[str, torch.Tensor]:
    """``syn_num`` synthetic features per unseen class (one feedback step with δ = a2, §2.7).

    Returns CPU tensors ``{"features": (n·syn_num, D), "labels": (n·syn_num,), "rng_state"}`` in
    the scaled feature space of the training stage. The RNG is the last epoch's evaluation RNG
    and its state after synthesis is kept, so the classifier stage continues the same stream:
    synthesis + classifiers reproduce the training stage's last-epoch evaluation exactly.
    """
    models, config = load_models(checkpoint, device, overrides)
    data = prepare_features(ds, device)
    gen = eval_stream(config.seed, device, int(checkpoint["epochs_completed"]) - 1)
    x, y = synthesize_unseen(models, data, config, gen)
    return {"features": x.cpu(), "labels": y.cpu(), "rng_state": gen.get_state().cpu()}


def classify_stage(
    checkpoint: Mapping[str, Any],
    ds: ZeroShotDataset,
    synthetic: Mapping[str, torch.Tensor],
    device: torch.device,
    overrides: Mapping[str, Any] | None = None,
) -> ProtocolResult:
    """Train the ZSL and GZSL softmax classifiers on the transformed features, both protocols."""
    models, config = load_models(checkpoint, device, overrides)
    data = prepare_features(ds, device)
    gen = torch.Generator(device=device)
    gen.set_state(synthetic["rng_state"])
    return classify(models, data, config, synthetic["features"].to(device), synthetic["labels"].to(device), gen)


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
        if columns.get("test_best_zsl_accuracy", [None] * (i + 1))[i] is not None
    ]
    return {
        "final": report_names(final),
        "best_on_test": _best_on_test_selection(evaluated),
        "best_on_test_note": "selected on test labels over classifier and generator epochs "
        "(the reference protocol): optimistic",
        "evaluated_epochs": len(evaluated),
    }


def _best_on_test_selection(evaluated: list[dict[str, float]]) -> dict[str, float]:
    """The reference's test-selected numbers, named like ``final``, with the generator epochs."""
    if not evaluated:
        return {}
    best = reference_best_over_epochs(evaluated)

    def epoch_of(index: float) -> int:
        return int(evaluated[int(index)]["epoch"]) if index >= 0 else -1

    return {
        **report_names(best),
        "zsl_generator_epoch": epoch_of(best["zsl_index"]),
        "gzsl_generator_epoch": epoch_of(best["gzsl_index"]),
    }
