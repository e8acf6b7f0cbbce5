"""Cross-method comparison: aggregate mean ± std over seeds, markdown report, seen/unseen plot."""

import math

import numpy as np
import pytest
from matplotlib.figure import Figure

from zsl_pipeline.evaluation.compare import ISO_H_LEVELS, aggregate_runs, markdown_table, plot_seen_unseen
from zsl_pipeline.evaluation.metrics import harmonic_mean


def _gan_run(seed, t1, u, s, h, zsr_map, zsr_p, wall, mem, spread=0.5):
    acc = {"zsl_t1": t1, "gzsl_u": u, "gzsl_s": s, "gzsl_h": h}
    return {
        "method": "clswgan",
        "seed": seed,
        "final": acc,
        "best_on_test": {key: value + 0.05 for key, value in acc.items()},
        "retrieval": {"zsr": {"map": zsr_map, "precision_at_k": zsr_p, "k": 5},
                      "gzsr": {"map": 0.30, "precision_at_k": 0.40, "k": 5}},
        "generator": {"spread_ratio": spread, "nearest_synthetic_mean_accuracy": 0.5 + seed / 10, "class_distance": [1.0]},
        "wall_time_s": wall,
        "peak_memory_mb": mem,
    }


RECORDS = [
    _gan_run(0, 0.60, 0.50, 0.70, 0.58, 0.40, 0.60, 100.0, 1000.0, spread=0.4),
    _gan_run(1, 0.62, 0.52, 0.70, 0.60, 0.45, 0.60, 200.0, 1500.0, spread=0.5),
    _gan_run(2, 0.64, 0.54, 0.70, 0.62, 0.50, 0.90, 300.0, 1200.0, spread=0.6),
    {"method": "eszsl", "seed": 0, "final": {"zsl_t1": 0.55, "gzsl_u": 0.10, "gzsl_s": 0.80, "gzsl_h": 0.18},
     "wall_time_s": 6.0, "peak_memory_mb": 300.0},
]


def test_aggregate_runs_mean_and_sample_std():
    frame = aggregate_runs(RECORDS)
    assert list(zip(frame["method"], frame["protocol"])) == [
        ("clswgan", "final"), ("clswgan", "best_on_test"), ("eszsl", "final")]
    final = frame.iloc[0]
    assert final["n_seeds"] == 3
    # Hand values (%): 60, 62, 64 -> mean 62, sample std sqrt((4 + 0 + 4) / 2) = 2
    assert final["zsl_t1_mean"] == pytest.approx(62.0) and final["zsl_t1_std"] == pytest.approx(2.0)
    assert (final["zsl_t1_min"], final["zsl_t1_max"]) == (pytest.approx(60.0), pytest.approx(64.0))
    assert final["gzsl_u_mean"] == pytest.approx(52.0) and final["gzsl_u_std"] == pytest.approx(2.0)
    assert final["gzsl_s_mean"] == pytest.approx(70.0) and final["gzsl_s_std"] == pytest.approx(0.0, abs=1e-9)
    assert final["gzsl_h_mean"] == pytest.approx(60.0) and final["gzsl_h_std"] == pytest.approx(2.0)
    # ZSR mAP 40, 45, 50 -> 45 ± 5; ZSR P@5 60, 60, 90 -> 70 ± sqrt((100 + 100 + 400) / 2) = sqrt(300)
    assert final["zsr_map_mean"] == pytest.approx(45.0) and final["zsr_map_std"] == pytest.approx(5.0)
    assert final["zsr_p_at_k_mean"] == pytest.approx(70.0) and final["zsr_p_at_k_std"] == pytest.approx(300**0.5)
    assert final["gzsr_map_mean"] == pytest.approx(30.0) and final["gzsr_p_at_k_mean"] == pytest.approx(40.0)
    assert final["retrieval_k"] == 5
    assert final["wall_time_s_mean"] == pytest.approx(200.0) and final["peak_memory_mb_max"] == 1500.0
    # generator diagnostics: the spread ratio as a ratio (0.4, 0.5, 0.6), the accuracy in % (50, 60, 70)
    assert final["spread_ratio_mean"] == pytest.approx(0.5) and final["spread_ratio_std"] == pytest.approx(0.1)
    assert (final["spread_ratio_min"], final["spread_ratio_max"]) == (pytest.approx(0.4), pytest.approx(0.6))
    assert final["nearest_synthetic_mean_accuracy_mean"] == pytest.approx(60.0)
    # best_on_test is +5 points on every accuracy, same spread; retrieval is shared by both rows.
    best = frame.iloc[1]
    assert best["zsl_t1_mean"] == pytest.approx(67.0) and best["zsl_t1_std"] == pytest.approx(2.0)
    assert best["zsr_map_mean"] == pytest.approx(45.0)
    # One seed: no std (NaN); no retrieval: NaN.
    eszsl = frame.iloc[2]
    assert eszsl["n_seeds"] == 1 and eszsl["zsl_t1_mean"] == pytest.approx(55.0) and math.isnan(eszsl["zsl_t1_std"])
    assert math.isnan(eszsl["zsr_map_mean"]) and math.isnan(eszsl["zsr_map_std"]) and math.isnan(eszsl["retrieval_k"])
    assert math.isnan(eszsl["spread_ratio_mean"])  # no generator


