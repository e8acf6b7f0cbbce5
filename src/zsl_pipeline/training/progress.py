"""A tqdm progress bar over epochs that shows the latest metrics, with an inner bar over the
iterations of the current epoch (long epochs: a CUB epoch of TF-VAEGAN is minutes on a GPU and
a quarter of an hour on a CPU)."""

from __future__ import annotations

import contextlib
from typing import Mapping

from tqdm.auto import tqdm

from zsl_pipeline.training.events import iteration_listener


class EpochProgressBar:
    """``with EpochProgressBar(total, desc) as bar: bar.advance_to(n); bar.set_metrics({...})``.

    Inside the ``with`` block, the iterations the loops report
    (:func:`~zsl_pipeline.training.events.emit_iteration`) move an inner bar, reset every epoch.
    Disabled, it draws nothing and listens to nothing.
    """

    def __init__(self, total: int, desc: str, enabled: bool = True, unit: str = "epoch"):
        self._enabled = enabled
        self._bar = tqdm(total=total, desc=desc, unit=unit, disable=not enabled, dynamic_ncols=True)
        self._inner: tqdm | None = None
        self._listening = contextlib.ExitStack()

    def advance_to(self, done: int) -> None:
        self._bar.update(done - self._bar.n)

    def set_metrics(self, metrics: Mapping[str, float]) -> None:
        self._bar.set_postfix({k: f"{v:.4g}" for k, v in metrics.items()}, refresh=False)

    def iteration(self, done: int, total: int) -> None:
        """``done`` of ``total`` iterations of the current epoch (a smaller ``done`` starts a new epoch)."""
        if self._inner is None:
            self._inner = tqdm(total=total, desc="  iterations", unit="it", leave=False, dynamic_ncols=True)
        if done < self._inner.n or total != self._inner.total:
            self._inner.reset(total=total)
        self._inner.update(done - self._inner.n)

    def __enter__(self) -> "EpochProgressBar":
        if self._enabled:
            self._listening.enter_context(iteration_listener(self.iteration))
        return self

    def __exit__(self, *exc) -> None:
        self._listening.close()
        if self._inner is not None:
            self._inner.close()
            self._inner = None
        self._bar.close()
