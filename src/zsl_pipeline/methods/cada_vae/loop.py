"""CADA-VAE's training (Schönfeld et al., CVPR 2019; methods_spec.md §3.4).

One AMSGrad Adam over the four networks; every iteration draws a fresh random subset of
``batch_size`` training indices; the loss is L_rec + γ(e)·L_CA + β(e)·L_KL + δ(e)·L_DA with the
warm-up factors of §3.4. (The classifier space, the 64-d latent, is built in ``method.py``.)

Deviations from the reference, imposed by the shared stages:

* In few-shot mode the shared runner has already moved the unseen-class shots into
  ``data.train_x``, so the VAE also trains on them; the reference moves them only after VAE
  training (``transfer_features`` in ``train_classifier``).
* All randomness comes from seeded ``torch.Generator`` objects, so the draws differ from the
  reference's global-RNG stream (a run is deterministic for a seed).
"""

from __future__ import annotations

import logging
from typing import Any

import torch

from zsl_pipeline.methods.base import Progress
from zsl_pipeline.methods.cada_vae.config import CADAVAEConfig
from zsl_pipeline.methods.cada_vae.models import (
    CADAVAEModels,
    build_cada_vae,
    cross_reconstruction_loss,
    distribution_alignment,
    kl_divergence,
    reconstruction_loss,
    reparameterize,
    warmup_factor,
)
from zsl_pipeline.training.allocator import keep_freed_cpu_memory
from zsl_pipeline.training.checkpoint import envelope
from zsl_pipeline.training.device import check_precision, check_same_device, precision_autocast, tf32_allowed
from zsl_pipeline.training.epoch_resume import current_epoch_checkpoint, epoch_state, restore_epoch_state
from zsl_pipeline.training.events import emit_epoch, emit_iteration
from zsl_pipeline.training.features import FeatureTensors
from zsl_pipeline.training.optim import ADAM_BETA2, fused_adam
from zsl_pipeline.training.stats import EpochStats
from zsl_pipeline.training.streams import init_stream, randperm, training_stream

log = logging.getLogger(__name__)

METHOD_NAME = "cada_vae"
#: Version of the checkpoint layout.
FORMAT_VERSION = 1
#: Per-epoch history entries besides ``epoch``: mean loss terms, then the epoch's factors.
LOSS_STATS = ("loss", "reconstruction", "cross_reconstruction", "kl", "distance")
FACTOR_STATS = ("beta", "gamma", "delta")
#: β of Adam for the VAE (§3.4).
VAE_BETAS = (0.9, ADAM_BETA2)
VAE_EPS = 1e-8

# ---- training (§3.4) ------------------------------------------------------------------------------


def build_models(
    config: CADAVAEConfig,
    *,
    feature_dim: int,
    attr_dim: int,
    device: torch.device,
    generator: torch.Generator | None = None,
    initialise: bool = True,
) -> CADAVAEModels:
    """The four networks with the config's widths, built on ``device`` (init from ``generator``,
    which must live on ``device``)."""
    return build_cada_vae(
        feature_dim=feature_dim,
        attr_dim=attr_dim,
        latent_dim=config.latent_size,
        image_hidden=(config.image_encoder_hidden, config.image_decoder_hidden),
        attribute_hidden=(config.attribute_encoder_hidden, config.attribute_decoder_hidden),
        generator=generator,
        device=device,
        initialise=initialise,
    )


def initial_state(
    config: CADAVAEConfig, *, feature_dim: int, attr_dim: int, device: torch.device
) -> tuple[CADAVAEModels, torch.Generator]:
    """The initialised networks on ``device`` and the training stream, as every method starts.

    The init draws from a CPU generator seeded with ``config.seed`` (``init_stream``: the same
    weights on any device), the networks are then moved to ``device``; the training stream is a
    generator seeded from that generator's next draw, on ``device`` (or on the CPU with
    ``config.noise_device = "cpu"``), as TF-VAEGAN's and the WGANs'.
    """
    init_rng = init_stream(config.seed)
    models = build_models(
        config, feature_dim=feature_dim, attr_dim=attr_dim, device=torch.device("cpu"), generator=init_rng
    ).to(device)
    return models, training_stream(init_rng, device, config.noise_device)


