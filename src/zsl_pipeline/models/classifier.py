"""The final linear log-softmax classifier of TF-VAEGAN / f-CLSWGAN (methods_spec.md §2.2, §2.8)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zsl_pipeline.models.init import INIT_STD, init_linear, linear


class LinearLogSoftmax(nn.Module):
    """Linear(in_dim -> num_classes) followed by LogSoftmax; trained with NLL (§2.8).

    Initialised N(0, 0.02²), bias 0 (the reference's ``weights_init``), drawing from
    ``generator``: the layer is created on the generator's device, initialised there, then moved
    to ``device`` (default: stays there), so a CPU generator can initialise a GPU classifier
    (``noise_device: cpu``). Without a generator it is created on ``device`` (default: the CPU).
    """

    def __init__(
        self,
        in_dim: int,
        num_classes: int,
        generator: torch.Generator | None = None,
        device: torch.device | None = None,
    ):
        super().__init__()
        self.fc = linear(in_dim, num_classes, device=generator.device if generator is not None else device)
        init_linear(self, generator, std=INIT_STD)
        if device is not None:
            self.to(device)

    def forward(self, x: Tensor) -> Tensor:
        """Return log-probabilities (B, num_classes)."""
        return F.log_softmax(self.fc(x), dim=1)
