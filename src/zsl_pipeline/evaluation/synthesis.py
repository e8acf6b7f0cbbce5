"""Unseen-feature synthesis and the discriminative feature transform (methods_spec.md §2.7)."""

from __future__ import annotations

import torch
from torch import Tensor

from zsl_pipeline.models.tfvaegan import SemanticDecoder, TFVAEGANModels, generate

#: Rows per forward pass in synthesis and transforms (bounds memory, results unchanged).
CHUNK_ROWS = 8192
#: Classifier input modes: x ⊕ Dec(x) ⊕ h (reference), x ⊕ h (paper figure), raw x.
TRANSFORM_MODES = ("x_dec_h", "x_h", "x")


@torch.no_grad()
def synthesize(
    models: TFVAEGANModels,
    unseen_class_ids: Tensor,
    class_embeddings: Tensor,
    syn_num: int,
    a2: float,
    use_feedback: bool,
    generator: torch.Generator,
    device: torch.device | None = None,
) -> tuple[Tensor, Tensor]:
    """``syn_num`` features per class in ``unseen_class_ids``; labels are global class ids.

    z ~ N(0, I) (prior noise at synthesis, whatever ``encoded_noise`` was); with feedback, one
    step: x0 = G(z, a_c), h = Dec-hidden(x0), x̃ = G(z, a_c; F(h), δ = a2) (§2.7). All noise is
    drawn from ``generator`` up front, so chunking does not change the result.
    Returns (features (n·syn_num, D), labels (n·syn_num,)) on ``device`` (default: the
    embeddings' device).
    """
    device = class_embeddings.device if device is None else device
    classes = unseen_class_ids.to(device=device, dtype=torch.long)
    labels = classes.repeat_interleave(syn_num)  # (n·syn_num,)
    attrs = class_embeddings.to(device)[labels]
    latent_dim = models.encoder.linear_means.out_features
    z = torch.randn((labels.shape[0], latent_dim), generator=generator, device=device)
    delta = a2 if use_feedback else None
    parts = [
        generate(models, z[i : i + CHUNK_ROWS], attrs[i : i + CHUNK_ROWS], feedback_weight=delta)
        for i in range(0, labels.shape[0], CHUNK_ROWS)
    ]
    return torch.cat(parts).float(), labels


@torch.no_grad()
def transform_features(decoder: SemanticDecoder | None, x: Tensor, mode: str = "x_dec_h") -> Tensor:
    """The classifier input for features ``x`` (N, D) (§2.7).

    ``x_dec_h``: [x ; Dec(x) ; h] (D + A + ngh, the reference), ``x_h``: [x ; h], ``x``: x.
    """
    if mode not in TRANSFORM_MODES:
        raise ValueError(f"unknown transform mode {mode!r}; expected one of {TRANSFORM_MODES}")
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
