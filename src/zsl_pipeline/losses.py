"""Named, pure loss functions with explicit reductions (methods_spec.md §2.3).

Every function computes in float32 even when its inputs come out of a bf16 autocast region, so
the reference's summed reductions (hundreds per sample) keep their precision.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

#: Added to the reconstruction before the BCE, as the reference does (§2.3).
BCE_INPUT_OFFSET = 1e-12
#: Floor for a row's error norm in the weighted-L1 cycle loss; only matters for an exactly-zero
#: error row, where the reference would divide 0 by 0.
CYCLE_NORM_FLOOR = 1e-12


def vae_loss_terms(x_rec: Tensor, x: Tensor, mu: Tensor, logvar: Tensor) -> tuple[Tensor, Tensor]:
    """Return (reconstruction, KL) of the TF-VAEGAN VAE loss, each averaged over the batch.

    reconstruction = (1/B) Σ_i BCE_sum(x̃_i + 1e-12, x_i), summed over feature dims;
    KL = (1/B) Σ_i −½ Σ_d (1 + log σ² − μ² − σ²)  (§2.3; weight 1 on both, no β).
    """
    batch = x.shape[0]
    # BCE is banned under CUDA autocast; compute it in float32 outside any autocast region.
    with torch.autocast(device_type=x.device.type, enabled=False):
        bce = F.binary_cross_entropy(x_rec.float() + BCE_INPUT_OFFSET, x.float(), reduction="sum")
        mu, logvar = mu.float(), logvar.float()
        kl = -0.5 * torch.sum(1.0 + logvar - mu.pow(2) - logvar.exp())
    return bce / batch, kl / batch


def vae_loss(x_rec: Tensor, x: Tensor, mu: Tensor, logvar: Tensor) -> Tensor:
    """L_VAE = summed-BCE reconstruction + summed KL, both averaged over the batch (§2.3)."""
    bce, kl = vae_loss_terms(x_rec, x, mu, logvar)
    return bce + kl


def weighted_l1_cycle_loss(pred: Tensor, target: Tensor) -> Tensor:
    """The reference's "WeightedL1" semantic cycle loss (§2.3).

    With d = pred − target per row: (1/B) Σ_i Σ_j |d_ij|·d_ij² / ‖d_i‖₂ = (1/B) Σ_i Σ_j |d_ij|³ / ‖d_i‖₂.
    The weight d²/‖d‖ is not detached (gradients flow through it, as in the reference).
    """
    d = pred.float() - target.float()
    # vector_norm's backward is 0 (not NaN) at a zero row, unlike sqrt(sum(d²)).
    row_norm = torch.linalg.vector_norm(d, dim=1, keepdim=True).clamp_min(CYCLE_NORM_FLOOR)  # (B, 1)
    return (d.abs().pow(3) / row_norm).sum() / d.shape[0]


def interpolates(real: Tensor, fake: Tensor, alpha: Tensor) -> Tensor:
    """x̂ = α·real + (1 − α)·fake, detached, with one α per sample (``alpha`` (B,) or (B, 1))."""
    alpha = alpha.reshape(-1, 1).to(real.dtype)  # (B,) -> (B, 1), broadcast over feature dims
    return alpha * real.detach() + (1.0 - alpha) * fake.detach()


def penalty_from_gradients(grads: Tensor) -> Tensor:
    """mean_i (‖g_i‖₂ − 1)² over the rows of the critic's input gradients (§2.3)."""
    return (grads.float().norm(p=2, dim=1) - 1.0).pow(2).mean()


def gradient_penalty(
    critic: Callable[[Tensor, Tensor], Tensor], real: Tensor, fake: Tensor, cond: Tensor, alpha: Tensor
) -> Tensor:
    """WGAN-GP penalty mean_i (‖∇_x̂ D(x̂_i, a_i)‖₂ − 1)², without the λ factor (§2.3).

    x̂ = α·real + (1 − α)·fake with one α per sample (``alpha`` of shape (B,) or (B, 1), drawn by
    the caller so that the function stays pure). The gradient is taken w.r.t. the feature only,
    with ``create_graph=True`` so the penalty trains the critic.
    """
    x_hat = interpolates(real, fake, alpha).requires_grad_(True)
    scores = critic(x_hat, cond)
    (grads,) = torch.autograd.grad(
        outputs=scores, inputs=x_hat, grad_outputs=torch.ones_like(scores), create_graph=True
    )
    return penalty_from_gradients(grads)


def critic_terms(
    critic: Callable[[Tensor, Tensor], Tensor], real: Tensor, fake: Tensor, cond: Tensor, alpha: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """D(real, a), D(fake, a) and the gradient penalty of one WGAN-GP critic step.

    A critic with ``scores_and_input_gradient`` (``models.critic.MLPCritic``) does all three in
    one pass; any other critic scores real and fake in one batched pass and takes the penalty
    by double backward (:func:`gradient_penalty`). The values are those of three separate
    passes (the critic treats every row independently); only summation order differs.
    """
    batch = real.shape[0]
    fused = getattr(critic, "scores_and_input_gradient", None)
    if fused is not None:
        scores, grads = fused(torch.cat((real, fake)).detach(), torch.cat((cond, cond)).detach(),
                              interpolates(real, fake, alpha), cond.detach())
        penalty = penalty_from_gradients(grads)
    else:
        scores = critic(torch.cat((real, fake)), torch.cat((cond, cond)))
        penalty = gradient_penalty(critic, real, fake, cond, alpha)
    return scores[:batch], scores[batch:], penalty


def wgan_critic_loss(d_real: Tensor, d_fake: Tensor) -> Tensor:
    """Critic term mean D(x_fake) − mean D(x) (to minimise; §2.3 before the γ_D factor)."""
    return d_fake.float().mean() - d_real.float().mean()


def wgan_generator_loss(d_fake: Tensor) -> Tensor:
    """Generator adversarial term −mean D(x_fake) (§2.3 before the γ_G factor)."""
    return -d_fake.float().mean()


def wasserstein_estimate(d_real: Tensor, d_fake: Tensor) -> Tensor:
    """The critic's Wasserstein estimate mean D(x) − mean D(x_fake) (unscaled by γ_D)."""
    return d_real.float().mean() - d_fake.float().mean()


# ---- feature-to-image inversion: L1 + perceptual + adversarial (reproduction report) ----
def l1_image_loss(fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """Mean absolute pixel error over all elements."""
    return F.l1_loss(fake, real, reduction="mean")


def perceptual_loss(
    fake_acts: tuple[torch.Tensor, ...], real_acts: tuple[torch.Tensor, ...]
) -> torch.Tensor:
    """Sum over layers (layer4 map, pooled features) of the mean squared activation error
    relative to the real activations' mean square: scale-free, so the loss weights mean the same
    whatever the backbone (a fine-tuned backbone's activations can be thousands of times larger
    than those of the one it started from, which would drown the image terms)."""
    terms = [F.mse_loss(f, r, reduction="mean") / r.detach().pow(2).mean().clamp_min(1e-12)
             for f, r in zip(fake_acts, real_acts)]  # fmt: skip
    return torch.stack(terms).sum()


def generator_adversarial_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating GAN loss: BCE of the discriminator's verdict on fakes against 'real'."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits), reduction="mean")


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """BCE(real pairs -> 1) + BCE(fake pairs -> 0), each a mean."""
    return F.binary_cross_entropy_with_logits(
        real_logits, torch.ones_like(real_logits), reduction="mean"
    ) + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits), reduction="mean")


# ---- helpers ----------------------------------------------------------------------------
