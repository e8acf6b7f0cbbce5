"""Linear layers built without a random draw, and the reference's N(0, 0.02²) initialisation.

Every method builds its layers with :func:`linear` (``skip_init``: no draw from any RNG) and
then initialises them from an explicit generator, so a network's weights depend only on its
seed, whatever the device.
"""

from __future__ import annotations

import torch
from torch import nn

#: Standard deviation of the N(0, std²) weight initialisation (methods_spec.md §2.2, ``weights_init``).
INIT_STD = 0.02


def linear(in_features: int, out_features: int, device: torch.device | None = None) -> nn.Linear:
    """An uninitialised Linear layer (``skip_init``: no RNG draw; init happens in ``init_linear``)."""
    return torch.nn.utils.skip_init(nn.Linear, in_features, out_features, device=device or "cpu")


def init_linear(module: nn.Module, generator: torch.Generator | None = None, std: float = INIT_STD) -> None:
    """Initialise every Linear in ``module``: weights N(0, std²), bias 0 (§2.2).

    ``generator`` (on the layers' device) makes the init reproducible without touching the
    global RNG.
    """
    for layer in module.modules():
        if isinstance(layer, nn.Linear):
            with torch.no_grad():
                nn.init.normal_(layer.weight, mean=0.0, std=std, generator=generator)
                if layer.bias is not None:
                    layer.bias.zero_()
