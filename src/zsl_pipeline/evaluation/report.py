"""Result tables and figures (matplotlib figures returned, never written: the catalog saves them)."""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")  # headless: figures are saved by the catalog, never shown
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

#: Loss curves drawn from the training history, with their panel titles.
LOSS_PANELS = {
    "d_loss": "critic loss (γ_D-scaled, incl. GP)",
    "g_loss": "generator loss L_G",
    "vae_loss": "VAE loss (BCE + KL)",
    "wasserstein": "Wasserstein estimate",
    "cycle_real": "cycle loss L_R (real)",
    "gp_weight": "adaptive GP weight λ",
}
#: Per-epoch accuracy curves (final protocol of each generator epoch's classifiers).
ACCURACY_CURVES = {
    "final_zsl_accuracy": "ZSL T1",
    "final_acc_unseen": "GZSL u",
    "final_acc_seen": "GZSL s",
    "final_harmonic_mean": "GZSL H",
}


def _series(history: Mapping[str, Sequence[float | None]], key: str) -> tuple[np.ndarray, np.ndarray]:
    """(epochs, values) of one history column, epochs without a value dropped."""
    epochs = np.asarray(history["epoch"], dtype=float)
    values = np.asarray([np.nan if v is None else v for v in history.get(key, [None] * len(epochs))], dtype=float)
    keep = np.isfinite(values)
    return epochs[keep], values[keep]


def plot_losses(history: Mapping[str, Sequence[float | None]]) -> Figure:
    """One panel per loss term (and λ) against the generator epoch."""
    fig = Figure(figsize=(12, 6), layout="constrained")
    axes = fig.subplots(2, 3).ravel()
    for ax, (key, title) in zip(axes, LOSS_PANELS.items()):
        x, y = _series(history, key)
        ax.plot(x, y, marker="." if x.size < 30 else None)
        ax.set_title(title)
        ax.set_xlabel("epoch")
        if key == "gp_weight" and y.size and (y > 0).all():
            ax.set_yscale("log")
    return fig


def plot_accuracy(history: Mapping[str, Sequence[float | None]], baseline: Mapping[str, float] | None = None) -> Figure:
    """ZSL T1 and GZSL u/s/H of every evaluated generator epoch; ``baseline`` (label -> value,
    e.g. a non-generative method's numbers) as dotted lines."""
    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.subplots()
    for key, label in ACCURACY_CURVES.items():
        x, y = _series(history, key)
        ax.plot(x, 100 * y, marker="o" if x.size < 30 else None, label=label)
    if baseline:
        for key, value in baseline.items():
            ax.axhline(100 * value, linestyle=":", color="grey")
            ax.annotate(key, (ax.get_xlim()[0], 100 * value), fontsize=8, color="grey")
    ax.set_xlabel("generator epoch")
    ax.set_ylabel("per-class mean top-1 (%)")
    ax.set_ylim(0, 100)
    ax.legend()
    ax.set_title("accuracy per epoch (last classifier epoch of each evaluation)")
    return fig


def per_class_table(per_class: Mapping[str, np.ndarray], class_names: Sequence[str], seen: np.ndarray, unseen: np.ndarray) -> pd.DataFrame:
    """One row per class: its kind and its per-class accuracy under ZSL and GZSL."""
    rows = [
        {"class_id": int(c), "class_name": class_names[c], "kind": "unseen",
         "zsl_accuracy": float(per_class["zsl_unseen"][i]), "gzsl_accuracy": float(per_class["gzsl_unseen"][i])}
        for i, c in enumerate(unseen)
    ]
    rows += [
        {"class_id": int(c), "class_name": class_names[c], "kind": "seen",
         "zsl_accuracy": np.nan, "gzsl_accuracy": float(per_class["gzsl_seen"][i])}
        for i, c in enumerate(seen)
    ]
    return pd.DataFrame(rows).sort_values(["kind", "class_id"], ascending=[False, True]).reset_index(drop=True)


def summary_table(metrics: Mapping[str, Mapping[str, float]], rows: Sequence[str]) -> str:
    """A plain-text table of ZSL T1 and GZSL u/s/H (in %) for the given rows of ``metrics``."""
    lines = [f"{'':<14}{'ZSL T1':>8}{'u':>8}{'s':>8}{'H':>8}"]
    for row in rows:
        m = metrics.get(row) or {}
        cells = "".join(f"{100 * m[k]:>8.1f}" if k in m else f"{'-':>8}" for k in ("zsl_t1", "gzsl_u", "gzsl_s", "gzsl_h"))
        lines.append(f"{row:<14}{cells}")
    return "\n".join(lines)
