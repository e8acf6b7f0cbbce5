"""Training and using the feature-to-image inversion network (image datasets only).

Losses (Dosovitskiy & Brox, NeurIPS 2016): pixel L1 + perceptual (squared error between the
frozen backbone's layer4 "conv5" map and average-pool features of the real and the inverted
image) + a conditional adversarial term (BCE). The perceptual network is the extraction
backbone itself, fed [0, 1] images through its ImageNet normalisation at the inversion
resolution (64 x 64, no resize: ResNet is fully convolutional up to the pool).
"""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Mapping

import numpy as np
import torch
from torch import nn

from zsl_pipeline.losses import discriminator_loss, generator_adversarial_loss, l1_image_loss, perceptual_loss
from zsl_pipeline.training.checkpoint import cpu_copy, envelope
from zsl_pipeline.training.device import (
    TRAINING_PRECISIONS,
    check_precision,
    precision_autocast,
    tf32_allowed,
)
from zsl_pipeline.training.epoch_resume import EpochCheckpoint, epoch_state, restore_epoch_state
from zsl_pipeline.training.events import emit_epoch, emit_iteration
from zsl_pipeline.training.optim import fused_adam
from zsl_pipeline.training.progress import EpochProgressBar
from zsl_pipeline.training.stats import EpochStats, history_columns
from zsl_pipeline.vision.backbone import FEATURE_DIM, ImageNetNormalize, ResNetBackbone
from zsl_pipeline.vision.inversion_models import (
    DISCRIMINATOR_CHANNELS,
    FEATURE_EMBED_DIM,
    InversionDiscriminator,
    InversionGenerator,
    generator_channels_for,
)

log = logging.getLogger(__name__)

INVERSION_CHECKPOINT_FORMAT = "zsl_pipeline.feature_inversion"
CHECKPOINT_FORMAT_VERSION = 1
#: The name of inversion's epoch checkpoints (``training.epoch_resume``), and the settings that
#: may change on resume (the number of epochs: nothing else depends on it).
RESUME_METHOD = "inversion"
RESUME_FREE_FIELDS = frozenset({"epochs"})
UINT8_MAX = 255.0
#: Batch size of inference passes (inversion, perceptual activations for scoring).
INFERENCE_BATCH = 128


@dataclass(frozen=True)
class InversionConfig:
    """Training of the inversion generator and discriminator.

    Attributes:
        epochs, batch_size, seed: the loop.
        lr, beta1, beta2: Adam for both networks (DCGAN's 2e-4, beta1 0.5).
        l1_weight, perceptual_weight, adversarial_weight: loss weights of the generator
            objective; images are in [0, 1], L1 is a mean and the perceptual term a relative
            error (``losses.perceptual_loss``, free of the backbone's activation scale), so the
            defaults (1, 1, 0.01) weight pixel and feature errors alike and keep the GAN term a
            regulariser.
            ``adversarial_weight == 0`` skips the discriminator entirely.
        image_size: side of the images (64 or 128; must be 2 * 2**k and divisible by 16).
        generator_channels: the generator's widths, one upsampling stage each after the first;
            ``None`` = :func:`generator_channels_for` ``image_size`` (64 px: 512, 512, 256, 128,
            64, 32; every doubling adds one stage of the last width).
        discriminator_channels, feature_embed_dim: the other network widths.
        precision: ``fp32`` (default), or on CUDA ``tf32`` or ``bf16`` (autocast).
    """

    epochs: int = 50
    batch_size: int = 64
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    l1_weight: float = 1.0
    perceptual_weight: float = 1.0
    adversarial_weight: float = 0.01
    image_size: int = 64
    generator_channels: tuple[int, ...] | None = None
    discriminator_channels: tuple[int, ...] = DISCRIMINATOR_CHANNELS
    feature_embed_dim: int = FEATURE_EMBED_DIM
    precision: str = "fp32"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.precision not in TRAINING_PRECISIONS:
            raise ValueError(f"precision must be one of {TRAINING_PRECISIONS}, got {self.precision!r}")
        if self.generator_channels is None:
            object.__setattr__(self, "generator_channels", generator_channels_for(self.image_size))
        object.__setattr__(self, "generator_channels", tuple(self.generator_channels))
        object.__setattr__(self, "discriminator_channels", tuple(self.discriminator_channels))
        expected = generator_channels_for(self.image_size, self.generator_channels)
        if expected != self.generator_channels:
            raise ValueError(
                f"generator_channels {self.generator_channels} give "
                f"{2 * 2 ** (len(self.generator_channels) - 1)} px, not image_size {self.image_size}; "
                f"e.g. use {expected}"
            )
        if self.epochs < 1 or self.batch_size < 2:
            raise ValueError("need epochs >= 1 and batch_size >= 2 (BatchNorm)")


