"""Comparison of methods across seeds: aggregate table, markdown report and seen/unseen scatter.

Input is a list of per-run records::

    {"method": "clswgan", "seed": 0,
     "final": {"zsl_t1", "gzsl_u", "gzsl_s", "gzsl_h"}, "best_on_test": {same keys},
     "retrieval": {"zsr": {"map", "precision_at_k", "k"}, "gzsr": {...}},  # absent: non-generative
     "generator": {"spread_ratio", "nearest_synthetic_mean_accuracy", ...},  # absent: non-generative
     "wall_time_s": float, "peak_memory_mb": float}

Accuracies and retrieval numbers are fractions in [0, 1]; the table reports them in %. ``retrieval``
may also be keyed by protocol (``{"final": {"zsr", "gzsr"}, "best_on_test": {...}}``) when it was
computed once per selected model; otherwise the same retrieval numbers appear in both protocol
rows. ``best_on_test`` is selected on test labels (methods_spec_part2.md §7.8) and is reported only
for comparison with published numbers. Figures are returned, never written (the catalog saves them).
"""

from __future__ import annotations

import logging
import math
from typing import Any, Mapping, Sequence

import matplotlib

matplotlib.use("Agg")  # headless: figures are saved by the catalog, never shown
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

log = logging.getLogger(__name__)

Record = Mapping[str, Any]

#: Model-selection protocols, in table order.
PROTOCOLS = ("final", "best_on_test")
#: Classification metrics read from ``record[protocol]``.
ACCURACY_KEYS = ("zsl_t1", "gzsl_u", "gzsl_s", "gzsl_h")
#: Retrieval metrics: column key -> (task, key in the retrieval dict).
RETRIEVAL_KEYS = {
    "zsr_map": ("zsr", "map"),
    "zsr_p_at_k": ("zsr", "precision_at_k"),
    "gzsr_map": ("gzsr", "map"),
    "gzsr_p_at_k": ("gzsr", "precision_at_k"),
}
#: Every aggregated metric (each gets ``<key>_mean``, ``<key>_std``, ``<key>_min`` and
#: ``<key>_max`` columns, in %).
METRIC_KEYS = ACCURACY_KEYS + tuple(RETRIEVAL_KEYS)
#: Generator diagnostics (``evaluation.diagnostics``) read from ``record["generator"]``, with the
#: factor of their columns: the spread ratio as a ratio, the accuracy in %. The same in both
#: protocol rows (synthesis does not depend on the classifier's selection).
GENERATOR_KEYS = {"spread_ratio": 1.0, "nearest_synthetic_mean_accuracy": 100.0}
#: The statistics over seeds of every metric, in column order.
STATS = ("mean", "std", "min", "max")
#: Marker for a missing value in the markdown table.
MISSING = "–"
#: Iso-harmonic-mean curves of the seen/unseen plot (%).
ISO_H_LEVELS = tuple(range(10, 100, 10))


def _retrieval(record: Record, protocol: str) -> Mapping[str, Any] | None:
    """The record's {"zsr", "gzsr"} retrieval dict for ``protocol`` (shared or per-protocol)."""
    retrieval = record.get("retrieval")
    if not retrieval:
        return None
    if any(p in retrieval for p in PROTOCOLS):
        return retrieval.get(protocol)
    return retrieval


def _value(mapping: Mapping[str, Any] | None, key: str) -> float:
    """``mapping[key]`` as a float, NaN when the mapping or the key is missing (or None)."""
    if not mapping or mapping.get(key) is None:
        return math.nan
    return float(mapping[key])


