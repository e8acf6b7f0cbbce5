"""The two phases of one TF-VAEGAN generator iteration (methods_spec.md §2.5), as functions.

No host synchronisation happens here: losses, statistics and the adaptive λ stay device tensors,
so a GPU runs a whole epoch without waiting on Python.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from zsl_pipeline import losses
from zsl_pipeline.methods.tfvaegan.config import TFVAEGANConfig
from zsl_pipeline.methods.tfvaegan.models import TFVAEGANModels, generate
from zsl_pipeline.training.device import precision_autocast
from zsl_pipeline.training.features import FeatureTensors
from zsl_pipeline.training.optim import ADAM_BETA2, adam, fused_adam
from zsl_pipeline.training.streams import rand, randn, randperm

#: Adam's default betas, which the reference keeps for the encoder only (§2.4, pitfall 6).
ENCODER_BETAS = (0.9, ADAM_BETA2)
#: Adaptive λ (§2.6): grow ×1.1 when the mean penalty exceeds 1.05, shrink ÷1.1 below 1.001.
GP_RAISE_ABOVE = 1.05
GP_LOWER_BELOW = 1.001
GP_WEIGHT_FACTOR = 1.1
#: Names of the per-iteration statistics, in the order of the stats vectors below.
CRITIC_STATS = ("d_loss", "wasserstein", "gp", "cycle_real")
GENERATOR_STATS = ("g_loss", "vae_loss", "vae_rec", "vae_kl", "g_adv", "cycle_fake")


@dataclass
class TFVAEGANOptimizers:
    """One Adam per network, configured exactly as §2.4."""

    encoder: torch.optim.Adam
    generator: torch.optim.Adam
    critic: torch.optim.Adam
    decoder: torch.optim.Adam
    feedback: torch.optim.Adam

    def as_dict(self) -> dict[str, torch.optim.Adam]:
        return {name: getattr(self, name) for name in TFVAEGANModels.NAMES}


def build_optimizers(models: TFVAEGANModels, config: TFVAEGANConfig) -> TFVAEGANOptimizers:
    """E: Adam(lr, default betas); G, D: Adam(lr, β1); F: Adam(feed_lr, β1); Dec: Adam(dec_lr, β1)."""
    return TFVAEGANOptimizers(
        encoder=fused_adam(models.encoder.parameters(), lr=config.lr, betas=ENCODER_BETAS),
        generator=adam(models.generator.parameters(), lr=config.lr, beta1=config.beta1),
        critic=adam(models.critic.parameters(), lr=config.lr, beta1=config.beta1),
        decoder=adam(models.decoder.parameters(), lr=config.dec_lr, beta1=config.beta1),
        feedback=adam(models.feedback.parameters(), lr=config.feed_lr, beta1=config.beta1),
    )


def update_gp_weight(lam: Tensor, mean_penalty: Tensor) -> Tensor:
    """The reference's adaptive λ rule (§2.6), branch-free so it never syncs with the host.

    λ ← 1.1·λ if P̄ > 1.05; λ ← λ/1.1 if P̄ < 1.001; unchanged otherwise.
    """
    mean_penalty = mean_penalty.to(lam.dtype)
    grown = torch.where(mean_penalty > GP_RAISE_ABOVE, lam * GP_WEIGHT_FACTOR, lam)
    return torch.where(mean_penalty < GP_LOWER_BELOW, lam / GP_WEIGHT_FACTOR, grown)


def sample_batch(data: FeatureTensors, batch_size: int, rng: torch.Generator) -> tuple[Tensor, Tensor]:
    """A fresh uniform subset (without replacement) of trainval: features and class embeddings.

    Same as the reference's ``sample()``: ``randperm(ntrain)[:batch]``, drawn on ``rng``'s device.
    """
    idx = randperm(data.ntrain, rng, data.device)[:batch_size]
    return data.train_x[idx], data.class_embeddings[data.train_y[idx]]


def reparameterize(mu: Tensor, logvar: Tensor, rng: torch.Generator) -> Tensor:
    """z = μ + ε ⊙ exp(½ log σ²), ε ~ N(0, I) drawn in fp32 (also under autocast)."""
    eps = randn(mu.shape, rng, mu.device, dtype=torch.float32)
    return mu + eps * torch.exp(0.5 * logvar)


def _prior(a: Tensor, latent_dim: int, rng: torch.Generator) -> Tensor:
    return randn((a.shape[0], latent_dim), rng, a.device)


def critic_step(
    models: TFVAEGANModels,
    optimizers: TFVAEGANOptimizers,
    x: Tensor,
    a: Tensor,
    *,
    config: TFVAEGANConfig,
    feedback_on: bool,
    lam: Tensor,
    rng: torch.Generator,
    precision: str,
) -> Tensor:
    """One critic step on batch (x, a): Dec step on real features, then a D step (§2.5 (1)-(4)).

    Returns the stats vector ordered as :data:`CRITIC_STATS` (``gp`` is the raw penalty P).
    """
    ctx = lambda: precision_autocast(x.device, precision)  # noqa: E731 (a fresh context per use)
    # (1) Dec on REAL features: minimise ρ·L_R(Dec(x), a) with its own Adam, right now.
    if config.use_decoder:
        optimizers.decoder.zero_grad(set_to_none=True)
        with ctx():
            a_hat, _ = models.decoder(x)
        cycle_real = losses.weighted_l1_cycle_loss(a_hat, a)
        (config.recons_weight * cycle_real).backward()
        optimizers.decoder.step()
    else:
        cycle_real = x.new_zeros(())
    # (2)-(3) latent and fake; the critic sees the fake detached, so no graph is built at all.
    with torch.no_grad(), ctx():
        if config.encoded_noise:
            z = reparameterize(*models.encoder(x, a), rng=rng)
        else:
            z = _prior(a, models.generator.fc1.in_features - a.shape[1], rng)
        x_fake = generate(models, z, a, feedback_weight=config.a1 if feedback_on else None).float()
    # (4) WGAN-GP critic loss scaled by γ_D; only D is stepped.
    alpha = rand((x.shape[0], 1), rng, x.device)  # one α per sample
    optimizers.critic.zero_grad(set_to_none=True)
    with ctx():
        d_real, d_fake, penalty = losses.critic_terms(models.critic, x, x_fake, a, alpha)
    d_loss = config.gamma_d * losses.wgan_critic_loss(d_real, d_fake) + config.gamma_d * lam.float() * penalty
    d_loss.backward()
    optimizers.critic.step()
    return torch.stack(
        [
            d_loss.detach(),
            losses.wasserstein_estimate(d_real, d_fake).detach(),
            penalty.detach(),
            cycle_real.detach(),
        ]
    )


def critic_phase(
    models: TFVAEGANModels,
    optimizers: TFVAEGANOptimizers,
    data: FeatureTensors,
    *,
    config: TFVAEGANConfig,
    feedback_on: bool,
    lam: Tensor,
    rng: torch.Generator,
    precision: str,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``critic_iter`` critic steps, each on a fresh batch, then the λ update (§2.5, §2.6).

    Returns (x, a) of the LAST batch (reused by the generator phase), the mean critic stats
    (:data:`CRITIC_STATS`) and the updated λ.
    """
    total = None
    for _ in range(config.critic_iter):
        x, a = sample_batch(data, config.batch_size, rng)
        stats = critic_step(
            models, optimizers, x, a, config=config, feedback_on=feedback_on, lam=lam, rng=rng, precision=precision
        )
        total = stats if total is None else total + stats
    mean_stats = total / config.critic_iter
    if config.adaptive_lambda:
        lam = update_gp_weight(lam, mean_stats[CRITIC_STATS.index("gp")])
    return x, a, mean_stats, lam


