"""Reference preprocessing of a zero-shot dataset into device-resident tensors (methods_spec.md §1)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from zsl_pipeline.data.contract import ZeroShotDataset

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class FeatureTensors:
    """Scaled features, labels and normalised class embeddings, all on one device.

    Labels are global class ids (0 .. C-1). ``train_*`` is the trainval split (the reference
    always trains on trainval, §1). ``scaler_min`` / ``scaler_scale`` record the MinMax scaler
    (x_scaled = (x − min) · scale / train_max) so new features can be transformed the same way.
    """

    train_x: Tensor
    train_y: Tensor
    test_seen_x: Tensor
    test_seen_y: Tensor
    test_unseen_x: Tensor
    test_unseen_y: Tensor
    class_embeddings: Tensor
    seen_classes: Tensor
    unseen_classes: Tensor
    scaler_min: Tensor
    scaler_scale: Tensor
    name: str = "dataset"

    @property
    def feature_dim(self) -> int:
        return int(self.train_x.shape[1])

    @property
    def attr_dim(self) -> int:
        return int(self.class_embeddings.shape[1])

    @property
    def num_classes(self) -> int:
        return int(self.class_embeddings.shape[0])

    @property
    def ntrain(self) -> int:
        return int(self.train_x.shape[0])

    @property
    def device(self) -> torch.device:
        return self.train_x.device

    def transform(self, features: np.ndarray | Tensor) -> Tensor:
        """Apply the fitted scaling to new raw features (N x D); returns float32 on the device."""
        x = torch.as_tensor(features).to(device=self.device, dtype=torch.float64)
        return ((x - self.scaler_min) * self.scaler_scale).float()


def minmax_fit(train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-dimension (min, 1/range) of ``train``, a constant dimension's range counted as 1.

    Same convention as scikit-learn's MinMaxScaler, which the reference uses (§1 step 1).
    """
    lo = train.min(axis=0)
    span = train.max(axis=0) - lo
    span[span == 0.0] = 1.0
    return lo, 1.0 / span


def prepare_features(
    ds: ZeroShotDataset,
    device: torch.device,
    l2_normalise_embeddings: bool = True,
    unseen_shots: np.ndarray | None = None,
) -> FeatureTensors:
    """The reference preprocessing (§1, ``--preprocessing``; TF-VAEGAN class embeddings).

    1. Fit a per-dimension MinMax scaler on trainval only; apply it to test_seen and test_unseen
       (test values may leave [0, 1]).
    2. Divide all three by the global max of the scaled trainval matrix. That max is 1.0 after
       MinMax scaling (up to rounding), so the step is a no-op in practice; it is kept because
       the reference does it.
    3. L2-normalise every class embedding (idempotent for xlsa17's ``att``); f-CLSWGAN,
       CADA-VAE and FiLM-WGAN use ``att`` as stored (``l2_normalise_embeddings=False``).
    Arithmetic is float64, the stored tensors float32.

    ``unseen_shots`` (few-shot mode): positions in the test_unseen split of rows that move into
    training before anything is fitted (see ``zsl_pipeline.methods.fewshot``); class lists stay
    as they are, so those classes are still reported as unseen.
    """
    if ds.features is None:
        raise ValueError(f"dataset '{ds.name}' has no features; run feature extraction first")
    rows = {split: ds.splits[split] for split in ("trainval", "test_seen", "test_unseen")}
    if unseen_shots is not None and len(unseen_shots):
        rows["trainval"] = np.concatenate([rows["trainval"], rows["test_unseen"][unseen_shots]])
        rows["test_unseen"] = np.delete(rows["test_unseen"], unseen_shots)
    raw_train = ds.features[rows["trainval"]].astype(np.float64)
    lo, scale = minmax_fit(raw_train)
    train_max = float(((raw_train - lo) * scale).max())  # ≈ 1.0: the no-op of step 2
    scale = scale / train_max

    def scaled(split: str) -> Tensor:
        x = (ds.features[rows[split]].astype(np.float64) - lo) * scale
        return torch.as_tensor(x, dtype=torch.float32, device=device)

    def labels(split: str) -> Tensor:
        return torch.as_tensor(ds.labels[rows[split]], dtype=torch.long, device=device)

    emb = ds.class_embeddings.astype(np.float64)
    if l2_normalise_embeddings:
        emb = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    out = FeatureTensors(
        train_x=scaled("trainval"),
        train_y=labels("trainval"),
        test_seen_x=scaled("test_seen"),
        test_seen_y=labels("test_seen"),
        test_unseen_x=scaled("test_unseen"),
        test_unseen_y=labels("test_unseen"),
        class_embeddings=torch.as_tensor(emb, dtype=torch.float32, device=device),
        seen_classes=torch.as_tensor(ds.seen_classes, dtype=torch.long, device=device),
        unseen_classes=torch.as_tensor(ds.unseen_classes, dtype=torch.long, device=device),
        scaler_min=torch.as_tensor(lo, dtype=torch.float64, device=device),
        scaler_scale=torch.as_tensor(scale, dtype=torch.float64, device=device),
        name=ds.name,
    )
    log.info(
        "%s: %d trainval / %d test-seen / %d test-unseen samples, %d-d features, %d-d embeddings "
        "(scaled-train max before the no-op division: %.6f)",
        ds.name,
        out.ntrain,
        out.test_seen_x.shape[0],
        out.test_unseen_x.shape[0],
        out.feature_dim,
        out.attr_dim,
        train_max,
    )
    return out