class PerceptualNet(nn.Module):
    """Frozen backbone on [0, 1] images -> (layer4 map flattened (N, 2048*h*w), pooled (N, 2048))."""

    def __init__(self, backbone: ResNetBackbone):
        super().__init__()
        self.normalize = ImageNetNormalize()
        self.backbone = copy.deepcopy(backbone).eval()
        for p in self.backbone.parameters():
            p.requires_grad_(False)

    def train(self, mode: bool = True) -> "PerceptualNet":
        return super().train(False)  # always eval: frozen BatchNorm statistics

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        fmap, pooled = self.backbone.feature_maps(self.normalize(images))
        return fmap.flatten(1), pooled


def as_image_tensor(images: np.ndarray | torch.Tensor, image_size: int) -> torch.Tensor:
    """(N, S, S, 3) or (N, 3, S, S) uint8/float images -> (N, 3, S, S) tensor, dtype kept.

    uint8 means 0..255; float means [0, 1]. Use :func:`to_unit_range` per batch.
    """
    t = torch.as_tensor(np.asarray(images)) if not isinstance(images, torch.Tensor) else images
    if t.ndim != 4:
        raise ValueError(f"expected a batch of images (N, S, S, 3) or (N, 3, S, S), got {tuple(t.shape)}")
    if t.shape[-1] == 3 and t.shape[1] != 3:
        t = t.permute(0, 3, 1, 2)  # NHWC -> NCHW
    if tuple(t.shape[1:]) != (3, image_size, image_size):
        raise ValueError(f"expected 3 x {image_size} x {image_size} images, got {tuple(t.shape[1:])}")
    return t.contiguous()


def to_unit_range(images: torch.Tensor) -> torch.Tensor:
    """uint8 0..255 -> float [0, 1]; float images pass through as float32."""
    return images.float() / UINT8_MAX if images.dtype == torch.uint8 else images.float()


def _config_dict(config: InversionConfig) -> dict[str, Any]:
    out = asdict(config)
    out["generator_channels"] = list(config.generator_channels)
    out["discriminator_channels"] = list(config.discriminator_channels)
    return out


def build_networks(
    config: InversionConfig, feature_dim: int = FEATURE_DIM
) -> tuple[InversionGenerator, InversionDiscriminator]:
    """Generator and discriminator of ``config`` (seeded by the caller)."""
    generator = InversionGenerator(feature_dim=feature_dim, channels=config.generator_channels)
    discriminator = InversionDiscriminator(
        feature_dim=feature_dim,
        channels=config.discriminator_channels,
        feature_embed_dim=config.feature_embed_dim,
        image_size=config.image_size,
    )
    return generator, discriminator


def load_generator(checkpoint: Mapping[str, Any]) -> InversionGenerator:
    """The trained generator of a :func:`train_inversion` checkpoint, in eval mode on the CPU."""
    if checkpoint.get("format") != INVERSION_CHECKPOINT_FORMAT:
        raise ValueError(f"not an inversion checkpoint (format {checkpoint.get('format')!r})")
    saved = {k: v for k, v in checkpoint["config"].items() if k != "amp"}  # before `precision` replaced it
    config = InversionConfig(**saved)
    generator, _ = build_networks(config, feature_dim=int(checkpoint["feature_dim"]))
    generator.load_state_dict(checkpoint["generator_state_dict"])
    return generator.eval()