def train(
    data: FeatureTensors, config: CADAVAEConfig, device: torch.device, progress: Progress | None = None
) -> dict[str, Any]:
    """Train the two VAEs on ``data.train_x`` / ``train_y`` (§3.4); return the checkpoint dict.

    The init (image encoder, attribute encoder, image decoder, attribute decoder) draws from
    the CPU init stream of ``config.seed``; per iteration the training stream (:func:`initial_state`)
    draws the batch indices (the first ``batch_size`` of a fresh permutation) and the image then
    attribute noise. The attribute
    input of a sample is its label's class embedding. The δ·L_DA term is added only while δ > 0
    (as the reference does; this also keeps sqrt's gradient at 0 out of the early epochs).
    History: per-epoch means of the loss terms and the epoch's factors β, γ, δ.
    Raises FloatingPointError when an epoch's losses are not finite.
    """
    device = torch.device(device)
    check_same_device(data.device, device)
    check_precision(config.precision, device)
    keep_freed_cpu_memory(device)
    models, rng = initial_state(config, feature_dim=data.feature_dim, attr_dim=data.attr_dim, device=device)
    optimizer = fused_adam(
        models.parameters(), lr=config.lr, betas=VAE_BETAS, eps=VAE_EPS, weight_decay=0.0, amsgrad=True
    )
    iters = config.iterations_per_epoch(data.ntrain)
    warmups = config.warmups
    optimizers = {"vae": optimizer}
    history: list[dict[str, float]] = []
    start = 0
    resume_file = current_epoch_checkpoint()  # opened by the runner; None: no per-epoch resume
    resume = (
        resume_file.load(method=METHOD_NAME, version=FORMAT_VERSION, config=config.to_dict(), stream_type=rng.device.type)
        if resume_file is not None
        else None
    )
    if resume is not None:  # the four networks, Adam and the stream as they were
        start, history = restore_epoch_state(resume, models.networks(), optimizers, rng)
        log.info("CADA-VAE: resuming after epoch %d from %s", start, resume_file.path)

    def checkpoint(**resume_state: Any) -> dict[str, Any]:
        """The run's envelope; with ``epoch_state(...)`` a per-epoch resume checkpoint."""
        return envelope(
            method=METHOD_NAME,
            version=FORMAT_VERSION,
            config=config.to_dict(),
            models=models.networks(),
            history=history,
            feature_dim=data.feature_dim,
            attr_dim=data.attr_dim,
            **resume_state,
        )

    log.info(
        "CADA-VAE on %s: %d epochs x %d iterations of %d samples (reparameterisation: %s)",
        data.name,
        config.nepoch,
        iters,
        config.batch_size,
        config.reparameterization,
    )
    models.train()
    with tf32_allowed(config.precision == "tf32"):  # TF32 for the whole loop, backward passes included
        epoch_stats = EpochStats(device, losses=LOSS_STATS)
        for epoch in range(start, config.nepoch):
            factors = {name: warmup_factor(epoch, w) for name, w in warmups.items()}
            beta, gamma, delta = factors["beta"], factors["gamma"], factors["delta"]
            for i in range(iters):
                idx = randperm(data.ntrain, rng, device)[: config.batch_size]
                x = data.train_x[idx]
                a = data.class_embeddings[data.train_y[idx]]
                with precision_autocast(device, config.precision):
                    mu_x, logvar_x = models.image_encoder(x)
                    z_x = reparameterize(mu_x, logvar_x, rng, config.reparameterization)
                    mu_a, logvar_a = models.attribute_encoder(a)
                    z_a = reparameterize(mu_a, logvar_a, rng, config.reparameterization)

                    rec = reconstruction_loss(x, models.image_decoder(z_x), a, models.attribute_decoder(z_a))
                    cross = cross_reconstruction_loss(x, models.image_decoder(z_a), a, models.attribute_decoder(z_x))
                    kl = kl_divergence(mu_x, logvar_x) + kl_divergence(mu_a, logvar_a)
                    distance = distribution_alignment(mu_x, logvar_x, mu_a, logvar_a)
                    loss = rec + beta * kl + gamma * cross
                    if delta > 0:
                        loss = loss + delta * distance

                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                epoch_stats.add("losses", torch.stack([loss, rec, cross, kl, distance]).detach())
                emit_iteration(i + 1, iters)
            stats = {**epoch_stats.close(epoch + 1, "CADA-VAE"), **factors}  # history epochs are 1-based
            log.info(
                "epoch %d/%d  loss %.1f  rec %.1f  cross %.1f  KL %.1f  DA %.2f  β %.3f  γ %.3f  δ %.3f",
                epoch + 1,
                config.nepoch,
                stats["loss"],
                stats["reconstruction"],
                stats["cross_reconstruction"],
                stats["kl"],
                stats["distance"],
                beta,
                gamma,
                delta,
            )
            history.append(stats)
            emit_epoch("cada_vae_train", epoch + 1, stats)
            if resume_file is not None and epoch + 1 < config.nepoch:  # the runner keeps the finished run
                resume_file.save(checkpoint(**epoch_state(epoch + 1, optimizers, rng)))
            if progress is not None:
                progress(epoch + 1, config.nepoch)
    models.eval()
    return checkpoint()
