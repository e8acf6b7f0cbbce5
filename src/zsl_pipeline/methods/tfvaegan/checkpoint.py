"""TF-VAEGAN checkpoints: the shared envelope (``training.checkpoint``) plus the state to resume.

Besides the envelope's fields a checkpoint holds ``epochs_completed``, the Adam states, λ and
the training RNG, so an interrupted run continues bit-identically (same device type).
"""

from __future__ import annotations

from typing import Any, Mapping

import torch

from zsl_pipeline.methods.tfvaegan.config import TFVAEGANConfig
from zsl_pipeline.methods.tfvaegan.models import TFVAEGANModels
from zsl_pipeline.training.checkpoint import check_format, envelope
from zsl_pipeline.training.epoch_resume import epoch_state, restore_epoch_state
from zsl_pipeline.training.resume import check_unfinished
from zsl_pipeline.training.streams import stream_device

METHOD = "tfvaegan"
#: Version of the checkpoint layout; bump when it changes.
FORMAT_VERSION = 1
#: Config fields that do not change the training trajectory, so they may differ on resume.
RESUME_FREE_FIELDS = frozenset(
    {
        "nepoch",
        "eval_every",
        "checkpoint_every",
        "syn_num",
        "a2",
        "classifier_lr",
        "classifier_epochs",
        "classifier_batch_size",
        "classifier_input",
    }
)


def make_checkpoint(
    *,
    config: TFVAEGANConfig,
    epochs_completed: int,
    models: TFVAEGANModels,
    optimizers: Any,
    gp_weight: float,
    rng: torch.Generator,
    history: list[dict[str, float]],
    feature_dim: int,
    attr_dim: int,
) -> dict[str, Any]:
    """The complete training state after ``epochs_completed`` epochs, in the shared envelope."""
    return envelope(
        method=METHOD,
        version=FORMAT_VERSION,
        config=config.to_dict(),
        models=models.networks(),
        history=history,
        feature_dim=feature_dim,
        attr_dim=attr_dim,
        gp_weight=float(gp_weight),
        **epoch_state(epochs_completed, optimizers.as_dict(), rng),
    )


def check_resumable(
    state: Mapping[str, Any], config: TFVAEGANConfig, device: torch.device, where: str = "the checkpoint"
) -> None:
    """Raise ValueError when ``state`` cannot continue a run configured by ``config`` on ``device``:
    other settings that shape training, another random stream device, or nothing left to train
    (``epochs_completed >= nepoch``). ``where`` names the checkpoint in the message (its file)."""
    check_format(state, METHOD, FORMAT_VERSION)
    saved, current = state["config"], config.to_dict()
    differ = sorted(k for k in current if k not in RESUME_FREE_FIELDS and saved.get(k) != current[k])
    if differ:
        detail = ", ".join(f"{k}: saved {saved.get(k)!r} vs now {current[k]!r}" for k in differ)
        raise ValueError(f"cannot resume: settings that shape training differ ({detail})")
    stream_type = stream_device(device, config.noise_device).type
    if state["rng"]["device_type"] != stream_type:
        raise ValueError(
            f"cannot resume a run whose random stream is on {state['rng']['device_type']} with a stream on "
            f"{stream_type} (device {device.type}, noise_device {config.noise_device}): the random streams differ"
        )
    check_unfinished(int(state["epochs_completed"]), config.nepoch, where)


def restore_checkpoint(
    state: Mapping[str, Any], models: TFVAEGANModels, optimizers: Any, rng: torch.Generator
) -> tuple[int, float, list[dict[str, float]]]:
    """Load weights, Adam states and RNG state in place; return (epochs_completed, λ, history)."""
    epochs_completed, history = restore_epoch_state(state, models.networks(), optimizers.as_dict(), rng)
    return epochs_completed, float(state["gp_weight"]), history
