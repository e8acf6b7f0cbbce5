"""Device choice and mixed precision, the same for every stage and method."""

from __future__ import annotations

import contextlib
from typing import ContextManager

import torch

#: Autocast dtypes by name (the names the parameter files use).
AMP_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16}


def resolve_device(name: str = "auto") -> torch.device:
    """``auto``: CUDA when present, else CPU; anything else is passed to ``torch.device``."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device '{name}' was asked for but CUDA is not available here")
    return device


def same_device(a: torch.device | str, b: torch.device | str) -> bool:
    """True when tensors on ``a`` can be used on ``b``; ``cuda`` without index is ``cuda:<current>``."""
    a, b = torch.device(a), torch.device(b)
    if a.type != b.type:
        return False
    if a.type != "cuda":
        return True
    if a.index is None or b.index is None:
        current = torch.cuda.current_device()
        return (a.index if a.index is not None else current) == (b.index if b.index is not None else current)
    return a.index == b.index


def check_same_device(data_device: torch.device, device: torch.device, what: str = "training") -> None:
    """Raise ValueError when tensors on ``data_device`` cannot be used for ``what`` on ``device``."""
    if not same_device(data_device, device):
        raise ValueError(f"features are on {data_device} but {what} was asked to run on {device}")


def autocast(device: torch.device, enabled: bool, dtype: str) -> ContextManager:
    """Autocast to ``dtype`` (a key of :data:`AMP_DTYPES`) on CUDA when ``enabled``; a no-op
    context elsewhere, so the CPU path always runs float32."""
    if enabled and device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=AMP_DTYPES[dtype])
    return contextlib.nullcontext()
