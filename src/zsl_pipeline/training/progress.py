"""A tqdm progress bar over epochs that shows the latest metrics."""

from __future__ import annotations

from typing import Mapping

from tqdm.auto import tqdm


class EpochProgressBar:
    """``with EpochProgressBar(total, desc) as bar: bar.advance_to(n); bar.set_metrics({...})``."""

    def __init__(self, total: int, desc: str, enabled: bool = True, unit: str = "epoch"):
        self._bar = tqdm(total=total, desc=desc, unit=unit, disable=not enabled, dynamic_ncols=True)

    def advance_to(self, done: int) -> None:
        self._bar.update(done - self._bar.n)

    def set_metrics(self, metrics: Mapping[str, float]) -> None:
        self._bar.set_postfix({k: f"{v:.4g}" for k, v in metrics.items()}, refresh=False)

    def __enter__(self) -> "EpochProgressBar":
        return self

    def __exit__(self, *exc) -> None:
        self._bar.close()
