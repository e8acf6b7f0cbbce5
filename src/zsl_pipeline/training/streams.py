"""Seeded random streams: every draw of every method comes from an explicit ``torch.Generator``.

A training run draws its weight initialisation from a CPU generator seeded with the run's
seed (the same weights on any device), then its training stream is a generator seeded from that
generator's next draw. Evaluation uses generators of its own (``seed + EVAL_SEED_OFFSET [+
epoch]``), so it never draws from the training stream and an epoch's evaluation is reproducible
on its own.

Where the training and evaluation streams live is the run's ``noise_device``:

* ``device`` (the default): on the training device. A CUDA generator and a CPU generator with the
  same seed give different numbers, so a GPU run and a CPU run of one seed see different noise,
  batches and classifier initialisations (they agree statistically, not number for number).
* ``cpu``: CPU generators on any device; every draw is made on the CPU and moved to the training
  device. A GPU run then consumes exactly the numbers a CPU run of the same seed consumes, so the
  two differ only by floating-point arithmetic. This exists to compare a GPU run with a CPU run;
  it costs a host-to-device copy per draw. On a CPU run both settings are the same stream.

Every draw goes through :func:`randn`, :func:`rand` or :func:`randperm`, which draw on the
generator's own device and move the result to the device asked for (a no-op when they are the
same, so the default draws are unchanged).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

#: Upper bound (exclusive) of the training-stream seed drawn from the init generator.
STREAM_SEED_BOUND = 2**62
#: Offset between a run's seed and the seeds of its evaluation streams.
EVAL_SEED_OFFSET = 1_000_003
#: Where the training and evaluation streams live (a config's ``noise_device``; module docstring).
NOISE_DEVICES = ("device", "cpu")


def stream_device(device: torch.device | str, noise_device: str = "device") -> torch.device:
    """The device of a run's random streams: ``device`` itself, or the CPU for ``noise_device="cpu"``."""
    if noise_device not in NOISE_DEVICES:
        raise ValueError(f"noise_device must be one of {NOISE_DEVICES}, got {noise_device!r}")
    return torch.device("cpu") if noise_device == "cpu" else torch.device(device)


def init_stream(seed: int) -> torch.Generator:
    """The CPU generator that draws a run's initial weights."""
    return torch.Generator().manual_seed(seed)


def training_stream(
    init_rng: torch.Generator, device: torch.device | str, noise_device: str = "device"
) -> torch.Generator:
    """A generator on :func:`stream_device` seeded from the next draw of ``init_rng`` (after the init)."""
    rng = torch.Generator(device=stream_device(device, noise_device))
    rng.manual_seed(int(torch.randint(0, STREAM_SEED_BOUND, (1,), generator=init_rng).item()))
    return rng


def eval_stream(
    seed: int, device: torch.device | str, epoch: int = 0, noise_device: str = "device"
) -> torch.Generator:
    """The evaluation generator of run ``seed`` (of generator epoch ``epoch`` when evaluated per
    epoch), on :func:`stream_device`."""
    gen = torch.Generator(device=stream_device(device, noise_device))
    gen.manual_seed(seed + EVAL_SEED_OFFSET + epoch)
    return gen


def randn(
    shape: Sequence[int], rng: torch.Generator, device: torch.device | str, dtype: torch.dtype | None = None
) -> Tensor:
    """N(0, 1) draws from ``rng``, made on ``rng``'s device, on ``device``."""
    return torch.randn(tuple(shape), generator=rng, device=rng.device, dtype=dtype).to(device)


def rand(
    shape: Sequence[int], rng: torch.Generator, device: torch.device | str, dtype: torch.dtype | None = None
) -> Tensor:
    """U[0, 1) draws from ``rng``, made on ``rng``'s device, on ``device``."""
    return torch.rand(tuple(shape), generator=rng, device=rng.device, dtype=dtype).to(device)


def randperm(n: int, rng: torch.Generator, device: torch.device | str) -> Tensor:
    """A random permutation of ``range(n)`` from ``rng``, made on ``rng``'s device, on ``device``."""
    return torch.randperm(n, generator=rng, device=rng.device).to(device)
