"""Tiny generated zero-shot data and a tiny TF-VAEGAN config for the training tests."""

import pytest
import torch

from toy_data import make_toy_dataset
from zsl_pipeline.data.contract import ZeroShotDataset
from zsl_pipeline.methods.tfvaegan.config import TFVAEGANConfig
from zsl_pipeline.training.features import prepare_features


@pytest.fixture
def cpu() -> torch.device:
    return torch.device("cpu")


@pytest.fixture
def tiny_dataset() -> ZeroShotDataset:
    """6 classes (the last 2 unseen), 5-d raw (not normalised) embeddings, 16-d features;
    9 trainval + 3 test_seen samples per seen class, 12 test_unseen per unseen class."""
    return make_toy_dataset(
        num_seen=4,
        num_unseen=2,
        per_class=12,
        train_per_class=9,
        feature_dim=16,
        embedding_dim=5,
        with_train_val=False,
        normalise_embeddings=False,
        name="tiny",
    )


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
