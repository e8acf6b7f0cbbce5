"""The epoch channel: every training loop announces each finished epoch here, as it happens.

A loop calls :func:`emit_epoch` once per finished epoch with that epoch's history row (already
on the host: the row's one sync per epoch is the only one). Listeners registered with
:func:`epoch_listener` receive ``(stage, epoch, values)``; with none registered the call does
nothing. The MLflow hook (``zsl_pipeline.hooks``) is one such listener, so the library never
imports mlflow, and a long run's losses and metrics reach the tracking store epoch by epoch.

``stage`` names the training stage (``tfvaegan_train``, ``clswgan_train``, ``cada_vae_train``,
``finetune``, ``inversion``); :func:`epoch_scope` adds labels after it (the method runner adds
``seed<k>``), so ``clswgan_train.seed0`` and ``clswgan_train.seed1`` stay apart.

Listeners are called in the order they were registered; an exception in one propagates to the
loop (a listener that must never stop training, such as tracking, catches its own errors).

Inside an epoch, loops report their iterations with :func:`emit_iteration` (``done`` of
``total`` iterations of the current epoch) to the listeners of :func:`iteration_listener`
(the progress bar's inner bar: a CUB epoch is minutes long). No device sync: only counts.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Callable, ContextManager, Iterator, Mapping

#: listener(stage, epoch, values): values are the row's finite numbers, ``epoch`` left out.
EpochListener = Callable[[str, int, Mapping[str, float]], None]

#: listener(done, total): ``done`` of ``total`` iterations of the current epoch are finished.
IterationListener = Callable[[int, int], None]

_listeners: list[EpochListener] = []
_scopes: list[str] = []
_iteration_listeners: list[IterationListener] = []


@contextmanager
def _registered(listeners: list, listener: Callable) -> Iterator[Callable]:
    """``listener`` in ``listeners`` for the duration of the ``with`` block."""
    listeners.append(listener)
    try:
        yield listener
    finally:
        listeners.remove(listener)


def epoch_listener(listener: EpochListener) -> ContextManager[EpochListener]:
    """Call ``listener`` for every epoch emitted inside the ``with`` block."""
    return _registered(_listeners, listener)


@contextmanager
def epoch_scope(label: str) -> Iterator[None]:
    """Epochs emitted inside the block carry ``label`` after their stage (``stage.label``)."""
    _scopes.append(label)
    try:
        yield
    finally:
        _scopes.pop()


def has_listeners() -> bool:
    return bool(_listeners)


def emit_epoch(stage: str, epoch: int, values: Mapping[str, object]) -> None:
    """Tell the listeners that ``stage`` finished ``epoch`` (1-based) with ``values`` (a history
    row: its ``epoch`` key, non-numbers and non-finite numbers are left out). Reads only."""
    if not _listeners:
        return
    name = ".".join([stage, *_scopes])
    numbers = {
        key: float(value)
        for key, value in values.items()
        if key != "epoch"
        and isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
    }
    for listener in tuple(_listeners):
        listener(name, int(epoch), numbers)


def iteration_listener(listener: IterationListener) -> ContextManager[IterationListener]:
    """Call ``listener(done, total)`` for every iteration emitted inside the ``with`` block."""
    return _registered(_iteration_listeners, listener)


def emit_iteration(done: int, total: int) -> None:
    """Tell the iteration listeners that ``done`` of ``total`` iterations of this epoch are done."""
    for listener in _iteration_listeners:
        listener(done, total)
