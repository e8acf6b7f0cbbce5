"""Per-epoch statistics that stay on the device, and the history every loop returns.

A loop adds one stats vector per step to a group (e.g. ``critic`` and ``generator``): a step's
means (``count`` 1, the default), or its sums over ``count`` samples (a batch). At the end of
the epoch :meth:`EpochStats.close` divides each group by its total count, syncs with the host
once and raises ``FloatingPointError`` when a value is not finite. The history every loop
returns is a list of rows, one dict per epoch with ``epoch`` (1-based: the epochs completed) first.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import torch


class EpochStats:
    """Device-side sums of named statistics in groups, one host sync per epoch."""

    def __init__(self, device: torch.device, dtype: torch.dtype = torch.float32, **groups: Sequence[str]):
        self._names = {group: tuple(names) for group, names in groups.items()}
        self._sums = {g: torch.zeros(len(names), device=device, dtype=dtype) for g, names in self._names.items()}
        self._counts = dict.fromkeys(self._names, 0)

    def add(self, group: str, values: torch.Tensor, count: int = 1) -> None:
        """Add one stats vector (ordered as the group's names) to ``group``: values summed over
        ``count`` samples (1: one step's values, e.g. its mean losses)."""
        self._sums[group] += values
        self._counts[group] += count

    def close(self, epoch: int, label: str) -> dict[str, float]:
        """``{"epoch": epoch, name: mean, ...}`` over every group, then reset.

        Raises FloatingPointError naming ``label`` and the epoch when a mean is not finite.
        """
        names = [name for group in self._names for name in self._names[group]]
        means = torch.cat([self._sums[g] / self._counts[g] for g in self._names]).tolist()  # the one sync
        row: dict[str, float] = {"epoch": epoch, **dict(zip(names, means))}
        if not all(math.isfinite(v) for v in means):
            raise FloatingPointError(f"{label} diverged in epoch {epoch}: {row}")
        for group in self._names:
            self._sums[group].zero_()
            self._counts[group] = 0
        return row


def history_columns(history: Sequence[Mapping[str, float]]) -> dict[str, list[float | None]]:
    """Per-epoch rows -> ``{"epoch": [...], name: [...]}`` (None where an epoch lacks a value)."""
    names: list[str] = []
    for record in history:
        names += [k for k in record if k not in names]
    return {name: [record.get(name) for record in history] for name in names}
