"""The Adam optimiser as every reference configures it (methods_spec.md §2.4, §3.4, §4.2).

Built with ``fused=True`` where the installed torch has a fused kernel for the parameters'
device (CUDA; the CPU from torch 2.4): one pass over each parameter, gradient and moment
buffer per step instead of one per elementwise operation. On CUB-shaped TF-VAEGAN training on
the CPU the unfused update took about a third of each iteration (benchmarks/tfvaegan_speed.py).
The update is the same Adam; only its floating-point rounding may differ from the unfused one.
"""

from __future__ import annotations

from typing import Any, Iterable

import torch

#: β2 of every Adam in the references (only β1 and the learning rate vary).
ADAM_BETA2 = 0.999


def fused_adam(params: Iterable[Any], **options: Any) -> torch.optim.Adam:
    """``torch.optim.Adam(params, **options)``, fused when this torch supports it for the device.

    ``params`` may be parameters or parameter groups, as for ``torch.optim.Adam``.
    """
    params = list(params)
    try:
        return torch.optim.Adam(params, fused=True, **options)
    except (RuntimeError, TypeError, ValueError):
        # older torch: no fused kernel for this device (or no ``fused`` argument at all)
        return torch.optim.Adam(params, **options)


def adam(params: Iterable[torch.nn.Parameter], lr: float, beta1: float) -> torch.optim.Adam:
    """``Adam(params, lr, betas=(beta1, 0.999))``, fused where supported."""
    return fused_adam(params, lr=lr, betas=(beta1, ADAM_BETA2))
