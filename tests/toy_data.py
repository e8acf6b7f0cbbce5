"""Tiny generated zero-shot datasets for tests."""

from __future__ import annotations

import numpy as np

from zsl_pipeline.data.contract import ZeroShotDataset, validate


def make_toy_dataset(
    num_seen: int = 6,
    num_unseen: int = 3,
    per_class: int = 10,
    feature_dim: int = 16,
    embedding_dim: int = 8,
    seed: int = 0,
    with_train_val: bool = True,
    train_per_class: int | None = None,
    noise: float = 0.3,
    offset: float = 0.0,
    normalise_embeddings: bool = True,
    name: str = "toy",
) -> ZeroShotDataset:
    """Gaussian class clusters whose means are a linear map of the class embeddings (folded by |·|).

    Class embeddings are N(0, I) draws (L2-normalised unless ``normalise_embeddings`` is
    False); features are ``|emb[y] @ M + offset + noise · ε|`` with M, ε ~ N(0, 1)
    (non-negative, as ResNet features are). With ``offset`` 0 the fold makes the class means a
    nonlinear function of the embeddings; an offset of a few units keeps the argument positive,
    so the means are an affine map of the embeddings (a zero-shot learnable dataset). The last ``num_unseen`` classes are unseen. The first
    ``train_per_class`` samples of each seen class (default 80 %) form trainval, the rest
    test_seen; all unseen samples are test_unseen. ``with_train_val``: also a train / val
    class split of the seen classes (the last third of them is val). The draws (embeddings,
    map, noise, in that order) depend only on ``seed`` and the sizes. Validated against the
    dataset contract.
    """
    rng = np.random.default_rng(seed)
    num_classes = num_seen + num_unseen
    emb = rng.normal(size=(num_classes, embedding_dim)).astype(np.float32)
    if normalise_embeddings:
        emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    mix = rng.normal(size=(embedding_dim, feature_dim))
    labels = np.repeat(np.arange(num_classes), per_class).astype(np.int64)
    features = np.abs(
        emb[labels] @ mix + offset + noise * rng.normal(size=(labels.size, feature_dim))
    ).astype(np.float32)
    n_train = int(0.8 * per_class) if train_per_class is None else train_per_class
    if not 0 < n_train < per_class:
        raise ValueError(f"train_per_class must lie in 1..{per_class - 1}, got {n_train}")
    idx = np.arange(labels.size)
    seen_mask = labels < num_seen
    in_class_pos = idx % per_class
    trainval = idx[seen_mask & (in_class_pos < n_train)]
    splits = {
        "trainval": trainval,
        "test_seen": idx[seen_mask & (in_class_pos >= n_train)],
        "test_unseen": idx[~seen_mask],
    }
    if with_train_val:
        num_val = max(1, num_seen // 3)
        splits["val"] = trainval[labels[trainval] >= num_seen - num_val]
        splits["train"] = trainval[labels[trainval] < num_seen - num_val]
    ds = ZeroShotDataset(
        labels=labels,
        class_embeddings=emb,
        splits=splits,
        class_names=tuple(f"class_{i}" for i in range(num_classes)),
        features=features,
        name=name,
    )
    return validate(ds, f"{name} test dataset")


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
