"""Seeded random streams: every draw of every method comes from an explicit ``torch.Generator``.

A training run draws its weight initialisation from a CPU generator seeded with the run's
seed (the same weights on any device), then its training stream is a generator on the
training device seeded from that generator's next draw. Evaluation uses generators of its own
(``seed + EVAL_SEED_OFFSET [+ epoch]``), so it never draws from the training stream and an
epoch's evaluation is reproducible on its own.
"""

from __future__ import annotations

import torch

#: Upper bound (exclusive) of the training-stream seed drawn from the init generator.
STREAM_SEED_BOUND = 2**62
#: Offset between a run's seed and the seeds of its evaluation streams.
EVAL_SEED_OFFSET = 1_000_003


def init_stream(seed: int) -> torch.Generator:
    """The CPU generator that draws a run's initial weights."""
    return torch.Generator().manual_seed(seed)


def training_stream(init_rng: torch.Generator, device: torch.device) -> torch.Generator:
    """A ``device`` generator seeded from the next draw of ``init_rng`` (after the init)."""
    rng = torch.Generator(device=device)
    rng.manual_seed(int(torch.randint(0, STREAM_SEED_BOUND, (1,), generator=init_rng).item()))
    return rng


def eval_stream(seed: int, device: torch.device, epoch: int = 0) -> torch.Generator:
    """The evaluation generator of run ``seed`` (of generator epoch ``epoch`` when evaluated per epoch)."""
    gen = torch.Generator(device=device)
    gen.manual_seed(seed + EVAL_SEED_OFFSET + epoch)
    return gen
