"""TF-VAEGAN training loop (methods_spec.md §2.5) with resume, and its result type."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import torch

from zsl_pipeline.methods.tfvaegan.checkpoint import check_resumable, make_checkpoint, restore_checkpoint
from zsl_pipeline.methods.tfvaegan.config import TFVAEGANConfig
from zsl_pipeline.methods.tfvaegan.models import TFVAEGANModels, build_tfvaegan
from zsl_pipeline.methods.tfvaegan.steps import (
    CRITIC_STATS,
    GENERATOR_STATS,
    TFVAEGANOptimizers,
    build_optimizers,
    critic_phase,
    generator_step,
)
from zsl_pipeline.training.allocator import keep_freed_cpu_memory
from zsl_pipeline.training.device import check_precision, check_same_device, tf32_allowed
from zsl_pipeline.training.events import emit_epoch, emit_iteration
from zsl_pipeline.training.features import FeatureTensors
from zsl_pipeline.training.stats import EpochStats
from zsl_pipeline.training.streams import init_stream, training_stream

log = logging.getLogger(__name__)

#: on_epoch(epoch, stats, models) -> optional extra numbers (e.g. metrics) stored in the history.
EpochCallback = Callable[[int, dict[str, float], TFVAEGANModels], "Mapping[str, float] | None"]
CheckpointCallback = Callable[[dict[str, Any]], None]
ProgressCallback = Callable[[int, int], None]


@dataclass
class TFVAEGANResult:
    """Trained networks, their optimisers and everything needed to checkpoint or continue.

    ``history`` has one dict per completed epoch: ``epoch`` and the epoch means of
    d_loss (γ_D-scaled critic loss incl. penalty), wasserstein (unscaled mean D(x) − mean
    D(x̃)), gp (raw penalty), cycle_real (L_R of Dec on real x), g_loss (L_G), vae_loss
    (= vae_rec + vae_kl), g_adv (−mean D(x̃)), cycle_fake (L_R on generated x̃), plus gp_weight
    (λ at the end of the epoch) and whatever the epoch callback returned.
    """

    models: TFVAEGANModels
    optimizers: TFVAEGANOptimizers
    config: TFVAEGANConfig
    history: list[dict[str, float]]
    gp_weight: float
    epochs_completed: int
    rng: torch.Generator
    feature_dim: int
    attr_dim: int

    def checkpoint(self) -> dict[str, Any]:
        """A self-describing checkpoint of the final state (``methods.tfvaegan.checkpoint``)."""
        return make_checkpoint(
            config=self.config,
            epochs_completed=self.epochs_completed,
            models=self.models,
            optimizers=self.optimizers,
            gp_weight=self.gp_weight,
            rng=self.rng,
            history=self.history,
            feature_dim=self.feature_dim,
            attr_dim=self.attr_dim,
        )


def build_training_state(
    config: TFVAEGANConfig, *, feature_dim: int, attr_dim: int, device: torch.device
) -> tuple[TFVAEGANModels, TFVAEGANOptimizers, torch.Generator]:
    """Models (seeded init, on ``device``), optimisers (§2.4) and the training RNG.

    The init draws from a CPU generator seeded with ``config.seed`` (same weights on any
    device); the training stream is a generator seeded from that generator's next draw, on
    ``device`` (or on the CPU with ``config.noise_device = "cpu"``).
    """
    latent = config.resolve_latent_size(attr_dim)
    init_rng = init_stream(config.seed)
    models = build_tfvaegan(
        feature_dim=feature_dim,
        attr_dim=attr_dim,
        latent_dim=latent,
        encoder_hidden=config.encoder_hidden,
        ngh=config.ngh,
        ndh=config.ndh,
        generator=init_rng,
    ).to(device)
    return models, build_optimizers(models, config), training_stream(init_rng, device, config.noise_device)


def _is_due(epoch: int, every: int, nepoch: int) -> bool:
    """True every ``every`` epochs (1-based count) and at the last epoch; never when every == 0."""
    return every > 0 and ((epoch + 1) % every == 0 or epoch + 1 == nepoch)


def train_tfvaegan(
    data: FeatureTensors,
    config: TFVAEGANConfig,
    device: torch.device,
    *,
    callback: EpochCallback | None = None,
    resume_from: Mapping[str, Any] | None = None,
    on_checkpoint: CheckpointCallback | None = None,
    progress: ProgressCallback | None = None,
) -> TFVAEGANResult:
    """Train TF-VAEGAN exactly as the reference loop of §2.5.

    Per epoch: ``feedback_loop`` passes (pass 1 with feedback δ = a1, F trained only there),
    each of ceil(ntrain / batch_size) generator iterations; an iteration is ``critic_iter``
    critic steps on fresh random batches (with a Dec step on real features each), the adaptive
    λ update (§2.6), and one generator step on the last critic batch.

    Args:
        data: preprocessed tensors on ``device`` (:func:`prepare_features`).
        config: the run's settings.
        device: where to train; ``config.precision`` other than fp32 needs CUDA.
        callback: ``on_epoch(epoch, stats, models)`` every ``eval_every`` epochs and at the last;
            numbers it returns join the epoch's history entry. It must not draw from the
            training RNG (it has no access to it) so that resuming stays exact.
        resume_from: a checkpoint dict (``load_checkpoint``); training continues after its epoch.
        on_checkpoint: receives a checkpoint dict every ``checkpoint_every`` epochs and at the last.
        progress: ``progress(epochs_done, nepoch)`` after every epoch.
    """
    check_same_device(data.device, device)
    check_precision(config.precision, device)
    keep_freed_cpu_memory(device)
    models, optimizers, rng = build_training_state(
        config, feature_dim=data.feature_dim, attr_dim=data.attr_dim, device=device
    )
    start, gp_weight, history = 0, float(config.lambda1), []
    if resume_from is not None:
        check_resumable(resume_from, config, device)
        start, gp_weight, history = restore_checkpoint(resume_from, models, optimizers, rng)
        log.info("resuming TF-VAEGAN after epoch %d (λ = %.6g)", start, gp_weight)
    def state_after(epochs_completed: int) -> TFVAEGANResult:
        """The training state now (λ and history as they stand), e.g. to checkpoint it."""
        return TFVAEGANResult(
            models=models,
            optimizers=optimizers,
            config=config,
            history=history,
            gp_weight=gp_weight,
            epochs_completed=epochs_completed,
            rng=rng,
            feature_dim=data.feature_dim,
            attr_dim=data.attr_dim,
        )

    lam = torch.tensor(gp_weight, dtype=torch.float64, device=device)  # the reference's float λ
    iters = config.generator_iterations(data.ntrain)
    log.info(
        "TF-VAEGAN on %s: %d epochs x %d passes x %d generator iterations x %d critic steps (precision %s)",
        data.name,
        config.nepoch,
        config.feedback_loop,
        iters,
        config.critic_iter,
        config.precision,
    )

    with tf32_allowed(config.precision == "tf32"):  # TF32 for the whole loop, backward passes included
        epoch_stats = EpochStats(device, critic=CRITIC_STATS, generator=GENERATOR_STATS)
        for epoch in range(start, config.nepoch):
            models.train()
            for loop in range(config.feedback_loop):
                feedback_on = config.use_feedback and loop == 1  # §2.5: feedback only in pass 1
                for i in range(iters):
                    x, a, c_stats, lam = critic_phase(
                        models,
                        optimizers,
                        data,
                        config=config,
                        feedback_on=feedback_on,
                        lam=lam,
                        rng=rng,
                        precision=config.precision,
                    )
                    g_stats = generator_step(
                        models,
                        optimizers,
                        x,
                        a,
                        config=config,
                        feedback_on=feedback_on,
                        rng=rng,
                        precision=config.precision,
                    )
                    epoch_stats.add("critic", c_stats)
                    epoch_stats.add("generator", g_stats)
                    emit_iteration(loop * iters + i + 1, config.feedback_loop * iters)
            stats = epoch_stats.close(epoch + 1, "TF-VAEGAN")  # history epochs are 1-based
            gp_weight = float(lam.item())
            stats["gp_weight"] = gp_weight
            log.info(
                "epoch %d/%d  D %.4f  G %.4f  VAE %.2f  W %.4f  GP %.4f  λ %.4g  R(real) %.4f  R(fake) %.4f",
                epoch + 1,
                config.nepoch,
                stats["d_loss"],
                stats["g_loss"],
                stats["vae_loss"],
                stats["wasserstein"],
                stats["gp"],
                gp_weight,
                stats["cycle_real"],
                stats["cycle_fake"],
            )
            if callback is not None and _is_due(epoch, config.eval_every, config.nepoch):
                extra = callback(epoch, dict(stats), models)
                if extra:
                    stats.update({key: float(value) for key, value in extra.items()})
            history.append(stats)
            emit_epoch("tfvaegan_train", epoch + 1, stats)
            if on_checkpoint is not None and _is_due(epoch, config.checkpoint_every, config.nepoch):
                on_checkpoint(state_after(epoch + 1).checkpoint())
            if progress is not None:
                progress(epoch + 1, config.nepoch)

    return state_after(config.nepoch)
