"""One TF-VAEGAN training run as the stages use it: preprocessing, per-epoch evaluation, a
progress bar, and a resume checkpoint that lets a killed run continue where it stopped."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import torch

from zsl_pipeline.data.contract import ZeroShotDataset
from zsl_pipeline.data.fingerprint import dataset_fingerprint
from zsl_pipeline.methods.base import method_code_version
from zsl_pipeline.methods.tfvaegan.checkpoint import RESUME_FREE_FIELDS, check_resumable
from zsl_pipeline.methods.tfvaegan.config import TFVAEGANConfig
from zsl_pipeline.methods.tfvaegan.evaluate import make_epoch_evaluator
from zsl_pipeline.methods.tfvaegan.loop import train_tfvaegan
from zsl_pipeline.methods.tfvaegan.models import TFVAEGANModels
from zsl_pipeline.training.checkpoint import save_checkpoint
from zsl_pipeline.training.features import prepare_features
from zsl_pipeline.training.progress import EpochProgressBar
from zsl_pipeline.training.resume import load_resume, with_code_version
from zsl_pipeline.training.stats import history_columns

log = logging.getLogger(__name__)


def checkpoint_path(folder: str | Path, ds: ZeroShotDataset, config: TFVAEGANConfig) -> Path:
    """Where a run of ``config`` on ``ds`` keeps its resume checkpoint.

    The name hashes the data and the settings that shape training (all but
    ``RESUME_FREE_FIELDS``), so a changed setting or dataset never resumes from another run's state.
    The code that wrote the file is recorded inside it (:func:`tfvaegan_code_version`).
    """
    settings = {k: v for k, v in config.to_dict().items() if k not in RESUME_FREE_FIELDS}
    key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]
    return Path(folder) / f"tfvaegan_{ds.name}_{dataset_fingerprint(ds)}_{key}.pt"


def tfvaegan_code_version() -> str:
    """The code version TF-VAEGAN's resume checkpoints are written with and checked against."""
    return method_code_version("zsl_pipeline.methods.tfvaegan")


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
    a run started again with the same data, settings and code version resumes from it (a
    checkpoint of other code is not resumed: a warning, and training starts from scratch; one with
    ``epochs_completed >= nepoch`` is refused, ValueError); the file is removed once training completes.
    The final checkpoint carries the last epoch's evaluation (``last_evaluation``), which the
    classifier stage reuses instead of repeating it when nothing changed.
    """
    data = prepare_features(ds, device)
    path = checkpoint_path(checkpoint_dir, ds, config) if checkpoint_dir else None
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    code = tfvaegan_code_version()
    resume = load_resume(path, code) if path is not None else None
    if resume is not None:
        check_resumable(resume, config, device, where=f"checkpoint {path}")
        log.info("found checkpoint %s after epoch %d: resuming", path, resume["epochs_completed"])
    bar = EpochProgressBar(total=config.nepoch, desc=f"TF-VAEGAN {ds.name}", enabled=show_progress)
    last_evaluation: dict[str, Any] = {}
    evaluator = make_epoch_evaluator(data, config, device, on_last=last_evaluation.update)

    def on_epoch(epoch: int, stats: dict[str, float], models: TFVAEGANModels) -> dict[str, float]:
        metrics = evaluator(epoch, stats, models)
        bar.set_metrics(
            {"ZSL": metrics["final_zsl_accuracy"], "H": metrics["final_harmonic_mean"], "λ": stats["gp_weight"]}
        )
        return metrics

    on_checkpoint = (lambda state: save_checkpoint(with_code_version(state, code), path)) if path is not None else None
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
    checkpoint = result.checkpoint()
    if last_evaluation:
        checkpoint["last_evaluation"] = last_evaluation  # for the later stages (stages.reusable_evaluation)
    return checkpoint, history_columns(result.history)
