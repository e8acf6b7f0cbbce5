"""Per-class accuracy and GZSL s/u/H against hand-computed values."""

import math

import pytest
import torch

from zsl_pipeline.evaluation import gzsl_metrics, harmonic_mean, mean_per_class_accuracy, per_class_accuracy


def test_per_class_accuracy_by_hand():
    target = torch.tensor([0, 0, 0, 1, 1, 2])
    pred = torch.tensor([0, 0, 1, 1, 0, 0])
    classes = torch.tensor([0, 1, 2])
    assert per_class_accuracy(pred, target, classes).tolist() == pytest.approx([2 / 3, 1 / 2, 0.0])
    # per-class mean, not overall accuracy (3/6)
    assert mean_per_class_accuracy(pred, target, classes).item() == pytest.approx((2 / 3 + 1 / 2 + 0) / 3)


def test_per_class_accuracy_subset_and_empty_class():
    target = torch.tensor([3, 3, 5, 5])
    pred = torch.tensor([3, 5, 5, 5])
    acc = per_class_accuracy(pred, target, torch.tensor([5, 3, 4]))
    assert acc[:2].tolist() == pytest.approx([1.0, 0.5]) and math.isnan(acc[2].item())
    assert mean_per_class_accuracy(pred, target, torch.tensor([5, 3, 4])).item() == pytest.approx(0.75)


def test_harmonic_mean_by_hand():
    assert harmonic_mean(0.5, 0.25).item() == pytest.approx(2 * 0.5 * 0.25 / 0.75)
    assert harmonic_mean(0.0, 0.0).item() == 0.0
    assert harmonic_mean(0.6, 0.0).item() == 0.0


def test_gzsl_metrics_by_hand():
    seen, unseen = torch.tensor([0, 1]), torch.tensor([2, 3])
    y_s, p_s = torch.tensor([0, 0, 1, 1]), torch.tensor([0, 2, 1, 1])  # class 0: 1/2, class 1: 1 -> 0.75
    y_u, p_u = torch.tensor([2, 2, 3, 3]), torch.tensor([2, 0, 0, 0])  # class 2: 1/2, class 3: 0 -> 0.25
    s, u, h = gzsl_metrics(p_s, y_s, p_u, y_u, seen_classes=seen, unseen_classes=unseen).tolist()
    assert (s, u) == pytest.approx((0.75, 0.25))
    assert h == pytest.approx(2 * 0.75 * 0.25 / 1.0)
