"""Simulated crashes for the resume tests: a run killed right after it saved an epoch checkpoint."""

from __future__ import annotations

import pytest

from zsl_pipeline.training.epoch_resume import EpochCheckpoint


class Killed(RuntimeError):
    """The simulated crash (a subclass of nothing the code under test catches)."""


def crash_after_epoch_checkpoint(monkeypatch: pytest.MonkeyPatch, epoch: int | None = None) -> list[int]:
    """Make ``EpochCheckpoint.save`` write the checkpoint, then raise :class:`Killed` once the
    saved ``epochs_completed`` is ``epoch`` (None: at the first save). Returns the list of
    ``epochs_completed`` saved so far (it grows as the run saves)."""
    real_save, saved = EpochCheckpoint.save, []

    def save_then_die(self, state):
        real_save(self, state)
        saved.append(int(state["epochs_completed"]))
        if epoch is None or state["epochs_completed"] == epoch:
            raise Killed("simulated crash")

    monkeypatch.setattr(EpochCheckpoint, "save", save_then_die)
    return saved
