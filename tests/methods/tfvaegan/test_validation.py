"""The validation protocol selects the epoch count from train/val alone, never from test labels."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from toy_data import make_toy_dataset
from zsl_pipeline.methods.tfvaegan.config import TFVAEGANConfig
from zsl_pipeline.methods.tfvaegan.validation import select_nepoch, validation_dataset

CONFIG = TFVAEGANConfig(nepoch=3, encoder_hidden=16, ngh=16, ndh=16, syn_num=8, classifier_epochs=2, seed=5)


def test_validation_problem_uses_only_train_and_val_images():
    ds = make_toy_dataset(num_seen=9, per_class=10)
    val_ds = validation_dataset(ds)
    allowed = np.union1d(ds.splits["train"], ds.splits["val"])
    for split in ("trainval", "test_seen", "test_unseen"):
        assert np.isin(val_ds.splits[split], allowed).all()
    np.testing.assert_array_equal(val_ds.splits["test_unseen"], np.sort(ds.splits["val"]))
    assert np.intersect1d(val_ds.splits["trainval"], val_ds.splits["test_seen"]).size == 0
    np.testing.assert_array_equal(val_ds.unseen_classes, np.unique(ds.labels[ds.splits["val"]]))


def test_selection_ignores_test_labels():
    ds = make_toy_dataset(num_seen=9, per_class=10)
    rng = np.random.default_rng(0)
    scrambled = ds.labels.copy()
    for split in ("test_seen", "test_unseen"):  # shuffle labels among each test split's images
        idx = ds.splits[split]
        scrambled[idx] = rng.permutation(scrambled[idx])
    assert not np.array_equal(scrambled, ds.labels)
    cpu = torch.device("cpu")
    assert select_nepoch(ds, CONFIG, cpu) == select_nepoch(replace(ds, labels=scrambled), CONFIG, cpu)


def test_selection_picks_the_best_validation_epoch():
    chosen = select_nepoch(make_toy_dataset(num_seen=9, per_class=10), CONFIG, torch.device("cpu"), criterion="zsl")
    assert len(chosen["curve"]) == 3
    assert chosen["nepoch"] == int(np.argmax(chosen["curve"])) + 1
    assert chosen["score"] == max(chosen["curve"])


def test_datasets_without_train_val_are_refused():
    with pytest.raises(ValueError, match="no train/val splits"):
        validation_dataset(make_toy_dataset(with_train_val=False))
