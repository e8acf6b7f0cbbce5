"""Every generative method at toy size, and a toy dataset, for the tests that run all of them."""

from __future__ import annotations

from typing import Any

from toy_data import make_toy_dataset
from zsl_pipeline.data.contract import ZeroShotDataset
from zsl_pipeline.methods import get_method

#: Toy widths and schedules (a few seconds per method on a 2-core CPU); the rest is each method's default.
TINY_PARAMS: dict[str, dict[str, Any]] = {
    "tfvaegan": {
        "nepoch": 2, "batch_size": 16, "encoder_hidden": 16, "ngh": 16, "ndh": 16, "syn_num": 10,
        "classifier_epochs": 2, "checkpoint_every": 0,
    },
    "clswgan": {
        "ngh": 16, "ndh": 16, "nepoch": 2, "batch_size": 16, "critic_iter": 2, "pretrain_epochs": 2,
        "pretrain_batch_size": 10, "syn_num": 10, "classifier_epochs": 2,
    },
    "zswgan": {
        "ngh": 16, "ndh": 16, "nz": 4, "nepoch": 2, "batch_size": 16, "critic_iter": 2, "pretrain_epochs": 2,
        "pretrain_batch_size": 10, "syn_num": 10, "classifier_epochs": 2,
    },
    "filmwgan": {
        "ngh": 16, "ndh": 16, "nz": 4, "nepoch": 2, "batch_size": 16, "critic_iter": 2, "pretrain_epochs": 2,
        "pretrain_batch_size": 10, "syn_num": 10, "classifier_epochs": 2,
    },
    "cada_vae": {
        "latent_size": 4, "image_encoder_hidden": 16, "image_decoder_hidden": 16, "attribute_encoder_hidden": 8,
        "attribute_decoder_hidden": 8, "batch_size": 10, "nepoch": 2, "beta_warmup": (0.25, 0, 2),
        "cross_reconstruction_warmup": (2.37, 0, 2), "distance_warmup": (8.13, 0, 1),
        "samples_per_class_gzsl": (5, 0, 10, 0), "samples_per_class_zsl": (0, 0, 5, 0),
        "classifier_epochs_gzsl": 2, "classifier_epochs_zsl": 2,
    },
}  # fmt: skip


def tiny_config(method: str, **overrides: Any) -> Any:
    """``method``'s config at toy size, ``overrides`` on top."""
    return get_method(method).config_from_params({**TINY_PARAMS[method], **overrides})


def tiny_dataset() -> ZeroShotDataset:
    """6 classes (4 seen, 2 unseen), 16-d features, 5-d embeddings; 9 trainval + 3 test_seen
    samples per seen class, 12 test_unseen per unseen class."""
    return make_toy_dataset(
        num_seen=4, num_unseen=2, per_class=12, train_per_class=9, feature_dim=16, embedding_dim=5,
        with_train_val=False, name="tiny",
    )  # fmt: skip
