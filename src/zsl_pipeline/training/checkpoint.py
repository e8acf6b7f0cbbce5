"""One checkpoint envelope for every method (architecture.md house style 9).

A checkpoint is a plain dict of tensors, numbers, strings, booleans, None, lists and dicts, so
``torch.load(..., weights_only=True)`` reads it. Every tensor is a CPU copy: a checkpoint taken
mid-run is not changed by further training, and it loads on a machine without the training
device. Every method's checkpoint holds the same envelope::

    {"format": "zsl_pipeline.<method>/<version>", "method", "config", "models": {name: state_dict},
     "history": [per-epoch rows], "feature_dim", "attr_dim", ...method-specific state}

The stage that saves a checkpoint adds ``source_data`` (``{"dataset", "fingerprint"}``, from
:mod:`zsl_pipeline.data.fingerprint`): the data it was trained on, which every stage that loads
it checks against the data it is given.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any, Mapping

import torch
from torch import nn


def cpu_copy(obj: Any) -> Any:
    """Deep copy of nested dicts/lists with every tensor detached, cloned and moved to the CPU."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, Mapping):
        return {key: cpu_copy(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [cpu_copy(value) for value in obj]
    return obj


def checkpoint_format(method: str, version: int) -> str:
    """The format tag of ``method``'s checkpoints; bump ``version`` when the layout changes."""
    return f"zsl_pipeline.{method}/{version}"


def envelope(
    *,
    method: str,
    version: int,
    config: Mapping[str, Any],
    models: Mapping[str, nn.Module],
    history: list[dict[str, float]],
    feature_dim: int,
    attr_dim: int,
    **state: Any,
) -> dict[str, Any]:
    """The checkpoint of a run: the envelope's fields, then ``state`` (optimisers, RNG, ...) as CPU copies."""
    return {
        "format": checkpoint_format(method, version),
        "method": method,
        "config": dict(config),
        "models": {name: cpu_copy(net.state_dict()) for name, net in models.items()},
        "history": cpu_copy(history),
        "feature_dim": int(feature_dim),
        "attr_dim": int(attr_dim),
        **{key: cpu_copy(value) for key, value in state.items()},
    }


def tensor_bytes(tensor: torch.Tensor) -> bytes:
    """The raw bytes of a tensor's elements in row-major order (on any device), for hashing."""
    return tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()


def models_digest(checkpoint: Mapping[str, Any]) -> str:
    """A short hash of a checkpoint's trained weights (``models``: every state dict's tensors, in
    name order), so an output made from it can name the very networks it came from."""
    h = hashlib.sha256()
    for name in sorted(checkpoint["models"]):
        for key, tensor in sorted(checkpoint["models"][name].items()):
            h.update(f"{name}.{key}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
            h.update(tensor_bytes(tensor))
    return h.hexdigest()[:16]


def check_format(checkpoint: Mapping[str, Any], method: str, version: int) -> None:
    """Raise ValueError unless ``checkpoint`` is ``method``'s checkpoint of format ``version``."""
    expected = checkpoint_format(method, version)
    if checkpoint.get("format") != expected:
        raise ValueError(f"not a checkpoint of format {expected!r}: {checkpoint.get('format')!r}")


def save_checkpoint(state: Mapping[str, Any], path: str | os.PathLike) -> None:
    """Write a checkpoint with ``torch.save`` (atomically: temp file, then rename)."""
    tmp = f"{os.fspath(path)}.tmp"
    torch.save(dict(state), tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint with ``torch.load(weights_only=True)`` onto the CPU."""
    return torch.load(path, map_location="cpu", weights_only=True)