def test_aggregate_runs_per_protocol_retrieval_and_mixed_k():
    run = dict(RECORDS[0], retrieval={"final": {"zsr": {"map": 0.2, "precision_at_k": 0.3, "k": 5}}})
    frame = aggregate_runs([run])
    assert frame.iloc[0]["zsr_map_mean"] == pytest.approx(20.0)
    assert math.isnan(frame.iloc[1]["zsr_map_mean"])  # best_on_test has no retrieval here
    other_k = dict(RECORDS[1], retrieval={"zsr": {"map": 0.2, "precision_at_k": 0.3, "k": 10}})
    with pytest.raises(ValueError, match="different k"):
        aggregate_runs([RECORDS[0], other_k])


def test_markdown_table_cells():
    text = markdown_table(aggregate_runs(RECORDS))
    assert "best_on_test" in text and "TEST labels" in text.splitlines()[0]
    assert "### final" in text and "### best_on_test" in text
    header = ("| method | seeds | precision | ZSL T1 | u | s | H | ZSR mAP | GZSR mAP | ZSR P@5 | GZSR P@5 "
              "| syn/real spread | nearest syn. mean | time (min) |")
    assert header in text
    clswgan = "| clswgan | 3 | fp32 | 62.0 ± 2.0 | 52.0 ± 2.0 | 70.0 ± 0.0 | 60.0 ± 2.0 | 45.0 ± 5.0 | 30.0 ± 0.0 | 70.0 ± 17.3"
    assert clswgan in text
    assert "| 0.50 ± 0.10 | 60.0 ± 10.0 | 3.3 | 1500 |" in text  # 200 s mean wall time = 3.3 min, memory max 1500 MB
    assert "| eszsl | 1 | fp32 | 55.0 | 10.0 | 80.0 | 18.0 | – | – | – | – | – | – | 0.1 | 300 |" in text  # no ± std
    assert "| clswgan | 3 | fp32 | 67.0 ± 2.0 |" in text  # best_on_test table (records without one: fp32)
    final_section = text.split("### best_on_test")[0]
    assert "| clswgan | 60.0 – 64.0 | 50.0 – 54.0 | 70.0 – 70.0 | 58.0 – 62.0 | 0.40 – 0.60 |" in final_section
    assert "| eszsl | 55.0 – 55.0 | 10.0 – 10.0 | 80.0 – 80.0 | 18.0 – 18.0 | – |" in final_section
    mixed = [{**r, "precision": "bf16"} if r["method"] == "clswgan" and r["seed"] == 0 else r for r in RECORDS]
    assert set(aggregate_runs(mixed)["precision"]) == {"bf16,fp32", "fp32"}  # a mix is shown as such
    best_section = text.split("### best_on_test")[1]
    assert "eszsl" not in best_section  # no best_on_test run for ESZSL


def test_plot_seen_unseen():
    fig = plot_seen_unseen(RECORDS)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    # One scatter collection per (method, protocol present): clswgan final + best_on_test, eszsl final.
    gids = [c.get_gid() for c in ax.collections]
    assert gids == ["clswgan:final", "clswgan:best_on_test", "eszsl:final"]
    final = ax.collections[0].get_offsets()
    assert np.allclose(final, [[50, 70], [52, 70], [54, 70]])
    assert ax.collections[1].get_facecolors().size == 0  # hollow markers for best_on_test
    assert np.allclose(ax.collections[2].get_offsets(), [[10, 80]])
    assert ax.get_xlim() == (0, 100) and ax.get_ylim() == (0, 100)
    # Iso-H curves, each inside the square and on its level: check H = 50.
    iso = {line.get_gid(): line for line in ax.lines if (line.get_gid() or "").startswith("iso_h_")}
    assert sorted(iso) == sorted(f"iso_h_{h}" for h in ISO_H_LEVELS) and len(iso) == 9
    u, s = iso["iso_h_50"].get_data()
    assert (u >= 0).all() and (u <= 100).all() and (s >= 0).all() and (s <= 100 + 1e-9).all()
    assert harmonic_mean(u[len(u) // 2] / 100, s[len(s) // 2] / 100).item() == pytest.approx(0.5)
    assert np.allclose(2 * u * s / (u + s), 50.0)
    assert any(text.get_text() == "H=50" for text in ax.texts)
