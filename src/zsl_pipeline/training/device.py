"""Device choice and mixed precision, the same for every stage and method."""

from __future__ import annotations

import contextlib
from typing import ContextManager, Iterator

import torch


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


#: Numeric precision of a run: ``fp32`` (the references'), TF32 matmuls and convolutions, or
#: autocast to bfloat16 / float16. Anything but fp32 needs CUDA.
PRECISIONS = ("fp32", "tf32", "bf16", "fp16")
#: The precisions a training loop offers: fp16 would need loss scaling (a grad scaler).
TRAINING_PRECISIONS = ("fp32", "tf32", "bf16")
#: The precisions that autocast, and their dtypes.
AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def check_precision(precision: str, device: torch.device) -> None:
    """Raise ValueError when ``precision`` cannot run on ``device`` (the CPU runs fp32 only;
    bf16 needs a GPU that has it, which a V100 does not)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision != "fp32" and device.type != "cuda":
        raise ValueError(
            f"precision {precision!r} needs a CUDA device; on {device.type} training runs in fp32 only "
            "(set precision: fp32)"
        )
    if precision == "bf16" and not torch.cuda.is_bf16_supported():
        raise ValueError("this GPU has no bfloat16 support: choose precision fp32 or tf32")


def precision_autocast(device: torch.device, precision: str) -> ContextManager:
    """Autocast for ``bf16`` / ``fp16`` on CUDA; a no-op for fp32 and tf32, and on the CPU, which
    always runs float32."""
    if precision in AUTOCAST_DTYPES and device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=AUTOCAST_DTYPES[precision])
    return contextlib.nullcontext()


@contextlib.contextmanager
def tf32_allowed(enabled: bool) -> Iterator[None]:
    """TF32 for CUDA matmuls and cuDNN convolutions while the context is open (``precision: tf32``)
    and not otherwise (PyTorch allows it for convolutions by default: fp32 means fp32 here);
    the previous settings are restored after."""
    before = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = enabled
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before
