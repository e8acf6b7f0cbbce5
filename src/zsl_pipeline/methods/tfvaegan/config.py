"""The frozen, typed configuration of one TF-VAEGAN run (methods_spec.md §2.9, CUB column)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from zsl_pipeline.training.device import TRAINING_PRECISIONS
from zsl_pipeline.training.streams import NOISE_DEVICES

#: Classifier input modes (§2.7): the reference x ⊕ Dec(x) ⊕ h, the paper figure's x ⊕ h, raw x.
CLASSIFIER_INPUTS = ("x_dec_h", "x_h", "x")



@dataclass(frozen=True)
class TFVAEGANConfig:
    """Every setting of TF-VAEGAN training and its per-epoch evaluation.

    Defaults are the CUB column of §2.9. Built once at the node boundary from the validated
    ``tfvaegan`` parameters (``pipelines/params.py``); nothing downstream mutates it.
    """

    # ---- schedule (§2.5, §2.9) --------------------------------------------------------------
    nepoch: int = 300
    batch_size: int = 64
    critic_iter: int = 5
    #: Passes per epoch; feedback (and F's training) happens only in pass index 1 (§2.5).
    feedback_loop: int = 2
    seed: int = 3483
    # ---- gradient penalty (§2.3, §2.6) ------------------------------------------------------
    #: Initial gradient-penalty weight λ.
    lambda1: float = 10.0
    #: The reference's adaptive λ (×/÷1.1, §2.6). False = fixed λ = lambda1, a named variant.
    adaptive_lambda: bool = True
    # ---- optimisers (§2.4) ------------------------------------------------------------------
    lr: float = 1e-4
    feed_lr: float = 1e-5
    dec_lr: float = 1e-4
    #: β1 of every Adam except the encoder's (which keeps Adam's default betas, §2.4).
    beta1: float = 0.5
    # ---- loss weights and variants ----------------------------------------------------------
    #: Feedback weight δ in training (a1) and at synthesis (a2).
    a1: float = 1.0
    a2: float = 1.0
    #: ρ, the weight of the semantic cycle loss L_R.
    recons_weight: float = 0.01
    gamma_d: float = 10.0
    gamma_g: float = 10.0
    #: Latent from E(x, a) in the GAN terms (CUB, AWA2, SUN); False = prior noise (FLO).
    encoded_noise: bool = True
    #: Do not step Dec in the generator phase (AWA2).
    freeze_dec: bool = False
    use_feedback: bool = True
    #: False: no decoder at all (ρ ignored, Dec never trained, classifier on raw x, no feedback).
    use_decoder: bool = True
    # ---- widths -----------------------------------------------------------------------------
    encoder_hidden: int = 4096
    #: Width of G's hidden layer, F and Dec's hidden layer (they must agree, §2.2).
    ngh: int = 4096
    ndh: int = 4096
    #: None = the class-embedding size (the reference forces latent = attSize, §2.1).
    latent_size: int | None = None
    # ---- synthesis and final classifier (§2.7, §2.8) ----------------------------------------
    syn_num: int = 300
    classifier_lr: float = 1e-3
    classifier_epochs: int = 25
    #: None = syn_num (the reference's batch size for the final classifier).
    classifier_batch_size: int | None = None
    classifier_input: str = "x_dec_h"
    # ---- bookkeeping ------------------------------------------------------------------------
    eval_every: int = 1
    #: Hand a checkpoint to the caller every N epochs; 0 = never.
    checkpoint_every: int = 10
    #: Numeric precision: ``fp32`` (the reference's), or on CUDA ``tf32`` (TF32 matmuls) or ``bf16``
    #: (autocast). fp16 is not offered: it would need loss scaling through the gradient penalty.
    precision: str = "fp32"
    #: Where the training and evaluation noise is drawn: ``device`` (the training device, the
    #: default) or ``cpu`` (CPU generators, every draw moved to the device: a GPU run then draws
    #: exactly what a CPU run of the same seed draws; for comparing the two, ``training.streams``).
    noise_device: str = "device"

    def __post_init__(self) -> None:
        def need(ok: bool, field: str, problem: str) -> None:
            if not ok:
                raise ValueError(f"TFVAEGANConfig.{field}: {problem} (got {getattr(self, field)!r})")

        for name in (
            "nepoch",
            "batch_size",
            "critic_iter",
            "encoder_hidden",
            "ngh",
            "ndh",
            "syn_num",
            "classifier_epochs",
            "eval_every",
        ):
            need(getattr(self, name) >= 1, name, "must be a positive integer")
        for name in ("lambda1", "lr", "feed_lr", "dec_lr", "classifier_lr"):
            need(getattr(self, name) > 0, name, "must be positive")
        for name in ("recons_weight", "gamma_d", "gamma_g", "a1", "a2"):
            need(getattr(self, name) >= 0, name, "must be non-negative")
        need(0 <= self.beta1 < 1, "beta1", "must lie in [0, 1)")
        need(self.checkpoint_every >= 0, "checkpoint_every", "must be >= 0 (0 = never)")
        need(self.feedback_loop in (1, 2), "feedback_loop", "must be 1 or 2")
        need(self.precision in TRAINING_PRECISIONS, "precision", f"must be one of {TRAINING_PRECISIONS}")
        need(self.noise_device in NOISE_DEVICES, "noise_device", f"must be one of {NOISE_DEVICES}")
        need(
            self.classifier_input in CLASSIFIER_INPUTS,
            "classifier_input",
            f"must be one of {CLASSIFIER_INPUTS}",
        )
        need(self.latent_size is None or self.latent_size >= 1, "latent_size", "must be None or positive")
        need(
            self.classifier_batch_size is None or self.classifier_batch_size >= 1,
            "classifier_batch_size",
            "must be None or positive",
        )
        need(
            not (self.use_feedback and not self.use_decoder),
            "use_feedback",
            "feedback reads the decoder's hidden layer: set use_feedback: false when use_decoder is false",
        )
        need(
            not (self.use_feedback and self.feedback_loop < 2),
            "use_feedback",
            "feedback only runs in pass 1: it needs feedback_loop: 2",
        )

    # ---- derived values ---------------------------------------------------------------------
    def resolve_latent_size(self, attr_dim: int) -> int:
        """Latent size for class embeddings of size ``attr_dim``; checked, never overwritten."""
        if self.latent_size is not None and self.latent_size != attr_dim:
            raise ValueError(
                f"TFVAEGANConfig.latent_size={self.latent_size} but the class embeddings have "
                f"{attr_dim} dims; TF-VAEGAN uses latent size = embedding size (§2.1). "
                "Leave latent_size unset (None) or set it to the embedding size."
            )
        return attr_dim

    @property
    def effective_classifier_batch_size(self) -> int:
        """The final classifier's batch size (``syn_num`` unless set, §2.8)."""
        return self.syn_num if self.classifier_batch_size is None else self.classifier_batch_size

    @property
    def effective_classifier_input(self) -> str:
        """The classifier input mode; raw x when the decoder is switched off."""
        return self.classifier_input if self.use_decoder else "x"

    def generator_iterations(self, ntrain: int) -> int:
        """Generator iterations per pass: ceil(ntrain / batch_size) (§2.5)."""
        return math.ceil(ntrain / self.batch_size)

    # ---- (de)serialisation -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain dict of every field (numbers, strings, booleans, None): checkpoint-safe."""
        return dataclasses.asdict(self)
