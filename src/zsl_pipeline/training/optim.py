"""The Adam optimiser as every reference configures it (methods_spec.md §2.4, §3.4, §4.2)."""

from __future__ import annotations

from typing import Iterable

import torch

#: β2 of every Adam in the references (only β1 and the learning rate vary).
ADAM_BETA2 = 0.999


def adam(params: Iterable[torch.nn.Parameter], lr: float, beta1: float) -> torch.optim.Adam:
    """``Adam(params, lr, betas=(beta1, 0.999))``."""
    return torch.optim.Adam(params, lr=lr, betas=(beta1, ADAM_BETA2))
