"""Per-epoch resume of a training loop that does not take a checkpoint file itself.

The runner (``methods.runner.train_runs``) trains each seed through ``Method.train(data, config,
device, progress)``, which has no checkpoint argument. It opens an :class:`EpochCheckpoint` for
the seed with :func:`epoch_checkpoint` (a context variable, like ``events.epoch_scope``); a loop
that supports resuming asks :func:`current_epoch_checkpoint` for it, resumes from
:meth:`EpochCheckpoint.load` and saves after each epoch with :meth:`EpochCheckpoint.save`. Without
an open checkpoint (a direct call, a test) the loop trains from scratch and saves nothing.
"""

from __future__ import annotations

import contextvars
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping

import torch
from torch import nn

from zsl_pipeline.training.checkpoint import check_format
from zsl_pipeline.training.resume import check_unfinished, load_resume, save_resume

_current: contextvars.ContextVar[EpochCheckpoint | None] = contextvars.ContextVar("epoch_checkpoint", default=None)


@dataclass(frozen=True)
class EpochCheckpoint:
    """The resume file of one training run (``path``), written by code version ``code``."""

    path: Path
    code: str

    def load(
        self,
        *,
        method: str,
        version: int,
        config: Mapping[str, Any],
        stream_type: str,
        nepoch: int | None = None,
        free: frozenset[str] = frozenset(),
    ) -> dict[str, Any] | None:
        """The checkpoint to resume from, or None (no file, or one of other code: a warning).
        ``nepoch``: the run's number of epochs (default ``config["nepoch"]``); ``free``: settings
        that may differ from the checkpoint's (they do not change the trajectory).

        Raises ValueError when the file is of this code but cannot continue this run: another
        format, other settings, a random stream on another device type, or nothing left to train.
        """
        state = load_resume(self.path, self.code, what="epoch checkpoint")
        if state is None:
            return None
        where = f"epoch checkpoint {self.path}"
        check_format(state, method, version)
        current = dict(config)
        differ = sorted(
            k for k in (set(current) | set(state["config"])) - free if state["config"].get(k) != current.get(k)
        )
        if differ:
            raise ValueError(f"cannot resume from {where}: settings differ ({', '.join(differ)})")
        if state["rng"]["device_type"] != stream_type:
            raise ValueError(
                f"cannot resume from {where}: its random stream is on {state['rng']['device_type']}, "
                f"this run's on {stream_type}"
            )
        check_unfinished(int(state["epochs_completed"]), int(current["nepoch"] if nepoch is None else nepoch), where)
        return state

    def save(self, state: Mapping[str, Any]) -> None:
        """Write ``state`` (an envelope with ``epochs_completed``, optimisers, ``rng``) atomically."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        save_resume(state, self.path, self.code)

    def remove(self) -> None:
        """Delete the file (training completed)."""
        self.path.unlink(missing_ok=True)


def epoch_state(epochs_completed: int, optimizers: Mapping[str, torch.optim.Optimizer], rng: torch.Generator) -> dict[str, Any]:
    """The resume state beyond the envelope: ``epochs_completed``, the optimiser states and the
    training stream (``{"device_type", "state"}``), as keyword arguments of ``envelope``."""
    return {
        "epochs_completed": int(epochs_completed),
        "optimizers": {name: opt.state_dict() for name, opt in optimizers.items()},
        "rng": {"device_type": rng.device.type, "state": rng.get_state()},
    }


def restore_epoch_state(
    state: Mapping[str, Any],
    networks: Mapping[str, nn.Module],
    optimizers: Mapping[str, torch.optim.Optimizer],
    rng: torch.Generator,
) -> tuple[int, list[dict[str, float]]]:
    """Load weights, optimiser states and the stream of ``state`` in place; return
    (epochs_completed, history)."""
    for name, net in networks.items():
        net.load_state_dict(state["models"][name])
    for name, opt in optimizers.items():
        opt.load_state_dict(state["optimizers"][name])
    rng.set_state(state["rng"]["state"])
    return int(state["epochs_completed"]), [dict(row) for row in state["history"]]


@contextmanager
def epoch_checkpoint(checkpoint: EpochCheckpoint | None) -> Iterator[EpochCheckpoint | None]:
    """Make ``checkpoint`` the one :func:`current_epoch_checkpoint` returns inside the block."""
    token = _current.set(checkpoint)
    try:
        yield checkpoint
    finally:
        _current.reset(token)


def current_epoch_checkpoint() -> EpochCheckpoint | None:
    """The checkpoint opened by :func:`epoch_checkpoint` around this training, if any."""
    return _current.get()
