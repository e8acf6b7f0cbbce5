"""Per-epoch resume of every generative method inside the runner (training/epoch_resume.py): a
seed killed after an epoch checkpoint continues from it and ends bit-identical to an
uninterrupted run."""

from __future__ import annotations

import logging

import pytest
import torch

from crashes import Killed, crash_after_epoch_checkpoint
from tiny_methods import tiny_config, tiny_dataset
from zsl_pipeline.methods import GENERATIVE_METHODS, get_method
from zsl_pipeline.methods.runner import RunSettings, runs_resume_path, train_runs

CPU = torch.device("cpu")
SETTINGS = RunSettings(seeds=(5,))


@pytest.mark.parametrize("name", GENERATIVE_METHODS)
def test_a_seed_killed_after_an_epoch_checkpoint_resumes_from_it(name, tmp_path, monkeypatch, caplog):
    method, ds = get_method(name), tiny_dataset()
    config = tiny_config(name, nepoch=3, **({"checkpoint_every": 1} if name == "tfvaegan" else {}))
    reference = train_runs(method, ds, config, SETTINGS, CPU, show_progress=False)["runs"]["5"]["checkpoint"]

    saved = crash_after_epoch_checkpoint(monkeypatch, epoch=2)
    with pytest.raises(Killed):
        train_runs(method, ds, config, SETTINGS, CPU, show_progress=False, checkpoint_dir=tmp_path)
    runs_file = runs_resume_path(tmp_path, method, ds, config, settings=SETTINGS, device=CPU)
    epoch_file = runs_file.with_name(f"{runs_file.stem}_seed5.pt")
    assert saved == [1, 2] and epoch_file.is_file() and not runs_file.exists()

    with caplog.at_level(logging.INFO):
        resumed = train_runs(method, ds, config, SETTINGS, CPU, show_progress=False, checkpoint_dir=tmp_path)
    assert saved == [1, 2]  # epoch 3 is the last: no epoch checkpoint after it
    assert "resuming" in caplog.text and "after epoch 2" in caplog.text
    checkpoint = resumed["runs"]["5"]["checkpoint"]
    assert checkpoint["history"] == reference["history"]
    for net, state in reference["models"].items():
        for key, tensor in state.items():
            torch.testing.assert_close(checkpoint["models"][net][key], tensor, rtol=0, atol=0)
    assert not epoch_file.exists() and not runs_file.exists()
