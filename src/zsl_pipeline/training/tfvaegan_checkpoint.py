"""Self-describing TF-VAEGAN checkpoints (architecture.md house style 9).

A checkpoint holds only tensors, numbers, strings, booleans, None, lists and dicts, so
``torch.load(..., weights_only=True)`` reads it. Every tensor is a CPU copy: a checkpoint taken
mid-run is not changed by further training. Resuming restores the weights, the Adam states, λ
and the training RNG, so an interrupted run continues bit-identically (same device type).
"""

from __future__ import annotations

import os
from typing import Any, Mapping

import torch

from zsl_pipeline.models.tfvaegan import TFVAEGANModels
from zsl_pipeline.training.tfvaegan_config import TFVAEGANConfig

#: Format tag stored in every checkpoint; bump when the layout changes.
CHECKPOINT_FORMAT = "zsl_pipeline.tfvaegan/1"
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


def _cpu_copy(obj: Any) -> Any:
    """Deep copy of nested dicts/lists with every tensor detached, cloned and moved to the CPU."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, Mapping):
        return {key: _cpu_copy(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_cpu_copy(value) for value in obj]
    return obj


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
    """The complete training state after ``epochs_completed`` epochs, as a plain dict."""
    return {
        "format": CHECKPOINT_FORMAT,
        "config": config.to_dict(),
        "epochs_completed": int(epochs_completed),
        "feature_dim": int(feature_dim),
        "attr_dim": int(attr_dim),
        "models": {name: _cpu_copy(net.state_dict()) for name, net in models.networks().items()},
        "optimizers": {name: _cpu_copy(opt.state_dict()) for name, opt in optimizers.as_dict().items()},
        "gp_weight": float(gp_weight),
        "rng": {"device_type": rng.device.type, "state": rng.get_state().clone()},
        "history": _cpu_copy(history),
    }


def check_resumable(state: Mapping[str, Any], config: TFVAEGANConfig, device: torch.device) -> None:
    """Raise ValueError when ``state`` cannot continue a run configured by ``config`` on ``device``."""
    if state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(
            f"not a TF-VAEGAN checkpoint of format {CHECKPOINT_FORMAT!r}: {state.get('format')!r}"
        )
    saved, current = state["config"], config.to_dict()
    differ = sorted(k for k in current if k not in RESUME_FREE_FIELDS and saved.get(k) != current[k])
    if differ:
        detail = ", ".join(f"{k}: saved {saved.get(k)!r} vs now {current[k]!r}" for k in differ)
        raise ValueError(f"cannot resume: settings that shape training differ ({detail})")
    if state["rng"]["device_type"] != device.type:
        raise ValueError(
            f"cannot resume a {state['rng']['device_type']} run on {device.type}: the random streams differ"
        )
    if state["epochs_completed"] > config.nepoch:
        raise ValueError(
            f"checkpoint has {state['epochs_completed']} epochs, more than nepoch={config.nepoch}"
        )


def restore_checkpoint(
    state: Mapping[str, Any], models: TFVAEGANModels, optimizers: Any, rng: torch.Generator
) -> tuple[int, float, list[dict[str, float]]]:
    """Load weights, Adam states and RNG state in place; return (epochs_completed, λ, history)."""
    for name, net in models.networks().items():
        net.load_state_dict(state["models"][name])
    for name, opt in optimizers.as_dict().items():
        opt.load_state_dict(state["optimizers"][name])
    rng.set_state(state["rng"]["state"])
    history = [dict(entry) for entry in state["history"]]
    return int(state["epochs_completed"]), float(state["gp_weight"]), history


def save_checkpoint(state: Mapping[str, Any], path: str | os.PathLike) -> None:
    """Write a checkpoint with ``torch.save`` (atomically: temp file, then rename)."""
    tmp = f"{os.fspath(path)}.tmp"
    torch.save(dict(state), tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint with ``torch.load(weights_only=True)`` onto the CPU."""
    return torch.load(path, map_location="cpu", weights_only=True)
