"""Tiny generated zero-shot data and a tiny TF-VAEGAN config for the training tests."""

import numpy as np
import pytest
import torch

from zsl_pipeline.data.contract import ZeroShotDataset, validate
from zsl_pipeline.methods.tfvaegan.config import TFVAEGANConfig
from zsl_pipeline.training.features import prepare_features


def make_tiny_dataset(
    seed: int = 0,
    classes: int = 6,
    unseen: int = 2,
    attr_dim: int = 5,
    feature_dim: int = 16,
    per_class: int = 12,
    train_per_class: int = 9,
) -> ZeroShotDataset:
    """Gaussian clusters around a random projection of each class embedding (non-negative,
    like ResNet features). The last ``unseen`` classes are unseen."""
    rng = np.random.default_rng(seed)
    emb = rng.normal(size=(classes, attr_dim)).astype(np.float32)
    proj = rng.normal(size=(attr_dim, feature_dim))
    labels = np.repeat(np.arange(classes), per_class)
    feats = np.abs(emb[labels] @ proj + 0.3 * rng.normal(size=(labels.size, feature_dim))).astype(np.float32)
    pos = np.tile(np.arange(per_class), classes)
    is_seen = labels < classes - unseen
    idx = np.arange(labels.size)
    splits = {
        "trainval": idx[is_seen & (pos < train_per_class)],
        "test_seen": idx[is_seen & (pos >= train_per_class)],
        "test_unseen": idx[~is_seen],
    }
    ds = ZeroShotDataset(
        labels=labels,
        class_embeddings=emb,
        splits=splits,
        class_names=tuple(f"c{i}" for i in range(classes)),
        features=feats,
        name="tiny",
    )
    return validate(ds, "tiny test dataset")


@pytest.fixture
def cpu() -> torch.device:
    return torch.device("cpu")


@pytest.fixture
def tiny_dataset() -> ZeroShotDataset:
    return make_tiny_dataset()


@pytest.fixture
def tiny_data(tiny_dataset, cpu):
    return prepare_features(tiny_dataset, cpu)


@pytest.fixture
def tiny_config() -> TFVAEGANConfig:
    """36 trainval samples, batch 16 -> 3 generator iterations per pass, 30 critic steps per epoch."""
    return TFVAEGANConfig(
        nepoch=1,
        batch_size=16,
        encoder_hidden=32,
        ngh=32,
        ndh=32,
        syn_num=10,
        classifier_epochs=2,
        checkpoint_every=0,
        seed=7,
    )
