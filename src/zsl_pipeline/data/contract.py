"""The data contract: one in-memory type for a zero-shot dataset.

Every stage consumes and produces a :class:`ZeroShotDataset`. It holds either image
features (``features`` N x D) or, before feature extraction, the image paths of an image
dataset (``image_paths``), never neither. Indices are 0-based everywhere in the project;
the xlsa17 reader converts the release's 1-based MATLAB indices on load.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Iterable, Mapping

import numpy as np

#: Splits every zero-shot dataset has (xlsa17 "Proposed Split" names).
REQUIRED_SPLITS = ("trainval", "test_seen", "test_unseen")
#: Splits some sources have (AWA1, AWA2, SUN, FLO in xlsa17; the demo dataset).
OPTIONAL_SPLITS = ("train", "val")
#: L2 norm at or below which a class embedding counts as zero (absolute).
ZERO_NORM_EPS = 1e-12
#: How many offending files (or samples) an error message lists.
MAX_LISTED = 20


def listed(items: Iterable[str], limit: int = MAX_LISTED) -> str:
    """Up to ``limit`` items for an error message, and how many more there are."""
    items = list(items)
    shown = "\n  " + "\n  ".join(items[:limit])
    return shown + (f"\n  ... and {len(items) - limit} more" if len(items) > limit else "")


class DatasetValidationError(ValueError):
    """A zero-shot dataset failed validation. The message names the source and the key."""

    def __init__(self, source: str, key: str, problem: str):
        self.source, self.key, self.problem = source, key, problem
        super().__init__(f"{source}: '{key}': {problem}")


@dataclass(frozen=True, eq=False)
class ZeroShotDataset:
    """Features (or image paths), labels, class embeddings and splits of one dataset.

    Attributes:
        labels: (N,) int64 class id of every sample, in ``0 .. C-1``.
        class_embeddings: (C, A) float32, one row per class.
        splits: split name -> (n,) int64 sample indices. Always ``trainval``, ``test_seen``,
            ``test_unseen``; ``train`` and ``val`` where the source has them.
        class_names: C names.
        features: (N, D) float32 or ``None`` for an image dataset not yet extracted.
        image_paths: N paths or ``None`` for a features-only dataset (xlsa17).
        name: a short dataset name for logs and tracking (``demo``, ``CUB`` ...).
    """

    labels: np.ndarray
    class_embeddings: np.ndarray
    splits: Mapping[str, np.ndarray]
    class_names: tuple[str, ...]
    features: np.ndarray | None = None
    image_paths: tuple[str, ...] | None = None
    name: str = "dataset"
    attribute_names: tuple[str, ...] | None = field(default=None)

    # ---- derived values -------------------------------------------------------------
    @property
    def num_samples(self) -> int:
        return int(self.labels.shape[0])

    @property
    def num_classes(self) -> int:
        return int(self.class_embeddings.shape[0])

    @property
    def embedding_dim(self) -> int:
        return int(self.class_embeddings.shape[1])

    @property
    def feature_dim(self) -> int:
        if self.features is None:
            raise ValueError(f"dataset '{self.name}' has no features yet (image dataset)")
        return int(self.features.shape[1])

    @property
    def seen_classes(self) -> np.ndarray:
        """Sorted class ids present in trainval (the reference's definition)."""
        return np.unique(self.labels[self.splits["trainval"]])

    @property
    def unseen_classes(self) -> np.ndarray:
        """Sorted class ids present in test_unseen (the reference's definition)."""
        return np.unique(self.labels[self.splits["test_unseen"]])

    def split_features(self, split: str) -> np.ndarray:
        return self.features[self.splits[split]]  # type: ignore[index]

    def split_labels(self, split: str) -> np.ndarray:
        return self.labels[self.splits[split]]

    def with_features(self, features: np.ndarray) -> "ZeroShotDataset":
        """A copy carrying ``features`` (N x D); the caller's dataset is not changed."""
        out = replace(self, features=np.asarray(features, dtype=np.float32))
        validate(out, source=f"features for '{self.name}'")
        return out

    def summary(self) -> dict[str, int]:
        """Sizes a log line or a README table needs."""
        out = {
            "classes": self.num_classes,
            "seen": int(self.seen_classes.size),
            "unseen": int(self.unseen_classes.size),
            "embedding_dim": self.embedding_dim,
            "samples": self.num_samples,
        }
        out.update({split: int(idx.size) for split, idx in self.splits.items()})
        if self.features is not None:
            out["feature_dim"] = self.feature_dim
        return out


def _samples_of(ds: ZeroShotDataset, split: str, classes: np.ndarray, what: str) -> str:
    """'<n> <split> images of <what>:' and the files (sample indices without images) of ``split``
    whose class is in ``classes``, each with its class name."""
    idx = ds.splits[split]
    bad = idx[np.isin(ds.labels[idx], classes)]
    names = [f"{ds.image_paths[i] if ds.image_paths is not None else f'sample {i}'} "
             f"(class {ds.class_names[ds.labels[i]]!r})" for i in bad]  # fmt: skip
    return f"{bad.size} {split} images of {what}:{listed(names)}"


def validate(ds: ZeroShotDataset, source: str) -> ZeroShotDataset:
    """Check the contract; raise :class:`DatasetValidationError` naming ``source`` and the key.

    Checks: shapes agree, labels in range, every split index in range, seen and unseen
    classes disjoint (so no test_unseen sample has a seen class), finite features, class
    embeddings finite and of non-zero norm, and train/val classes disjoint where present.
    Returns ``ds`` so it can be chained.
    """

    def fail(key: str, problem: str) -> None:
        raise DatasetValidationError(source, key, problem)

    labels, emb = ds.labels, ds.class_embeddings
    if labels.ndim != 1:
        fail("labels", f"expected a vector, got shape {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        fail("labels", f"expected integer class ids, got dtype {labels.dtype}")
    if emb.ndim != 2:
        fail("class_embeddings", f"expected (classes x dims), got shape {emb.shape}")
    n, c = labels.shape[0], emb.shape[0]
    if labels.size and (labels.min() < 0 or labels.max() >= c):
        fail("labels", f"class ids must lie in 0..{c - 1}, found {labels.min()}..{labels.max()}")
    if len(ds.class_names) != c:
        fail("class_names", f"{len(ds.class_names)} names for {c} classes")
    if not np.all(np.isfinite(emb)):
        fail("class_embeddings", "contains NaN or inf")
    norms = np.linalg.norm(emb, axis=1)
    zero = np.flatnonzero(norms <= ZERO_NORM_EPS)
    if zero.size:
        fail("class_embeddings", f"zero-norm embedding for class ids {zero[:10].tolist()}")

    if ds.features is None and ds.image_paths is None:
        fail("features", "a dataset needs features or image paths")
    if ds.features is not None:
        f = ds.features
        if f.ndim != 2 or f.shape[0] != n:
            fail("features", f"expected ({n} x D) to match {n} labels, got shape {f.shape}")
        bad = ~np.isfinite(f)
        if bad.any():
            rows = np.flatnonzero(bad.any(axis=1))
            fail("features", f"NaN or inf in {rows.size} samples, first indices {rows[:5].tolist()}")
    if ds.image_paths is not None and len(ds.image_paths) != n:
        fail("image_paths", f"{len(ds.image_paths)} paths for {n} labels")

    for split in REQUIRED_SPLITS:
        if split not in ds.splits:
            fail(split, "required split is missing")
    for split, idx in ds.splits.items():
        if split not in REQUIRED_SPLITS + OPTIONAL_SPLITS:
            fail(split, f"unknown split; expected one of {REQUIRED_SPLITS + OPTIONAL_SPLITS}")
        if idx.ndim != 1 or not np.issubdtype(idx.dtype, np.integer):
            fail(split, f"expected a vector of integer indices, got {idx.dtype} {idx.shape}")
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            fail(split, f"indices must lie in 0..{n - 1}, found {idx.min()}..{idx.max()}")
        if idx.size == 0 and split in REQUIRED_SPLITS:
            fail(split, "split is empty")

    seen, unseen = ds.seen_classes, ds.unseen_classes
    both = np.intersect1d(seen, unseen)
    if both.size:
        fail(
            "test_unseen",
            f"{both.size} classes occur both in trainval (seen) and test_unseen (unseen), "
            f"e.g. class ids {both[:10].tolist()}: test_unseen images must be of unseen classes; "
            + _samples_of(ds, "test_unseen", both, "a seen (trainval) class"),
        )
    ts_classes = np.unique(ds.split_labels("test_seen"))
    not_seen = np.setdiff1d(ts_classes, seen)
    if not_seen.size:
        fail(
            "test_seen",
            f"classes {not_seen[:10].tolist()} are not among the trainval classes; "
            + _samples_of(ds, "test_seen", not_seen, "a class without trainval images"),
        )
    if "train" in ds.splits and "val" in ds.splits:
        overlap = np.intersect1d(ds.split_labels("train"), ds.split_labels("val"))
        if overlap.size:
            fail("val", f"validation classes {overlap[:10].tolist()} also occur in train")
    return ds
