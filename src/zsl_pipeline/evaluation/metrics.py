"""Per-class mean top-1 accuracy and the GZSL seen / unseen / harmonic-mean metrics (methods_spec.md §1).

All accuracies are fractions in [0, 1]. Functions return device tensors (one small host sync
per call, for the bincount length); call ``.item()`` when a number is needed.
"""

from __future__ import annotations

from typing import Mapping

import torch
from torch import Tensor

#: Report name of each metric: ZSL T1 and GZSL u, s, H (the papers' column names).
REPORT_NAMES = {"zsl_accuracy": "zsl_t1", "acc_unseen": "gzsl_u", "acc_seen": "gzsl_s", "harmonic_mean": "gzsl_h"}


def per_class_accuracy(pred: Tensor, target: Tensor, classes: Tensor) -> Tensor:
    """Top-1 accuracy of every class in ``classes`` (float64, NaN for a class with no sample).

    Vectorised with ``bincount``; a float division (the integer division of the reference's
    port-era code truncates to 0, §2.13 pitfall 9).
    """
    pred, target, classes = pred.long(), target.long(), classes.long()
    size = int(max(int(target.max()) if target.numel() else 0, int(classes.max())) + 1)
    total = torch.bincount(target, minlength=size).to(torch.float64)
    correct = torch.bincount(target[pred == target], minlength=size).to(torch.float64)
    return correct[classes] / total[classes]  # 0/0 = NaN marks an empty class


def mean_per_class_accuracy(pred: Tensor, target: Tensor, classes: Tensor) -> Tensor:
    """Mean over ``classes`` of the per-class top-1 accuracy (classes without samples skipped)."""
    return torch.nanmean(per_class_accuracy(pred, target, classes))


def harmonic_mean(acc_seen: Tensor | float, acc_unseen: Tensor | float) -> Tensor:
    """H = 2·s·u / (s + u), defined as 0 when s + u = 0."""
    s = torch.as_tensor(acc_seen, dtype=torch.float64)
    u = torch.as_tensor(acc_unseen, dtype=torch.float64)
    denom = s + u
    return torch.where(denom > 0, 2.0 * s * u / torch.where(denom > 0, denom, torch.ones_like(denom)), 0.0)


def gzsl_metrics(
    pred_seen: Tensor,
    target_seen: Tensor,
    pred_unseen: Tensor,
    target_unseen: Tensor,
    *,
    seen_classes: Tensor,
    unseen_classes: Tensor,
) -> Tensor:
    """(acc_s, acc_u, H) as a float64 vector: predictions are argmax over ALL classes (§1).

    acc_s is the mean over seen classes of per-class accuracy on test_seen, acc_u likewise over
    unseen classes on test_unseen.
    """
    acc_s = mean_per_class_accuracy(pred_seen, target_seen, seen_classes)
    acc_u = mean_per_class_accuracy(pred_unseen, target_unseen, unseen_classes)
    return torch.stack([acc_s, acc_u, harmonic_mean(acc_s, acc_u).to(acc_s.device)])


def report_names(metrics: Mapping[str, float]) -> dict[str, float]:
    """``{zsl_t1, gzsl_u, gzsl_s, gzsl_h}`` from a mapping holding ``zsl_accuracy``,
    ``acc_unseen``, ``acc_seen`` and ``harmonic_mean`` (fractions, as they are)."""
    return {name: metrics[key] for key, name in REPORT_NAMES.items()}