def generator_step(
    models: TFVAEGANModels,
    optimizers: TFVAEGANOptimizers,
    x: Tensor,
    a: Tensor,
    *,
    config: TFVAEGANConfig,
    feedback_on: bool,
    rng: torch.Generator,
    precision: str,
) -> Tensor:
    """The generator phase on the last critic batch (§2.5); returns :data:`GENERATOR_STATS`.

    L_G = L_VAE − γ_G·mean D(x_fake, a) + ρ·L_R(Dec(x_fake), a); steps E and G, F only when
    ``feedback_on`` (pass 1), Dec only when ρ > 0 and not ``freeze_dec``. D is frozen.
    """
    ctx = lambda: precision_autocast(x.device, precision)  # noqa: E731
    delta = config.a1 if feedback_on else None
    step_decoder = config.use_decoder and config.recons_weight > 0 and not config.freeze_dec
    models.critic.requires_grad_(False)
    models.decoder.requires_grad_(step_decoder)
    for opt in optimizers.as_dict().values():
        opt.zero_grad(set_to_none=True)
    try:
        with ctx():
            mu, logvar = models.encoder(x, a)
            z = reparameterize(mu, logvar, rng)  # always from E, whatever encoded_noise says
            x_rec = generate(models, z, a, feedback_weight=delta)
        rec, kl = losses.vae_loss_terms(x_rec, x, mu, logvar)
        with ctx():
            if config.encoded_noise:
                x_fake = x_rec
            else:
                z_prior = _prior(a, mu.shape[1], rng)
                # FLO quirk (§2.5 note, commit e8c32c3): the feedback for the prior-noise fake
                # uses Dec-hidden of x_rec, not of G(z', a).
                x_fake = generate(models, z_prior, a, feedback_weight=delta, feedback_source=x_rec)
            g_adv = losses.wgan_generator_loss(models.critic(x_fake, a))
            a_hat_fake = models.decoder(x_fake)[0] if config.use_decoder else None
        g_loss = rec + kl + config.gamma_g * g_adv
        if a_hat_fake is not None:
            cycle_fake = losses.weighted_l1_cycle_loss(a_hat_fake, a)
            g_loss = g_loss + config.recons_weight * cycle_fake
        else:
            cycle_fake = x.new_zeros(())
        g_loss.backward()
        optimizers.encoder.step()
        optimizers.generator.step()
        if feedback_on:
            optimizers.feedback.step()
        if step_decoder:
            optimizers.decoder.step()
    finally:
        models.critic.requires_grad_(True)
        models.decoder.requires_grad_(True)
    return torch.stack([t.detach() for t in (g_loss, rec + kl, rec, kl, g_adv, cycle_fake)])
