"""Tiny generated zero-shot datasets for tests."""

from __future__ import annotations

import numpy as np

from zsl_pipeline.data.contract import ZeroShotDataset


def make_toy_dataset(
    num_seen: int = 6,
    num_unseen: int = 3,
    per_class: int = 10,
    feature_dim: int = 16,
    embedding_dim: int = 8,
    seed: int = 0,
    with_train_val: bool = True,
) -> ZeroShotDataset:
    """Gaussian class clusters whose means are a linear map of the class embeddings."""
    rng = np.random.default_rng(seed)
    num_classes = num_seen + num_unseen
    emb = rng.normal(size=(num_classes, embedding_dim)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    mix = rng.normal(size=(embedding_dim, feature_dim))
    labels = np.repeat(np.arange(num_classes), per_class)
    features = (emb[labels] @ mix + 0.3 * rng.normal(size=(labels.size, feature_dim))).astype(np.float32)
    features = np.abs(features)  # ReLU-like, non-negative as ResNet features are
    idx = np.arange(labels.size)
    seen_mask = labels < num_seen
    in_class_pos = idx % per_class
    trainval = idx[seen_mask & (in_class_pos < int(0.8 * per_class))]
    test_seen = idx[seen_mask & (in_class_pos >= int(0.8 * per_class))]
    test_unseen = idx[~seen_mask]
    splits = {"trainval": trainval, "test_seen": test_seen, "test_unseen": test_unseen}
    if with_train_val:
        num_val = max(1, num_seen // 3)
        splits["val"] = trainval[labels[trainval] >= num_seen - num_val]
        splits["train"] = trainval[labels[trainval] < num_seen - num_val]
    return ZeroShotDataset(
        labels=labels.astype(np.int64),
        class_embeddings=emb,
        splits=splits,
        class_names=tuple(f"class_{i}" for i in range(num_classes)),
        features=features,
        name="toy",
    )


def make_tiny_tfvaegan(feature_dim: int, attr_dim: int, hidden: int = 32, seed: int = 0):
    """TF-VAEGAN's five networks at toy widths (latent = attr_dim, as the reference), seeded."""
    import torch

    from zsl_pipeline.methods.tfvaegan.models import build_tfvaegan

    return build_tfvaegan(
        feature_dim=feature_dim,
        attr_dim=attr_dim,
        latent_dim=attr_dim,
        encoder_hidden=hidden,
        ngh=hidden,
        ndh=hidden,
        generator=torch.Generator().manual_seed(seed),
    )
