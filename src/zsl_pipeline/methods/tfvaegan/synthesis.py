"""TF-VAEGAN's unseen-feature synthesis and discriminative feature transform (methods_spec.md §2.7)."""

from __future__ import annotations

import torch
from torch import Tensor

from zsl_pipeline.evaluation.synthesis import CHUNK_ROWS, synthesize_classes
from zsl_pipeline.methods.tfvaegan.config import CLASSIFIER_INPUTS
from zsl_pipeline.methods.tfvaegan.models import SemanticDecoder, TFVAEGANModels, generate


@torch.no_grad()
def synthesize(
    models: TFVAEGANModels,
    unseen_class_ids: Tensor,
    class_embeddings: Tensor,
    *,
    syn_num: int,
    a2: float,
    use_feedback: bool,
    generator: torch.Generator,
    device: torch.device | None = None,
) -> tuple[Tensor, Tensor]:
    """``syn_num`` features per class in ``unseen_class_ids``; labels are global class ids.

    z ~ N(0, I) (prior noise at synthesis, whatever ``encoded_noise`` was); with feedback, one
    step: x0 = G(z, a_c), h = Dec-hidden(x0), x̃ = G(z, a_c; F(h), δ = a2) (§2.7).
    Returns (features (n·syn_num, D), labels (n·syn_num,)) on ``device`` (default: the
    embeddings' device).
    """
    delta = a2 if use_feedback else None
    return synthesize_classes(
        lambda z, a: generate(models, z, a, feedback_weight=delta),
        unseen_class_ids,
        class_embeddings,
        n_per_class=syn_num,
        noise_dim=models.encoder.linear_means.out_features,
        rng=generator,
        device=device,
    )


@torch.no_grad()
def transform_features(decoder: SemanticDecoder | None, x: Tensor, mode: str = "x_dec_h") -> Tensor:
    """The classifier input for features ``x`` (N, D) (§2.7).

    ``x_dec_h``: [x ; Dec(x) ; h] (D + A + ngh, the reference), ``x_h``: [x ; h], ``x``: x.
    """
    if mode not in CLASSIFIER_INPUTS:
        raise ValueError(f"unknown transform mode {mode!r}; expected one of {CLASSIFIER_INPUTS}")
    if mode == "x":
        return x
    if decoder is None:
        raise ValueError(f"transform mode {mode!r} needs the semantic decoder")
    parts = []
    for i in range(0, x.shape[0], CHUNK_ROWS):
        chunk = x[i : i + CHUNK_ROWS]
        a_hat, h = decoder(chunk)
        pieces = (chunk, a_hat, h) if mode == "x_dec_h" else (chunk, h)
        parts.append(torch.cat([p.float() for p in pieces], dim=1))
    return torch.cat(parts)
