"""The final-classifier protocols every method shares: ZSL and GZSL softmax classifiers (methods_spec.md §2.8).

Both classifiers are trained on device-resident tensors. After every classifier epoch the test
metrics are computed; the result carries the LAST epoch (``final``, a protocol with no test-set
selection) and, clearly labelled, the reference's test-selected best epoch (``best_on_test``).
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Callable

import numpy as np
import torch
from torch import Tensor

from zsl_pipeline.evaluation.metrics import gzsl_metrics, mean_per_class_accuracy, per_class_accuracy
from zsl_pipeline.evaluation.synthesis import CHUNK_ROWS, ClassifierSets
from zsl_pipeline.models.classifier import LinearLogSoftmax
from zsl_pipeline.training.optim import adam
from zsl_pipeline.training.streams import randperm

if TYPE_CHECKING:  # type only
    from zsl_pipeline.training.features import FeatureTensors

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClassifierConfig:
    """Final-classifier settings; defaults are the reference's (25 epochs, CUB batch = syn_num 300).

    ``input_mode`` names the classifier space (a label for logs and the saved classifiers:
    ``x`` raw features, TF-VAEGAN's ``x_dec_h`` / ``x_h``, CADA-VAE's latents are ``x`` too).
    """

    epochs: int = 25
    batch_size: int = 300
    lr: float = 1e-3
    beta1: float = 0.5
    input_mode: str = "x_dec_h"

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ValueError(f"invalid classifier settings: {self}")


@dataclass(frozen=True)
class ProtocolMetrics:
    """ZSL top-1 (per-class mean, unseen only) and GZSL acc_seen / acc_unseen / H; fractions."""

    zsl_accuracy: float
    acc_seen: float
    acc_unseen: float
    harmonic_mean: float
    #: Classifier epoch (1-based) the ZSL / GZSL numbers come from; 0 if none beat 0.
    zsl_epoch: int
    gzsl_epoch: int


@dataclass
class ProtocolResult:
    """Both protocols' numbers, the per-epoch curves, the per-class table and the classifiers.

    ``final``: the last classifier epoch (no test-set selection).
    ``best_on_test``: the reference's best-of-epochs ON THE TEST SET (max ZSL accuracy; the
    max-H epoch's s/u/H, chosen independently) — test-selected, report it as such (§2.13.1).
    """

    final: ProtocolMetrics
    best_on_test: ProtocolMetrics
    history: list[dict[str, float]]
    per_class: dict[str, np.ndarray]
    zsl_classifier: LinearLogSoftmax
    gzsl_classifier: LinearLogSoftmax
    input_mode: str = field(default="x_dec_h")

    def flat_metrics(self) -> dict[str, float]:
        """``final_*`` and ``best_on_test_*`` numbers in one flat dict (for logs and trackers)."""
        out = {f"final_{k}": float(v) for k, v in asdict(self.final).items()}
        out.update({f"best_on_test_{k}": float(v) for k, v in asdict(self.best_on_test).items()})
        return out


def batch_stream(
    n: int, batch_size: int, num_batches: int, generator: torch.Generator, device: torch.device
) -> Tensor:
    """(num_batches, batch_size) sample indices: consecutive full-size chunks of a stream of
    fresh permutations — exactly the reference's ``next_batch`` (a batch that runs past the end
    of one shuffle is completed from the next shuffle), drawn on ``generator``'s device."""
    needed = num_batches * batch_size
    perms = [randperm(n, generator, device) for _ in range(math.ceil(needed / n))]
    return torch.cat(perms)[:needed].view(num_batches, batch_size)


@torch.no_grad()
def predict(model: LinearLogSoftmax, x: Tensor) -> Tensor:
    """argmax class index (into the classifier's outputs) for every row of ``x``."""
    return torch.cat([model(x[i : i + CHUNK_ROWS]).argmax(dim=1) for i in range(0, x.shape[0], CHUNK_ROWS)])


