"""ESZSL (Romera-Paredes & Torr, ICML 2015): the closed-form, non-generative reference point.

methods_spec_part2.md §9.2, with samples as ROWS here (X_r = Xᵀ, m x d; S_r = Sᵀ, z x a):
V = (X Xᵀ + γ I_d)⁻¹ X Y Sᵀ (S Sᵀ + λ I_a)⁻¹ = (X_rᵀX_r + γI)⁻¹ X_rᵀ Y S_r (S_rᵀS_r + λI)⁻¹,
Y one-hot {0, 1} over the training classes (the authors' MATLAB and mvp18, not the paper's ±1);
score(x, c) = xᵀ V s_c. Computed in float64 with ``torch.linalg.solve``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from zsl_pipeline.data.contract import ZeroShotDataset
from zsl_pipeline.evaluation.metrics import gzsl_metrics, mean_per_class_accuracy

log = logging.getLogger(__name__)

#: γ, λ ∈ {10⁻³, ..., 10³}: the 7 x 7 grid of the authors' code and mvp18 (§9.2).
ESZSL_GRID = tuple(10.0**k for k in range(-3, 4))
#: Used when the dataset has no train/val split to select on: mvp18's most frequent pick
#: (log10 γ, log10 λ) = (3, 0) (its ZSL choice on AWA1/AWA2, GZSL choice on CUB/AWA1/AWA2).
DEFAULT_GAMMA = 1e3
DEFAULT_LAMBDA = 1.0


def _f64(a: np.ndarray | Tensor, device: torch.device) -> Tensor:
    return torch.as_tensor(a).to(device=device, dtype=torch.float64)


def _one_hot_targets(y: Tensor) -> tuple[Tensor, Tensor]:
    """(classes present in y (sorted), one-hot Y (m x z) over them)."""
    classes, local = torch.unique(y, sorted=True, return_inverse=True)
    return classes, torch.nn.functional.one_hot(local, classes.numel()).to(torch.float64)


def _feature_side(X: Tensor, y: Tensor, S: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(X_rᵀX_r, X_rᵀ Y S_r, S_rᵀ S_r): everything the closed form needs, for any (γ, λ)."""
    classes, Y = _one_hot_targets(y)
    S_r = S[classes]  # (z, a)
    return X.T @ X, X.T @ (Y @ S_r), S_r.T @ S_r


def _solve(gram: Tensor, rhs: Tensor, ridge: float) -> Tensor:
    eye = torch.eye(gram.shape[0], dtype=gram.dtype, device=gram.device)
    return torch.linalg.solve(gram + ridge * eye, rhs)


def fit_eszsl(
    X: np.ndarray | Tensor,
    y: np.ndarray | Tensor,
    S: np.ndarray | Tensor,
    gamma: float,
    lam: float,
    *,
    device: torch.device = torch.device("cpu"),
) -> Tensor:
    """V (d x a) from features ``X`` (m x d, rows), global labels ``y`` (m,) and ALL class
    embeddings ``S`` (C x a, rows); only the classes present in ``y`` enter the fit."""
    X, S = _f64(X, device), _f64(S, device)
    y = torch.as_tensor(y, device=device).long()
    xx, xys, ss = _feature_side(X, y, S)
    left = _solve(xx, xys, gamma)  # (XXᵀ + γI)⁻¹ X Y Sᵀ, (d x a)
    return _solve(ss, left.T, lam).T  # · (SSᵀ + λI)⁻¹ (symmetric), (d x a)


def predict_eszsl(
    V: Tensor, X: np.ndarray | Tensor, S: np.ndarray | Tensor, candidates: np.ndarray | Tensor
) -> Tensor:
    """Global class id (among ``candidates``) maximising xᵀ V s_c for every row of ``X``."""
    X, S = _f64(X, V.device), _f64(S, V.device)
    candidates = torch.as_tensor(candidates, device=V.device).long()
    scores = X @ V @ S[candidates].T  # (m, n_candidates)
    return candidates[scores.argmax(dim=1)]


