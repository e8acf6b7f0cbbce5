"""What a generator makes, measured against the real features of the same classes.

Every generative method synthesizes features of the unseen classes; these numbers say how
those features sit next to the real test_unseen features, in the space the classifiers and
retrieval use (``ClassifierSets.retrieval_sets``):

* ``spread_ratio``: the mean pairwise distance between the synthetic class means over the same
  for the real class means. Near 1: the classes are as far apart as the real ones; a generator
  that squeezes every class towards one point has a ratio near 0.
* ``within_class_ratio``: the mean within-class spread (RMS distance of a sample to its class
  mean) of the synthetic over the real features (a collapsed class has a ratio near 0).
* ``nearest_synthetic_mean_accuracy``: each real unseen feature labelled by the nearest
  synthetic class mean, per-class mean accuracy (the ZSL metric); beside it
  ``nearest_real_mean_accuracy``, the same with the real class means (what the class means
  of the real features themselves allow: the reference to compare with).
* ``class_distance``: per class, the 2-Wasserstein distance between Gaussians with the
  synthetic and the real class's mean and per-dimension standard deviation,
  ``sqrt(|μ_s − μ_r|² + |σ_s − σ_r|²)``, and its mean over classes (``class_distance_mean``),
  divided by the mean distance between real class means (``class_distance_relative``: below 1,
  a synthetic class is closer to its own real class than real classes are to each other).
  Why this one: it compares location and scale per class, has a closed form, and is stable
  with the few real images a class has (tens); a full-covariance Fréchet distance needs far
  more samples than 2048 dimensions, and kernel distances (MMD) depend on a bandwidth.

All in torch on the features' device (no per-sample loop); fractions and ratios are plain floats.
"""

from __future__ import annotations

import logging
from typing import Any, Sequence

import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.figure import Figure
from torch import Tensor

from zsl_pipeline.evaluation.metrics import mean_per_class_accuracy
from zsl_pipeline.evaluation.retrieval import class_queries

log = logging.getLogger(__name__)

#: Points of each class (synthetic and real, each) drawn in the projection figure.
PROJECTION_POINTS_PER_CLASS = 40


def class_means(x: Tensor, y: Tensor, classes: Tensor) -> tuple[Tensor, Tensor]:
    """(C, D) mean and (C, D) standard deviation (population) of ``x`` per class in ``classes``
    (float64; the first and second moments by :func:`~zsl_pipeline.evaluation.retrieval.class_queries`,
    which refuses a class without samples)."""
    x = x.double()
    mean = class_queries(x, y, classes)
    return mean, (class_queries(x * x, y, classes) - mean * mean).clamp_min(0).sqrt()


def _mean_pairwise_distance(means: Tensor) -> Tensor:
    c = means.shape[0]
    if c < 2:
        return torch.tensor(float("nan"), device=means.device)
    d = torch.cdist(means.double(), means.double())
    return d.sum() / (c * (c - 1))


def generator_diagnostics(
    syn_x: Tensor, syn_y: Tensor, real_x: Tensor, real_y: Tensor, classes: Tensor | None = None
) -> dict[str, Any]:
    """The numbers of the module docstring for synthetic ``(syn_x, syn_y)`` against real
    ``(real_x, real_y)`` features of the classes ``classes`` (default: the real features'
    classes). A few host syncs (the class bookkeeping), none per sample."""
    classes = torch.unique(real_y) if classes is None else classes.to(real_y.device)
    syn_x, real_x = syn_x.double(), real_x.double()
    syn_mean, syn_std = class_means(syn_x, syn_y.to(syn_x.device), classes.to(syn_x.device))
    real_mean, real_std = class_means(real_x, real_y, classes)
    syn_mean, syn_std = syn_mean.to(real_x.device), syn_std.to(real_x.device)
    real_spread = _mean_pairwise_distance(real_mean)
    within_syn = syn_std.pow(2).sum(1).sqrt().mean()
    within_real = real_std.pow(2).sum(1).sqrt().mean()
    nearest_syn = classes[torch.cdist(real_x, syn_mean).argmin(1)]
    nearest_real = classes[torch.cdist(real_x, real_mean).argmin(1)]
    distance = ((syn_mean - real_mean).pow(2).sum(1) + (syn_std - real_std).pow(2).sum(1)).sqrt()
    values = torch.stack([
        _mean_pairwise_distance(syn_mean) / real_spread,
        within_syn / within_real,
        mean_per_class_accuracy(nearest_syn, real_y, classes),
        mean_per_class_accuracy(nearest_real, real_y, classes),
        distance.mean(),
        distance.mean() / real_spread,
        real_spread,
    ]).double().cpu().tolist()  # fmt: skip
    names = ("spread_ratio", "within_class_ratio", "nearest_synthetic_mean_accuracy", "nearest_real_mean_accuracy",
             "class_distance_mean", "class_distance_relative", "real_class_mean_spread")  # fmt: skip
    return {**dict(zip(names, values)), "class_distance": distance.double().cpu().tolist(),
            "classes": classes.cpu().tolist()}  # fmt: skip


