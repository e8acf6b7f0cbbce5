"""The frozen configuration of a CADA-VAE run (methods_spec.md §3.4, §3.5; CUB defaults)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from zsl_pipeline.methods.cada_vae.models import REPARAMETERIZATIONS, Warmup
from zsl_pipeline.training.device import TRAINING_PRECISIONS
from zsl_pipeline.training.streams import NOISE_DEVICES

SamplesPerClass = tuple[int, int, int, int]
#: Fields holding fixed-length tuples (a YAML list is stored as the tuple).
TUPLE_FIELDS = (
    "beta_warmup",
    "cross_reconstruction_warmup",
    "distance_warmup",
    "samples_per_class_gzsl",
    "samples_per_class_zsl",
    "samples_per_class_gzsl_fewshot",
    "samples_per_class_zsl_fewshot",
)


@dataclass(frozen=True)
class CADAVAEConfig:
    """Every setting of one CADA-VAE run; defaults are the reference's (§3.4, §3.5, CUB epochs).

    ``samples_per_class_*`` are (img_seen, att_seen, att_unseen, img_unseen) rows of the §3.5
    table; ``*_warmup`` are (F, start epoch, end epoch) of §3.4.
    """

    # ---- networks (§3.2) --------------------------------------------------------------------
    latent_size: int = 64
    image_encoder_hidden: int = 1560
    image_decoder_hidden: int = 1660
    attribute_encoder_hidden: int = 1450
    attribute_decoder_hidden: int = 665
    # ---- VAE training (§3.4) ----------------------------------------------------------------
    lr: float = 1.5e-4
    batch_size: int = 50
    nepoch: int = 100
    beta_warmup: tuple[float, int, int] = (0.25, 0, 93)
    cross_reconstruction_warmup: tuple[float, int, int] = (2.37, 21, 75)
    distance_warmup: tuple[float, int, int] = (8.13, 6, 22)
    #: "reference" (one scalar ε per sample, scale exp(logvar)) or "textbook" (§3.3).
    reparameterization: str = "reference"
    # ---- classifier sets (§3.5) -------------------------------------------------------------
    samples_per_class_gzsl: SamplesPerClass = (200, 0, 400, 0)
    samples_per_class_zsl: SamplesPerClass = (0, 0, 200, 0)
    samples_per_class_gzsl_fewshot: SamplesPerClass = (200, 0, 200, 200)
    samples_per_class_zsl_fewshot: SamplesPerClass = (0, 0, 200, 200)
    # ---- final classifiers (§3.5) -----------------------------------------------------------
    classifier_epochs_gzsl: int = 23
    classifier_epochs_zsl: int = 22
    classifier_lr: float = 1e-3
    classifier_batch_size: int = 32
    classifier_beta1: float = 0.5
    # ---- bookkeeping ------------------------------------------------------------------------
    seed: int = 0
    #: ``fp32`` (the reference's), or on CUDA ``tf32`` or ``bf16`` (autocast).
    precision: str = "fp32"
    #: Where the training and evaluation noise is drawn: ``device`` (the training device, the
    #: default) or ``cpu`` (CPU generators, every draw moved to the device: a GPU run then draws
    #: exactly what a CPU run of the same seed draws; for comparing the two, ``training.streams``).
    noise_device: str = "device"

    def __post_init__(self) -> None:
        def need(ok: bool, field: str, problem: str) -> None:
            if not ok:
                raise ValueError(f"CADAVAEConfig.{field}: {problem} (got {getattr(self, field)!r})")

        for name in TUPLE_FIELDS:
            object.__setattr__(self, name, tuple(getattr(self, name)))

        for name in (
            "latent_size",
            "image_encoder_hidden",
            "image_decoder_hidden",
            "attribute_encoder_hidden",
            "attribute_decoder_hidden",
            "batch_size",
            "nepoch",
            "classifier_epochs_gzsl",
            "classifier_epochs_zsl",
            "classifier_batch_size",
        ):
            need(getattr(self, name) >= 1, name, "must be a positive integer")
        for name in ("lr", "classifier_lr"):
            need(getattr(self, name) > 0, name, "must be positive")
        need(0 <= self.classifier_beta1 < 1, "classifier_beta1", "must lie in [0, 1)")
        need(self.precision in TRAINING_PRECISIONS, "precision", f"must be one of {TRAINING_PRECISIONS}")
        need(self.noise_device in NOISE_DEVICES, "noise_device", f"must be one of {NOISE_DEVICES}")
        need(
            self.reparameterization in REPARAMETERIZATIONS,
            "reparameterization",
            f"must be one of {REPARAMETERIZATIONS}",
        )
        for name in ("beta_warmup", "cross_reconstruction_warmup", "distance_warmup"):
            factor, start, end = getattr(self, name)
            need(factor >= 0 and 0 <= start < end, name, "needs factor >= 0 and 0 <= start < end")
        for name in (
            "samples_per_class_gzsl",
            "samples_per_class_zsl",
            "samples_per_class_gzsl_fewshot",
            "samples_per_class_zsl_fewshot",
        ):
            need(all(n >= 0 for n in getattr(self, name)), name, "counts must be >= 0")
        for name in ("samples_per_class_zsl", "samples_per_class_zsl_fewshot"):
            need(
                getattr(self, name)[:2] == (0, 0),
                name,
                "the ZSL set has unseen classes only (img_seen = att_seen = 0)",
            )

    # ---- derived values ---------------------------------------------------------------------
    @property
    def warmups(self) -> dict[str, Warmup]:
        """β (KL), γ (cross-reconstruction), δ (distribution alignment) schedules (§3.4)."""
        return {
            "beta": Warmup(*self.beta_warmup),
            "gamma": Warmup(*self.cross_reconstruction_warmup),
            "delta": Warmup(*self.distance_warmup),
        }

    def iterations_per_epoch(self, ntrain: int) -> int:
        """ceil(ntrain / batch_size) (§3.1; CUB 142, SUN 207, AWA1 397, AWA2 471)."""
        return math.ceil(ntrain / self.batch_size)

    # ---- (de)serialisation -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain dict of every field (numbers, strings, tuples): checkpoint-safe."""
        return dataclasses.asdict(self)