def select_eszsl(
    X_train: Tensor,
    y_train: Tensor,
    X_val: Tensor,
    y_val: Tensor,
    S: Tensor,
    *,
    grid: tuple[float, ...] = ESZSL_GRID,
) -> tuple[float, float, float]:
    """Grid search on validation classes (ZSL accuracy among val classes, §9.1/§9.2).

    Returns (γ, λ, val accuracy) of the first best pair. One d x d solve per γ, reused over λ.
    """
    xx, xys, ss = _feature_side(X_train, y_train, S)
    val_classes = torch.unique(y_val)
    best = (grid[0], grid[0], -1.0)
    for gamma in grid:
        left = _solve(xx, xys, gamma)
        for lam in grid:
            V = _solve(ss, left.T, lam).T
            acc = float(mean_per_class_accuracy(predict_eszsl(V, X_val, S, val_classes), y_val, val_classes))
            if acc > best[2]:
                best = (gamma, lam, acc)
    return best


@dataclass(frozen=True)
class ESZSLResult:
    """ESZSL on one dataset: chosen (γ, λ), how they were chosen, ZSL and GZSL test numbers."""

    gamma: float
    lam: float
    selected_on: str  # "val classes" or "fixed default (no train/val split)"
    val_accuracy: float | None
    zsl_accuracy: float
    acc_seen: float
    acc_unseen: float
    harmonic_mean: float


def run_eszsl(
    ds: ZeroShotDataset, device: torch.device = torch.device("cpu"), grid: tuple[float, ...] = ESZSL_GRID
) -> ESZSLResult:
    """The GBU protocol for ESZSL (§9.1, §9.2) on ``ds`` as given (raw features, as mvp18).

    With train/val splits: select (γ, λ) on val classes (train on ``train``), then refit on
    trainval. Without: the fixed default (γ, λ) = (10³, 1). ZSL: argmax over unseen classes on
    test_unseen; GZSL: uncalibrated argmax over all classes (§9.5.1: that is the reference).
    """
    if ds.features is None:
        raise ValueError(f"dataset '{ds.name}' has no features")
    X = _f64(ds.features, device)
    y = torch.as_tensor(ds.labels, device=device).long()
    S = _f64(ds.class_embeddings, device)
    idx = {k: torch.as_tensor(v, device=device).long() for k, v in ds.splits.items()}
    if "train" in idx and "val" in idx:
        gamma, lam, val_acc = select_eszsl(
            X[idx["train"]], y[idx["train"]], X[idx["val"]], y[idx["val"]], S, grid=grid
        )
        selected_on = "val classes"
    else:
        gamma, lam, val_acc, selected_on = (
            DEFAULT_GAMMA,
            DEFAULT_LAMBDA,
            None,
            "fixed default (no train/val split)",
        )
    V = fit_eszsl(X[idx["trainval"]], y[idx["trainval"]], S, gamma, lam, device=device)
    seen = torch.as_tensor(ds.seen_classes, device=device)
    unseen = torch.as_tensor(ds.unseen_classes, device=device)
    all_classes = torch.arange(ds.num_classes, device=device)
    y_u, y_s = y[idx["test_unseen"]], y[idx["test_seen"]]
    zsl = float(mean_per_class_accuracy(predict_eszsl(V, X[idx["test_unseen"]], S, unseen), y_u, unseen))
    s, u, h = gzsl_metrics(
        predict_eszsl(V, X[idx["test_seen"]], S, all_classes),
        y_s,
        predict_eszsl(V, X[idx["test_unseen"]], S, all_classes),
        y_u,
        seen_classes=seen,
        unseen_classes=unseen,
    ).tolist()
    log.info(
        "ESZSL on %s (γ=%g, λ=%g, %s): ZSL %.4f, GZSL s %.4f u %.4f H %.4f",
        ds.name,
        gamma,
        lam,
        selected_on,
        zsl,
        s,
        u,
        h,
    )
    return ESZSLResult(gamma, lam, selected_on, val_acc, zsl, s, u, h)