def projection_points(
    syn_x: Tensor, syn_y: Tensor, real_x: Tensor, real_y: Tensor, *, seed: int = 0,
    per_class: int = PROJECTION_POINTS_PER_CLASS, method: str = "tsne",
) -> dict[str, np.ndarray] | None:
    """2-D coordinates of up to ``per_class`` synthetic and real features of each class, by
    t-SNE (``method="tsne"``, after PCA to 50 dimensions, as the papers' figures) or PCA, from
    scikit-learn. ``None`` (logged) where scikit-learn is not installed (a GPU host with only
    torch). Returns ``{"xy": (n, 2), "label": (n,), "synthetic": (n,) bool}``."""
    try:
        from sklearn.decomposition import PCA
        from sklearn.manifold import TSNE
    except ImportError:
        log.warning("no projection figure: scikit-learn is not installed")
        return None
    rng = np.random.default_rng(seed)
    parts, labels, synthetic = [], [], []
    for is_syn, (x, y) in ((True, (syn_x, syn_y)), (False, (real_x, real_y))):
        x, y = x.float().cpu().numpy(), y.cpu().numpy()
        for c in np.unique(real_y.cpu().numpy()):
            rows = np.flatnonzero(y == c)
            rows = rng.permutation(rows)[:per_class]
            parts.append(x[rows])
            labels.append(np.full(rows.size, c))
            synthetic.append(np.full(rows.size, is_syn))
    x = np.concatenate(parts).astype(np.float64)
    reduced = PCA(n_components=min(50, *x.shape), random_state=seed).fit_transform(x)
    if method == "tsne":
        perplexity = float(min(30.0, max(2.0, (x.shape[0] - 1) / 3)))
        xy = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(reduced)
    elif method == "pca":
        xy = reduced[:, :2]
    else:
        raise ValueError(f"projection must be 'tsne' or 'pca', got {method!r}")
    return {"xy": xy, "label": np.concatenate(labels), "synthetic": np.concatenate(synthetic)}


def projection_figure(
    syn_x: Tensor, syn_y: Tensor, real_x: Tensor, real_y: Tensor,
    *, class_names: Sequence[str], title: str, seed: int = 0, method: str = "tsne",
) -> Figure:
    """:func:`projection_points` drawn by :func:`plot_projection`; without scikit-learn a figure
    that says so (the catalog always has a figure to save)."""
    points = projection_points(syn_x, syn_y, real_x, real_y, seed=seed, method=method)
    if points is None:
        fig = Figure(figsize=(7, 2))
        fig.text(0.5, 0.5, f"{title}\nno projection: scikit-learn is not installed", ha="center", va="center")
        return fig
    return plot_projection(points, class_names, title)


def plot_projection(points: dict[str, np.ndarray], class_names: Sequence[str], title: str) -> Figure:
    """Real (dots) and synthetic (crosses) features in two dimensions, coloured by class."""
    fig = Figure(figsize=(7, 6), layout="constrained")
    ax = fig.subplots()
    classes = np.unique(points["label"])
    palette = colormaps["tab20" if classes.size <= 20 else "turbo"]
    colours = {c: palette(i % 20 if classes.size <= 20 else i / max(classes.size - 1, 1)) for i, c in enumerate(classes)}
    for c in classes:
        for syn, marker, alpha in ((True, "x", 0.5), (False, "o", 0.9)):
            keep = (points["label"] == c) & (points["synthetic"] == syn)
            ax.scatter(*points["xy"][keep].T, s=12, marker=marker, color=colours[c], alpha=alpha, linewidths=0.8,
                       label=class_names[c] if not syn else None)  # fmt: skip
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"{title}\nreal test_unseen (o) and synthetic (x) features, by class")
    if classes.size <= 20:
        ax.legend(fontsize=6, markerscale=0.8, loc="best")
    return fig
