"""Generator diagnostics: synthetic against real features of the unseen classes."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from zsl_pipeline.evaluation.diagnostics import generator_diagnostics, projection_figure, projection_points


def _hand_case():
    # real: class 3 at x = 0 ± 1 (two points), class 7 at x = 4 ± 1; the synthetic class means
    # are at x = 1 (class 3) and x = 2 (class 7), each with no spread
    real_x = torch.tensor([[-1.0, 0.0], [1.0, 0.0], [3.0, 0.0], [5.0, 0.0]])
    real_y = torch.tensor([3, 3, 7, 7])
    syn_x = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [2.0, 0.0], [2.0, 0.0], [2.0, 0.0]])
    syn_y = torch.tensor([3, 3, 3, 7, 7, 7])
    return syn_x, syn_y, real_x, real_y


def test_hand_computed_values():
    d = generator_diagnostics(*_hand_case())
    assert d["classes"] == [3, 7]
    assert d["real_class_mean_spread"] == pytest.approx(4.0)  # |0 - 4|
    assert d["spread_ratio"] == pytest.approx(1.0 / 4.0)  # |1 - 2| / 4
    assert d["within_class_ratio"] == pytest.approx(0.0)  # the synthetic classes have no spread
    # nearest synthetic mean (1 or 2): -1 -> 3 ok, 1 -> 3 ok, 3 -> 7 ok, 5 -> 7 ok
    assert d["nearest_synthetic_mean_accuracy"] == pytest.approx(1.0)
    assert d["nearest_real_mean_accuracy"] == pytest.approx(1.0)
    # W2 of diagonal Gaussians: class 3: sqrt(1² + 1²); class 7: sqrt(2² + 1²) (real std 1, synthetic 0)
    assert d["class_distance"] == pytest.approx([2**0.5, 5**0.5])
    assert d["class_distance_mean"] == pytest.approx((2**0.5 + 5**0.5) / 2)
    assert d["class_distance_relative"] == pytest.approx((2**0.5 + 5**0.5) / 2 / 4)


def test_a_squeezed_generator_is_seen_and_a_faithful_one_is_not():
    g = torch.Generator().manual_seed(0)
    centres = 3 * torch.randn(8, 64, generator=g)
    real_y, syn_y = torch.arange(8).repeat_interleave(30), torch.arange(8).repeat_interleave(100)
    real_x = centres[real_y] + torch.randn(real_y.numel(), 64, generator=g)
    syn_x = centres[syn_y] + torch.randn(syn_y.numel(), 64, generator=g)
    faithful = generator_diagnostics(syn_x, syn_y, real_x, real_y)
    squeezed = generator_diagnostics(0.25 * syn_x + 0.75 * syn_x.mean(0), syn_y, real_x, real_y)
    assert faithful["spread_ratio"] == pytest.approx(1.0, abs=0.05)
    assert faithful["within_class_ratio"] == pytest.approx(1.0, abs=0.05)
    assert faithful["class_distance_relative"] < 0.2 and faithful["nearest_synthetic_mean_accuracy"] == 1.0
    # the same samples pulled to a quarter of their distance from the common mean
    assert squeezed["spread_ratio"] == pytest.approx(0.25 * faithful["spread_ratio"], rel=1e-4)
    assert squeezed["within_class_ratio"] == pytest.approx(0.25 * faithful["within_class_ratio"], rel=1e-4)
    assert squeezed["class_distance_mean"] > 3 * faithful["class_distance_mean"]
    # a generator that swaps two classes' features: nearest-synthetic-mean misses exactly those
    swapped = syn_y.clone()
    swapped[syn_y == 0], swapped[syn_y == 1] = 1, 0
    assert generator_diagnostics(syn_x, swapped, real_x, real_y)["nearest_synthetic_mean_accuracy"] == pytest.approx(6 / 8)


def test_projection_keeps_each_class_and_says_when_it_cannot(monkeypatch):
    syn_x, syn_y, real_x, real_y = _hand_case()
    points = projection_points(syn_x.repeat(4, 1) + torch.rand(24, 2), syn_y.repeat(4), real_x, real_y,
                               per_class=5, method="pca")  # fmt: skip
    assert points["xy"].shape == (2 * 5 + 4, 2)  # up to 5 synthetic per class, every real one (2 per class)
    assert sorted(np.unique(points["label"]).tolist()) == [3, 7]
    assert int(points["synthetic"].sum()) == 10
    fig = projection_figure(syn_x, syn_y, real_x, real_y, class_names=[f"c{i}" for i in range(8)], title="t",
                            method="pca")  # fmt: skip
    assert len(fig.axes[0].collections) == 4  # (synthetic, real) x 2 classes
    monkeypatch.setitem(sys.modules, "sklearn", None)  # a host without scikit-learn
    monkeypatch.setitem(sys.modules, "sklearn.decomposition", None)
    fig = projection_figure(syn_x, syn_y, real_x, real_y, class_names=[f"c{i}" for i in range(8)], title="t")
    assert "scikit-learn is not installed" in fig.texts[0].get_text()