def fit_tracked(
    x: Tensor,
    y: Tensor,
    num_classes: int,
    config: ClassifierConfig,
    *,
    generator: torch.Generator,
    evaluate: Callable[[LinearLogSoftmax], Tensor],
) -> tuple[LinearLogSoftmax, Tensor]:
    """Train a fresh linear log-softmax classifier; ``evaluate`` after every epoch.

    Adam(lr, β1), NLL, ceil(n / batch) steps per epoch on shuffled full-size batches (§2.8).
    Returns the classifier and the stacked per-epoch evaluations (epochs, ...).
    """
    model = LinearLogSoftmax(x.shape[1], num_classes, generator=generator, device=x.device)
    opt = adam(model.parameters(), lr=config.lr, beta1=config.beta1)
    per_epoch = math.ceil(x.shape[0] / config.batch_size)
    batches = batch_stream(x.shape[0], config.batch_size, per_epoch * config.epochs, generator, x.device)
    evaluations = []
    for epoch in range(config.epochs):
        model.train()
        for idx in batches[epoch * per_epoch : (epoch + 1) * per_epoch]:
            opt.zero_grad(set_to_none=True)
            loss = torch.nn.functional.nll_loss(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
        model.eval()
        evaluations.append(evaluate(model))
    return model, torch.stack(evaluations)


def _first_strict_max(values: list[float]) -> int:
    """Index of the reference's running best: first value strictly above 0 and all earlier; -1 if none."""
    best, best_idx = 0.0, -1
    for i, value in enumerate(values):
        if value > best:
            best, best_idx = value, i
    return best_idx


def fit_protocols(
    sets: ClassifierSets,
    data: "FeatureTensors",
    gzsl_config: ClassifierConfig,
    zsl_config: ClassifierConfig,
    generator: torch.Generator,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> ProtocolResult:
    """Train and evaluate the GZSL, then the ZSL softmax classifier on ``sets`` (§2.8).

    GZSL: all classes, original ids; after every epoch acc_s (test_seen), acc_u (test_unseen)
    and H with argmax over all classes. ZSL: unseen classes only, labels remapped to 0..n_u−1;
    per-class accuracy on test_unseen. Labels and class lists come from ``data``. Shared by
    every method: only the sets differ.
    """
    device = sets.gzsl_x.device
    seen_y, unseen_y = data.test_seen_y, data.test_unseen_y

    # ---- GZSL: all classes, original ids (§2.8 step 1) -------------------------------------
    def eval_gzsl(model: LinearLogSoftmax) -> Tensor:
        return gzsl_metrics(
            predict(model, sets.test_seen_x),
            seen_y,
            predict(model, sets.test_unseen_x),
            unseen_y,
            seen_classes=data.seen_classes,
            unseen_classes=data.unseen_classes,
        )

    gzsl_model, gzsl_curve = fit_tracked(
        sets.gzsl_x, sets.gzsl_y, data.num_classes, gzsl_config, generator=generator, evaluate=eval_gzsl
    )
    if progress is not None:
        progress(1, 2)

    # ---- ZSL: unseen classes only, labels remapped (§2.8 step 2) ---------------------------
    n_unseen = int(data.unseen_classes.numel())
    remap = torch.full((data.num_classes,), -1, dtype=torch.long, device=device)
    remap[data.unseen_classes] = torch.arange(n_unseen, device=device)
    local = torch.arange(n_unseen, device=device)
    if bool((remap[sets.zsl_y] < 0).any()):
        raise ValueError("the ZSL classifier's training labels must all be unseen classes")

    def eval_zsl(model: LinearLogSoftmax) -> Tensor:
        return mean_per_class_accuracy(predict(model, sets.test_unseen_x), remap[unseen_y], local)

    zsl_model, zsl_curve = fit_tracked(
        sets.zsl_x, remap[sets.zsl_y], n_unseen, zsl_config, generator=generator, evaluate=eval_zsl
    )
    if progress is not None:
        progress(2, 2)

    gzsl_rows, zsl_values = gzsl_curve.tolist(), zsl_curve.tolist()  # one host sync per protocol
    history = []
    for e in range(max(len(gzsl_rows), len(zsl_values))):
        record: dict[str, float] = {"epoch": e + 1}
        if e < len(zsl_values):
            record["zsl_accuracy"] = zsl_values[e]
        if e < len(gzsl_rows):
            record.update(zip(("acc_seen", "acc_unseen", "harmonic_mean"), gzsl_rows[e]))
        history.append(record)
    zl, gl = zsl_config.epochs - 1, gzsl_config.epochs - 1
    final = ProtocolMetrics(zsl_values[zl], *gzsl_rows[gl], zsl_epoch=zl + 1, gzsl_epoch=gl + 1)
    # The reference keeps a running best initialised at 0 with strict ">" (classifier_images.py).
    bz, bg = _first_strict_max(zsl_values), _first_strict_max([row[2] for row in gzsl_rows])
    best = ProtocolMetrics(
        zsl_values[bz] if bz >= 0 else 0.0,
        *(gzsl_rows[bg] if bg >= 0 else (0.0, 0.0, 0.0)),
        zsl_epoch=bz + 1,
        gzsl_epoch=bg + 1,
    )
    per_class = {
        "zsl_unseen": per_class_accuracy(predict(zsl_model, sets.test_unseen_x), remap[unseen_y], local),
        "gzsl_seen": per_class_accuracy(predict(gzsl_model, sets.test_seen_x), seen_y, data.seen_classes),
        "gzsl_unseen": per_class_accuracy(predict(gzsl_model, sets.test_unseen_x), unseen_y, data.unseen_classes),
    }
    log.info(
        "classifiers (%s): final ZSL %.4f, GZSL s %.4f u %.4f H %.4f | test-selected ZSL %.4f, H %.4f",
        gzsl_config.input_mode,
        final.zsl_accuracy,
        final.acc_seen,
        final.acc_unseen,
        final.harmonic_mean,
        best.zsl_accuracy,
        best.harmonic_mean,
    )
    return ProtocolResult(
        final=final,
        best_on_test=best,
        history=history,
        per_class={k: v.cpu().numpy() for k, v in per_class.items()},
        zsl_classifier=zsl_model,
        gzsl_classifier=gzsl_model,
        input_mode=gzsl_config.input_mode,
    )


def reference_best_over_epochs(epoch_metrics: list[dict[str, float]]) -> dict[str, float]:
    """The reference's outer selection across GAN epochs, ON THE TEST SET (§2.8 step 3).

    ``epoch_metrics`` are :meth:`ProtocolResult.flat_metrics` dicts, one per evaluated GAN epoch.
    Returns the maximum ``best_on_test_zsl_accuracy`` and, independently, the max-H epoch's s/u/H
    (named as in :class:`ProtocolMetrics`),
    with the list positions they come from. These are the numbers the paper reports.
    """
    if not epoch_metrics:
        raise ValueError("no evaluated epochs")
    zi = _first_strict_max([m["best_on_test_zsl_accuracy"] for m in epoch_metrics])
    hi = _first_strict_max([m["best_on_test_harmonic_mean"] for m in epoch_metrics])
    pick = lambda i, key: epoch_metrics[i][key] if i >= 0 else 0.0  # noqa: E731
    return {
        "zsl_accuracy": pick(zi, "best_on_test_zsl_accuracy"),
        "acc_seen": pick(hi, "best_on_test_acc_seen"),
        "acc_unseen": pick(hi, "best_on_test_acc_unseen"),
        "harmonic_mean": pick(hi, "best_on_test_harmonic_mean"),
        "zsl_index": float(zi),
        "gzsl_index": float(hi),
    }
