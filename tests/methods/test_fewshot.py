import numpy as np
import pytest
import torch

from toy_data import make_toy_dataset
from zsl_pipeline.methods.fewshot import choose_unseen_shots
from zsl_pipeline.training.features import prepare_features

CPU = torch.device("cpu")


@pytest.fixture
def dataset():
    return make_toy_dataset(num_seen=4, num_unseen=3, per_class=8)


def test_moves_k_per_unseen_class_and_never_evaluates_them(dataset):
    shots = choose_unseen_shots(dataset, n_shots=2, seed=5)
    labels = dataset.split_labels("test_unseen")
    assert np.bincount(labels[shots], minlength=dataset.num_classes)[dataset.unseen_classes].tolist() == [2, 2, 2]
    zero, few = prepare_features(dataset, CPU), prepare_features(dataset, CPU, unseen_shots=shots)
    moved = dataset.split_features("test_unseen")[shots]
    test_rows = dataset.split_features("test_unseen")[np.setdiff1d(np.arange(labels.size), shots)]
    # Scaled with the few-shot scaler, the moved rows are exactly the new training rows ...
    rescaled = few.transform(moved)
    assert torch.allclose(few.train_x[-6:], rescaled)
    assert few.train_y[-6:].tolist() == labels[shots].tolist()
    # ... and the evaluated test_unseen set is exactly the other rows.
    assert torch.allclose(few.test_unseen_x, few.transform(test_rows))
    assert few.test_unseen_y.shape[0] == zero.test_unseen_y.shape[0] - 6
    # The scaler is fitted with the shots (training data stays in [0, 1]).
    assert float(few.train_x.min()) >= 0.0 and float(few.train_x.max()) <= 1.0 + 1e-6
    # Class lists are unchanged: the shots' classes stay unseen for GZSL.
    assert torch.equal(few.unseen_classes, zero.unseen_classes) and torch.equal(few.seen_classes, zero.seen_classes)


def test_choice_depends_on_seed_only(dataset):
    a = choose_unseen_shots(dataset, 1, seed=0)
    assert np.array_equal(a, choose_unseen_shots(dataset, 1, seed=0))
    assert any(not np.array_equal(a, choose_unseen_shots(dataset, 1, seed=s)) for s in range(1, 5))


def test_zero_shots_changes_nothing(dataset):
    assert choose_unseen_shots(dataset, 0, seed=0).size == 0
    a, b = prepare_features(dataset, CPU), prepare_features(dataset, CPU, unseen_shots=np.empty(0, dtype=int))
    assert torch.equal(a.train_x, b.train_x) and torch.equal(a.test_unseen_x, b.test_unseen_x)


def test_too_many_shots_names_the_class(dataset):
    with pytest.raises(ValueError, match="no test image for unseen class"):
        choose_unseen_shots(dataset, n_shots=8, seed=0)