def _stats(values: Sequence[float]) -> tuple[float, float, float, float]:
    """Mean, sample std (ddof = 1), min and max of the finite values; std NaN for one value (no
    spread to report), all NaN for none."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return math.nan, math.nan, math.nan, math.nan
    return float(x.mean()), (float(x.std(ddof=1)) if x.size > 1 else math.nan), float(x.min()), float(x.max())


def aggregate_runs(records: Sequence[Record]) -> pd.DataFrame:
    """One row per (method, protocol): mean and std over seeds of every metric, in %.

    Columns: ``method``, ``protocol``, ``n_seeds`` (runs with that protocol), ``precision`` (of
    those runs, e.g. ``fp32``), ``<m>_mean`` / ``<m>_std`` / ``<m>_min`` / ``<m>_max`` for m in
    ``METRIC_KEYS`` (ZSL T1, GZSL u/s/H, ZSR/GZSR mAP and P@k, all × 100) and ``GENERATOR_KEYS``,
    ``retrieval_k``, ``wall_time_s_mean`` and ``peak_memory_mb_max``.

    The std is the SAMPLE std (ddof = 1) over the seeds that have the value, NaN when only one
    has it (the table then shows the value alone), NaN like the mean when none has (e.g. retrieval for a non-generative method).
    Methods keep their order of first appearance; protocols follow ``PROTOCOLS``. Raises
    ValueError if one row mixes retrieval runs with different k.
    """
    methods = list(dict.fromkeys(r["method"] for r in records))
    rows = []
    for method in methods:
        runs = [r for r in records if r["method"] == method]
        for protocol in PROTOCOLS:
            runs_p = [r for r in runs if r.get(protocol)]
            if not runs_p:
                continue
            row: dict[str, Any] = {"method": method, "protocol": protocol, "n_seeds": len(runs_p)}
            row["precision"] = ",".join(sorted({str(r.get("precision", "fp32")) for r in runs_p}))
            columns = {key: [_value(r[protocol], key) for r in runs_p] for key in ACCURACY_KEYS}
            ks = set()
            for key, (task, name) in RETRIEVAL_KEYS.items():
                tasks = [(_retrieval(r, protocol) or {}).get(task) for r in runs_p]
                columns[key] = [_value(t, name) for t in tasks]
                ks |= {int(t["k"]) for t in tasks if t and t.get("k") is not None}
            if len(ks) > 1:
                raise ValueError(f"{method} / {protocol}: retrieval runs with different k {sorted(ks)}")
            columns.update({key: [_value(r.get("generator"), key) for r in runs_p] for key in GENERATOR_KEYS})
            factors = {**dict.fromkeys(METRIC_KEYS, 100.0), **GENERATOR_KEYS}
            for key, factor in factors.items():
                for stat, value in zip(STATS, _stats(columns[key])):
                    row[f"{key}_{stat}"] = factor * value
            row["retrieval_k"] = ks.pop() if ks else math.nan
            row["wall_time_s_mean"] = _stats([_value(r, "wall_time_s") for r in runs_p])[0]
            memory = np.asarray([_value(r, "peak_memory_mb") for r in runs_p], dtype=float)
            row["peak_memory_mb_max"] = float(np.nanmax(memory)) if np.isfinite(memory).any() else math.nan
            rows.append(row)
    columns = ["method", "protocol", "n_seeds", "precision"]
    columns += [f"{key}_{stat}" for key in (*METRIC_KEYS, *GENERATOR_KEYS) for stat in STATS]
    columns += ["retrieval_k", "wall_time_s_mean", "peak_memory_mb_max"]
    return pd.DataFrame(rows, columns=columns)


def _cell(mean: float, std: float) -> str:
    """'62.5 ± 1.2' (one decimal), '–' when the mean is missing."""
    if not np.isfinite(mean):
        return MISSING
    return f"{mean:.1f}" if not np.isfinite(std) else f"{mean:.1f} ± {std:.1f}"


def _ratio_cell(mean: float, std: float) -> str:
    """'0.62 ± 0.03' (two decimals), '–' when the mean is missing."""
    if not np.isfinite(mean):
        return MISSING
    return f"{mean:.2f}" if not np.isfinite(std) else f"{mean:.2f} ± {std:.2f}"


def _plain(value: float, fmt: str) -> str:
    return format(value, fmt) if np.isfinite(value) else MISSING


def _range_cell(low: float, high: float, fmt: str = ".1f") -> str:
    """'51.3 – 53.1', '–' when missing."""
    return f"{low:{fmt}} – {high:{fmt}}" if np.isfinite(low) else MISSING


def markdown_table(frame: pd.DataFrame) -> str:
    """A markdown report of ``aggregate_runs``: one table per protocol, methods as rows.

    Cells are mean ± sample std over seeds in % (one decimal), '–' where missing; time is the mean
    wall time per run in minutes, memory the peak over seeds in MB. Under each protocol's table
    a second one gives the min – max over seeds of the accuracies and the spread ratio.
    """
    ks = {int(k) for k in frame["retrieval_k"] if np.isfinite(k)}
    k = str(ks.pop()) if len(ks) == 1 else "k"
    header = ["method", "seeds", "precision", "ZSL T1", "u", "s", "H", "ZSR mAP", "GZSR mAP", f"ZSR P@{k}",
              f"GZSR P@{k}", "syn/real spread", "nearest syn. mean", "time (min)", "memory (MB)"]
    metrics = ("zsl_t1", "gzsl_u", "gzsl_s", "gzsl_h", "zsr_map", "gzsr_map", "zsr_p_at_k", "gzsr_p_at_k")
    lines = [
        "Mean ± sample std (ddof = 1) over seeds, in %. `final`: the last epoch's model. "
        "`best_on_test`: the model selected on TEST labels (best epoch by test accuracy, as in the "
        "published code), optimistic and shown only for comparison with published numbers.",
        f"ZSR / GZSR mAP: full-ranking mean average precision; P@{k}: precision of the {k} nearest "
        "(the released code's 'Mean ZSR / GZSR acc'). GZSR database: all test images.",
        "syn/real spread: mean distance between the synthetic class means over that between the real "
        "test_unseen class means (a ratio; near 1 = classes as far apart as the real ones); nearest syn. "
        "mean: real test_unseen features labelled by the nearest synthetic class mean (per-class %).",
    ]
    for protocol in PROTOCOLS:
        rows = frame[frame["protocol"] == protocol]
        if rows.empty:
            continue
        lines += ["", f"### {protocol}", "", "| " + " | ".join(header) + " |",
                  "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
        for _, row in rows.iterrows():
            cells = [str(row["method"]), str(int(row["n_seeds"])), str(row["precision"])]
            cells += [_cell(row[f"{m}_mean"], row[f"{m}_std"]) for m in metrics]
            cells += [_ratio_cell(row["spread_ratio_mean"], row["spread_ratio_std"]),
                      _cell(row["nearest_synthetic_mean_accuracy_mean"], row["nearest_synthetic_mean_accuracy_std"])]
            cells += [_plain(row["wall_time_s_mean"] / 60, ".1f"), _plain(row["peak_memory_mb_max"], ".0f")]
            lines.append("| " + " | ".join(cells) + " |")
        lines += ["", f"min – max over seeds ({protocol}):", "",
                  "| method | ZSL T1 | u | s | H | syn/real spread |", "|---|---:|---:|---:|---:|---:|"]
        for _, row in rows.iterrows():
            cells = [str(row["method"])] + [_range_cell(row[f"{m}_min"], row[f"{m}_max"]) for m in metrics[:4]]
            cells.append(_range_cell(row["spread_ratio_min"], row["spread_ratio_max"], ".2f"))
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def iso_h_curve(h: float, num: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """Points (u, s) in % with harmonic mean ``h``: s = h·u / (2u − h), u from 100h/(200 − h) to 100
    (the part inside the 0–100 % square; the curve exists for u > h/2)."""
    u = np.linspace(100 * h / (200 - h), 100, num)
    return u, h * u / (2 * u - h)


def plot_seen_unseen(records: Sequence[Record]) -> Figure:
    """GZSL u (x) against s (y) in %: one point per (method, seed), filled for ``final``, hollow
    for ``best_on_test``; one colour (one scatter collection per protocol) per method; iso-H
    curves H = 10 … 90 % as labelled light grey lines (``gid`` ``iso_h_<H>``)."""
    fig = Figure(figsize=(8.5, 6), layout="constrained")
    ax = fig.subplots()
    for h in ISO_H_LEVELS:
        u, s = iso_h_curve(h)
        ax.plot(u, s, color="lightgrey", linewidth=0.8, zorder=0, gid=f"iso_h_{h}", label=f"H = {h} %")
        ax.text(u[-1] - 1, s[-1] + 0.5, f"H={h}", color="grey", fontsize=7, ha="right", va="bottom")
    colour = matplotlib.colormaps["tab10"]
    methods = list(dict.fromkeys(r["method"] for r in records))
    handles = []
    for i, method in enumerate(methods):
        c = colour(i % 10)
        runs = [r for r in records if r["method"] == method]
        for protocol, face in (("final", c), ("best_on_test", "none")):
            points = np.asarray([(_value(r.get(protocol), "gzsl_u"), _value(r.get(protocol), "gzsl_s"))
                                 for r in runs], dtype=float).reshape(-1, 2)
            points = 100 * points[np.isfinite(points).all(1)]
            if points.size:
                ax.scatter(points[:, 0], points[:, 1], s=36, facecolors=face, edgecolors=c, linewidths=1.2,
                           label=f"{method} ({protocol})", gid=f"{method}:{protocol}", zorder=2)
        handles.append(Line2D([], [], color=c, marker="o", linestyle="", label=method))
    handles += [
        Line2D([], [], color="black", marker="o", linestyle="", label="final"),
        Line2D([], [], color="black", marker="o", markerfacecolor="none", linestyle="",
               label="best_on_test (selected on test labels)"),
    ]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8)  # outside the axes
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 100)
    ax.set_aspect("equal")
    ax.set_xlabel("GZSL unseen accuracy u (%)")
    ax.set_ylabel("GZSL seen accuracy s (%)")
    ax.set_title("seen vs unseen accuracy per run (grey: iso-H)")
    return fig


def comparison_report(records: Sequence[Record]) -> tuple[pd.DataFrame, str, Figure, dict[str, Any]]:
    """The comparison of ``records`` (every method's runs): the table, its markdown (also
    logged), the u-against-s figure and the metrics ``{"<method>.<protocol>": {column: value}}``."""
    frame = aggregate_runs(records)
    table = markdown_table(frame)
    log.info("comparison (per-class mean top-1 and retrieval, %%):\n%s", table)
    metrics = {
        f"{row.method}.{row.protocol}": {
            key: float(value) for key, value in row._asdict().items() if isinstance(value, float) and value == value
        }
        for row in frame.itertuples(index=False)
    }
    return frame, table, plot_seen_unseen(records), metrics
