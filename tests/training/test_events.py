"""The epoch channel: listeners, scopes, what reaches a listener, and the loops that emit."""

from __future__ import annotations

import math

import pytest

from zsl_pipeline.training.events import emit_epoch, epoch_listener, epoch_scope, has_listeners


def test_no_listener_is_a_no_op():
    assert not has_listeners()
    emit_epoch("stage", 1, {"loss": 1.0})  # nothing to call, nothing raised


def test_listeners_get_the_rows_numbers_with_scoped_stage_names():
    seen, other = [], []
    with epoch_listener(lambda *event: seen.append(event)):
        emit_epoch("train", 1, {"epoch": 1, "loss": 2, "name": "x", "flag": True, "bad": math.nan})
        with epoch_scope("seed3"), epoch_listener(lambda *event: other.append(event)):
            emit_epoch("train", 2, {"loss": 1.5})
        emit_epoch("train", 3, {"loss": 1.0})
    emit_epoch("train", 4, {"loss": 0.5})  # after the block: nobody listens
    assert seen == [("train", 1, {"loss": 2.0}), ("train.seed3", 2, {"loss": 1.5}), ("train", 3, {"loss": 1.0})]
    assert other == [("train.seed3", 2, {"loss": 1.5})]
    assert not has_listeners()


def test_a_listener_error_reaches_the_caller_and_the_listener_is_removed():
    def broken(stage, epoch, values):
        raise RuntimeError("listener failed")

    with pytest.raises(RuntimeError, match="listener failed"), epoch_listener(broken):
        emit_epoch("train", 1, {"loss": 1.0})
    assert not has_listeners()


@pytest.mark.parametrize("name", ["tfvaegan", "clswgan", "zswgan", "cada_vae"])
def test_every_method_emits_each_history_row_once_per_epoch_under_its_seed(name):
    import torch

    from tiny_methods import tiny_config, tiny_dataset
    from zsl_pipeline.methods import get_method
    from zsl_pipeline.methods.runner import RunSettings, train_runs

    events = []
    with epoch_listener(lambda *event: events.append(event)):
        trained = train_runs(
            get_method(name), tiny_dataset(), tiny_config(name), RunSettings(seeds=(5,)), torch.device("cpu"),
            show_progress=False,
        )
    history = trained["runs"]["5"]["checkpoint"]["history"]
    assert len(history) == 2
    stage = f"{name}_train.seed5"  # every method's stage is <method>_train
    assert [(s, e) for s, e, _ in events] == [(stage, 1), (stage, 2)]
    for (_, _, values), row in zip(events, history):
        assert values == {k: float(v) for k, v in row.items() if k != "epoch"}


@pytest.mark.parametrize("name", ["tfvaegan", "clswgan", "cada_vae"])
def test_every_method_reports_its_iterations_inside_each_epoch(name):
    import torch

    from tiny_methods import tiny_config, tiny_dataset
    from zsl_pipeline.methods import get_method
    from zsl_pipeline.training.events import iteration_listener
    from zsl_pipeline.training.features import prepare_features

    ticks = []
    method, config = get_method(name), tiny_config(name)
    data = prepare_features(tiny_dataset(), torch.device("cpu"), l2_normalise_embeddings=method.l2_normalise_embeddings)
    with iteration_listener(lambda done, total: ticks.append((done, total))):
        method.train(data, config, torch.device("cpu"), None)
    total = ticks[0][1]
    assert total >= 1 and ticks == [(i, total) for i in range(1, total + 1)] * 2  # 2 epochs


def test_the_progress_bar_shows_iterations_inside_the_epoch():
    from zsl_pipeline.training.events import emit_iteration
    from zsl_pipeline.training.progress import EpochProgressBar

    with EpochProgressBar(2, "test", enabled=True) as bar:
        emit_iteration(1, 3)
        emit_iteration(2, 3)
        assert (bar._inner.n, bar._inner.total) == (2, 3)
        emit_iteration(1, 3)  # the next epoch starts the inner bar again
        assert bar._inner.n == 1
    with EpochProgressBar(2, "test", enabled=False) as bar:  # disabled: listens to nothing
        emit_iteration(1, 3)
        assert bar._inner is None