# ---- training ---------------------------------------------------------------------------
def train_inversion(
    features: np.ndarray,
    images: np.ndarray | torch.Tensor,
    config: InversionConfig,
    device: torch.device | str,
    *,
    perceptual_net: ResNetBackbone,
    on_epoch: Callable[[int, dict[str, float]], None] | None = None,
    progress: bool = True,
    resume_file: EpochCheckpoint | None = None,
) -> tuple[dict[str, Any], dict[str, list[float]]]:
    """Train the inversion generator on (feature, image) pairs.

    Args:
        features: (N, 2048) features of the images (from the same backbone).
        images: (N, 64, 64, 3) uint8 (or (N, 3, 64, 64); float in [0, 1] also accepted).
        perceptual_net: the extraction backbone; copied and frozen, never modified.
        progress: a progress bar over epochs with an inner bar over the epoch's batches.
        resume_file: an epoch checkpoint (``training.epoch_resume``) to continue from and to
            save after every epoch but the last (both networks, both Adams, the shuffle and
            global CPU generators; ``epochs`` may change on resume).
    Returns:
        ``(checkpoint, history)``; the checkpoint loads with ``weights_only=True`` and
        :func:`load_generator`. History: per-epoch means of every loss term and of the
        discriminator's mean P(real) on real and on fake pairs.
    """
    device = torch.device(device)
    check_precision(config.precision, device)
    feats = torch.as_tensor(np.asarray(features, dtype=np.float32))
    imgs = as_image_tensor(images, config.image_size)
    n = feats.shape[0]
    if feats.ndim != 2 or imgs.shape[0] != n:
        raise ValueError(f"{n} features (shape {tuple(feats.shape)}) for {imgs.shape[0]} images")
    if n < 2:
        raise ValueError("inversion training needs at least 2 images (BatchNorm)")
    use_gan = config.adversarial_weight > 0
    percept = PerceptualNet(perceptual_net).to(device)

    rows: list[dict[str, float]] = []
    # sums over samples in float64, as Python floats summed them before (the history is unchanged)
    epoch_stats = EpochStats(
        device,
        dtype=torch.float64,
        generator=("generator_loss", "l1", "perceptual", "adversarial"),
        discriminator=("discriminator_loss", "d_real", "d_fake"),
    )
    # seeded, without touching the caller's RNG; TF32 only when asked for
    with (
        torch.random.fork_rng(devices=[]),
        tf32_allowed(config.precision == "tf32"),
        EpochProgressBar(config.epochs, "inversion", enabled=progress) as bar,
    ):
        # the CPU's generator only: torch.manual_seed would also reseed every GPU's, which
        # fork_rng(devices=[]) does not restore (the caller's CUDA RNG state would change)
        torch.default_generator.manual_seed(config.seed)
        generator, discriminator = build_networks(config, feature_dim=feats.shape[1])
        generator, discriminator = generator.to(device), discriminator.to(device)
        betas = (config.beta1, config.beta2)
        opt_g = fused_adam(generator.parameters(), lr=config.lr, betas=betas)
        opt_d = fused_adam(discriminator.parameters(), lr=config.lr, betas=betas)
        shuffle = torch.Generator().manual_seed(config.seed)
        networks = {"generator": generator, "discriminator": discriminator}
        optimizers = {"generator": opt_g, "discriminator": opt_d}
        first = 1
        resume = (
            resume_file.load(method=RESUME_METHOD, version=CHECKPOINT_FORMAT_VERSION, config=_config_dict(config),
                             stream_type="cpu", nepoch=config.epochs, free=RESUME_FREE_FIELDS)
            if resume_file is not None
            else None
        )
        if resume is not None:
            done, rows = restore_epoch_state(resume, networks, optimizers, shuffle)
            torch.default_generator.set_state(resume["global_rng"])
            first = done + 1
            bar.advance_to(done)
            log.info("inversion: resuming after epoch %d from %s", done, resume_file.path)

        for epoch in range(first, config.epochs + 1):
            start = time.perf_counter()
            generator.train()
            discriminator.train()
            perm = torch.randperm(n, generator=shuffle)
            batches = list(perm.split(config.batch_size))
            if len(batches) > 1 and batches[-1].numel() < 2:  # BatchNorm needs 2 samples
                batches[-2:] = [torch.cat(batches[-2:])]
            for step, idx in enumerate(batches, start=1):
                f = feats[idx].to(device, non_blocking=True)
                real = to_unit_range(imgs[idx]).to(device, non_blocking=True)
                with torch.no_grad(), precision_autocast(device, config.precision):
                    real_acts = tuple(a.float() for a in percept(real))

                # phase D: discriminator on real vs detached fake pairs
                with precision_autocast(device, config.precision):
                    fake = generator(f).float()
                if use_gan:
                    with precision_autocast(device, config.precision):
                        real_logits = discriminator.logits(real, f).float()
                        fake_logits = discriminator.logits(fake.detach(), f).float()
                        loss_d = discriminator_loss(real_logits, fake_logits)
                    opt_d.zero_grad(set_to_none=True)
                    loss_d.backward()
                    opt_d.step()

                # phase G: L1 + perceptual + adversarial
                with precision_autocast(device, config.precision):
                    l1 = l1_image_loss(fake, real)
                    perc = perceptual_loss(tuple(a.float() for a in percept(fake)), real_acts)
                    if use_gan:
                        adv = generator_adversarial_loss(discriminator.logits(fake, f).float())
                    else:
                        adv = torch.zeros((), device=device)
                    loss_g = (config.l1_weight * l1 + config.perceptual_weight * perc
                              + config.adversarial_weight * adv)
                opt_g.zero_grad(set_to_none=True)
                loss_g.backward()
                opt_g.step()

                b = idx.numel()
                g_terms = torch.stack([loss_g.detach(), l1.detach(), perc.detach(), adv.detach()])
                epoch_stats.add("generator", g_terms.double() * b, count=b)
                if use_gan:
                    d_real, d_fake = torch.sigmoid(real_logits).mean(), torch.sigmoid(fake_logits).mean()
                    d_terms = torch.stack([loss_d.detach(), d_real.detach(), d_fake.detach()])
                else:  # no discriminator: its statistics are 0
                    d_terms = torch.zeros(3, device=device)
                epoch_stats.add("discriminator", d_terms.double() * b, count=b)
                emit_iteration(step, len(batches))
            row = {**epoch_stats.close(epoch, "inversion"), "seconds": time.perf_counter() - start}
            rows.append(row)
            emit_epoch("inversion", epoch, row)
            log.info("inversion epoch %d/%d: G %.4f (L1 %.4f, perc %.4f, adv %.4f), D %.4f (%.1f s)",
                     epoch, config.epochs, row["generator_loss"], row["l1"], row["perceptual"],
                     row["adversarial"], row["discriminator_loss"], row["seconds"])
            if on_epoch is not None:
                on_epoch(epoch, row)
            bar.set_metrics({"G": row["generator_loss"], "D": row["discriminator_loss"]})
            bar.advance_to(epoch)
            if resume_file is not None and epoch < config.epochs:
                resume_file.save(
                    envelope(
                        method=RESUME_METHOD, version=CHECKPOINT_FORMAT_VERSION, config=_config_dict(config),
                        models=networks, history=rows, feature_dim=int(feats.shape[1]), attr_dim=0,
                        **epoch_state(epoch, optimizers, shuffle),
                        global_rng=torch.default_generator.get_state(),
                    )
                )

    checkpoint = {
        "format": INVERSION_CHECKPOINT_FORMAT,
        "format_version": CHECKPOINT_FORMAT_VERSION,
        "config": _config_dict(config),
        "feature_dim": int(feats.shape[1]),
        "generator_state_dict": {k: v.detach().cpu() for k, v in generator.state_dict().items()},
        "discriminator_state_dict": {k: v.detach().cpu() for k, v in discriminator.state_dict().items()},
        # CPU copies, as the state dicts above: the checkpoint loads on a machine without the GPU
        "generator_optimizer_state_dict": cpu_copy(opt_g.state_dict()),
        "discriminator_optimizer_state_dict": cpu_copy(opt_d.state_dict()),
        "epoch": config.epochs,
        "history": history_columns(rows),
    }
    return checkpoint, checkpoint["history"]


# ---- use ----------------------------------------------------------------------------------
def invert(
    generator: InversionGenerator,
    features: np.ndarray | torch.Tensor,
    device: torch.device | str,
    batch_size: int = INFERENCE_BATCH,
) -> torch.Tensor:
    """(N, 2048) features -> (N, 3, 64, 64) float32 CPU images in [0, 1] (generator copied, eval).

    ``features``: an array, or a tensor on any device (synthetic features stay where they were made).
    """
    device = torch.device(device)
    model = copy.deepcopy(generator).eval().to(device)
    if isinstance(features, torch.Tensor):
        feats = features.detach().float()
    else:
        feats = torch.as_tensor(np.asarray(features, dtype=np.float32))
    with torch.inference_mode():
        out = [model(chunk.to(device)).float().cpu() for chunk in feats.split(batch_size)]
    return torch.cat(out) if out else torch.empty(0, 3, model.image_size, model.image_size)
