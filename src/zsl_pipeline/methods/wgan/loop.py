"""f-CLSWGAN, ZS-WGAN and FiLM-WGAN: conditional WGAN-GP feature generators sharing ONE training loop.

methods_spec.md §4 (f-CLSWGAN, Xian et al. CVPR 2018) and methods_spec_part2.md §7 (ZS-WGAN and
FiLM-WGAN, Hemati 2018). The three differ only in their networks, initialisation and settings
(:mod:`zsl_pipeline.methods.wgan.config`):

1. pre-train a linear log-softmax classifier on the real training features (labels remapped to
   the training classes ``torch.unique(train_y)``), then freeze it;
2. per epoch, ceil(ntrain / batch) generator iterations, each: ``critic_iter`` critic steps on
   fresh random batches minimising mean D(G(z,a),a) − mean D(x,a) + λ·GP (λ fixed), then one
   generator step with fresh noise on the attributes / labels of the last critic batch,
   minimising −mean D(G(z,a),a) + cls_weight · NLL(f(G(z,a)), y).

Every draw (init, batches, noise, α) comes from seeded ``torch.Generator`` objects, so a run is
deterministic for a seed on a given device.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zsl_pipeline import losses
from zsl_pipeline.evaluation.protocols import batch_stream
from zsl_pipeline.methods.base import Progress
from zsl_pipeline.methods.wgan.config import WGANConfig
from zsl_pipeline.methods.wgan.models import build_wgan, init_network
from zsl_pipeline.models.classifier import LinearLogSoftmax
from zsl_pipeline.training.allocator import keep_freed_cpu_memory
from zsl_pipeline.training.checkpoint import envelope
from zsl_pipeline.training.device import check_precision, check_same_device, precision_autocast, tf32_allowed
from zsl_pipeline.training.epoch_resume import current_epoch_checkpoint, epoch_state, restore_epoch_state
from zsl_pipeline.training.events import emit_epoch, emit_iteration
from zsl_pipeline.training.features import FeatureTensors
from zsl_pipeline.training.optim import adam
from zsl_pipeline.training.stats import EpochStats
from zsl_pipeline.training.streams import init_stream, rand, randn, randperm, training_stream

log = logging.getLogger(__name__)

#: Adam β1 of the seen-class classifier's pre-training (§4.1; part 2 §7.5).
PRETRAIN_BETA1 = 0.5
#: Version of the checkpoint layout.
FORMAT_VERSION = 1
CRITIC_STATS = ("d_loss", "wasserstein", "gp")
GENERATOR_STATS = ("g_adv", "cls_loss")


def training_class_map(train_y: Tensor, num_classes: int) -> tuple[Tensor, Tensor]:
    """(training classes = sorted unique ``train_y``, remap: global id -> 0..n−1, −1 elsewhere)."""
    classes = torch.unique(train_y)
    remap = torch.full((num_classes,), -1, dtype=torch.long, device=train_y.device)
    remap[classes] = torch.arange(classes.numel(), device=train_y.device)
    return classes, remap


def classification_loss(classifier: nn.Module, x: Tensor, y_local: Tensor) -> Tensor:
    """NLL of the frozen seen-class classifier on features ``x`` with remapped labels (§4.2)."""
    return F.nll_loss(classifier(x), y_local)


def pretrain_classifier(
    classifier: LinearLogSoftmax, x: Tensor, y_local: Tensor, config: WGANConfig, rng: torch.Generator
) -> None:
    """Train ``classifier`` in place: Adam(pretrain_lr, (0.5, 0.999)), NLL, ``pretrain_epochs`` of
    ceil(n / batch) steps (§4.1 "stream" batches; part 2 §7.5 "loader" batches)."""
    opt = adam(classifier.parameters(), lr=config.pretrain_lr, beta1=PRETRAIN_BETA1)
    n, bs = x.shape[0], config.pretrain_batch_size
    if config.pretrain_batching == "stream":
        batches = list(batch_stream(n, bs, math.ceil(n / bs) * config.pretrain_epochs, rng, x.device))
    else:  # a shuffled DataLoader: a fresh permutation per epoch, the last batch partial
        batches = [
            idx
            for _ in range(config.pretrain_epochs)
            for idx in randperm(n, rng, x.device).split(bs)
        ]
    classifier.train()
    for idx in batches:
        opt.zero_grad(set_to_none=True)
        classification_loss(classifier, x[idx], y_local[idx]).backward()
        opt.step()
    classifier.eval()


def critic_step(
    net_g: nn.Module,
    net_d: nn.Module,
    opt_d: torch.optim.Optimizer,
    data: FeatureTensors,
    *,
    config: WGANConfig,
    noise_dim: int,
    rng: torch.Generator,
) -> tuple[Tensor, Tensor, Tensor]:
    """One critic step on a fresh random batch (§4.2, part 2 §7.4); returns (y, a, stats).

    stats = (d_loss incl. λ·GP, Wasserstein estimate, raw GP), as in :data:`CRITIC_STATS`.
    """
    device = data.device
    idx = randperm(data.ntrain, rng, device)[: config.batch_size]
    x, y = data.train_x[idx], data.train_y[idx]
    a = data.class_embeddings[y]
    z = randn((x.shape[0], noise_dim), rng, device)
    with torch.no_grad(), precision_autocast(device, config.precision):
        fake = net_g(z, a).float()
    alpha = rand((x.shape[0], 1), rng, device)  # one α per sample
    opt_d.zero_grad(set_to_none=True)
    with precision_autocast(device, config.precision):
        d_real, d_fake, gp = losses.critic_terms(net_d, x, fake, a, alpha)
    d_loss = losses.wgan_critic_loss(d_real, d_fake) + config.gp_weight * gp
    d_loss.backward()
    opt_d.step()
    stats = torch.stack([d_loss.detach(), losses.wasserstein_estimate(d_real, d_fake).detach(), gp.detach()])
    return y, a, stats


def generator_step(
    net_g: nn.Module,
    net_d: nn.Module,
    classifier: nn.Module,
    opt_g: torch.optim.Optimizer,
    *,
    y_local: Tensor,
    a: Tensor,
    config: WGANConfig,
    noise_dim: int,
    rng: torch.Generator,
) -> Tensor:
    """One generator step with fresh noise on the last critic batch's (a, y) (§4.2); D frozen.

    Returns (g_adv = −mean D(G(z,a),a), cls_loss = NLL), as in :data:`GENERATOR_STATS`.
    """
    z = randn((a.shape[0], noise_dim), rng, a.device)
    net_d.requires_grad_(False)
    try:
        opt_g.zero_grad(set_to_none=True)
        with precision_autocast(a.device, config.precision):
            fake = net_g(z, a)
            g_adv = losses.wgan_generator_loss(net_d(fake, a))
            cls_loss = classification_loss(classifier, fake, y_local)
        (g_adv + config.cls_weight * cls_loss).backward()
        opt_g.step()
    finally:
        net_d.requires_grad_(True)
    return torch.stack([g_adv.detach(), cls_loss.detach()])


def train(
    data: FeatureTensors, config: WGANConfig, device: torch.device, progress: Progress | None = None
) -> dict[str, Any]:
    """Pre-train the seen-class classifier, then train the WGAN-GP (module docstring); return the
    checkpoint ``{"method", "config", "models", "history", "feature_dim", "attr_dim"}``.

    Init draws from a CPU generator seeded with ``config.seed`` (G, D, classifier, in that order:
    the same weights on any device); training draws from a generator seeded from it, on
    ``device`` (or on the CPU with ``config.noise_device = "cpu"``).
    Statistics stay on the device; the epoch's means are synced once per epoch.
    """
    check_same_device(data.device, device)
    check_precision(config.precision, device)
    keep_freed_cpu_memory(device)
    noise_dim = config.noise_dim(data.attr_dim)
    classes, remap = training_class_map(data.train_y, data.num_classes)
    init_rng = init_stream(config.seed)
    net_g, net_d = build_wgan(
        config.architecture,
        feature_dim=data.feature_dim,
        attr_dim=data.attr_dim,
        noise_dim=noise_dim,
        ngh=config.ngh,
        ndh=config.ndh,
        init=config.init,
        generator=init_rng,
    )
    classifier = LinearLogSoftmax(data.feature_dim, int(classes.numel()), generator=init_rng)
    if config.init != "bias_zero":  # LinearLogSoftmax zeroes the bias; redraw for "all_normal" (§7.5)
        init_network(classifier, config.init, init_rng)
    net_g, net_d, classifier = net_g.to(device), net_d.to(device), classifier.to(device)
    rng = training_stream(init_rng, device, config.noise_device)
    networks = {"generator": net_g, "critic": net_d, "pretrained_classifier": classifier}
    resume_file = current_epoch_checkpoint()  # opened by the runner; None: no per-epoch resume
    resume = (
        resume_file.load(method=config.method, version=FORMAT_VERSION, config=config.to_dict(), stream_type=rng.device.type)
        if resume_file is not None
        else None
    )

    if resume is None:
        pretrain_classifier(classifier, data.train_x, remap[data.train_y], config, rng)
    classifier.requires_grad_(False)  # frozen; gradients still flow through it to G

    opt_g = adam(net_g.parameters(), lr=config.lr, beta1=config.beta1)
    opt_d = adam(net_d.parameters(), lr=config.lr, beta1=config.beta1)
    optimizers = {"generator": opt_g, "critic": opt_d}
    history: list[dict[str, float]] = []
    start = 0
    if resume is not None:  # the pre-trained classifier, G, D, both Adams and the stream as they were
        start, history = restore_epoch_state(resume, networks, optimizers, rng)
        classifier.eval()
        log.info("%s: resuming after epoch %d from %s", config.method, start, resume_file.path)

    def checkpoint(**resume_state: Any) -> dict[str, Any]:
        """The run's envelope; with ``epoch_state(...)`` a per-epoch resume checkpoint."""
        return envelope(
            method=config.method,
            version=FORMAT_VERSION,
            config=config.to_dict(),
            models=networks,
            history=history,
            feature_dim=data.feature_dim,
            attr_dim=data.attr_dim,
            **resume_state,
        )

    iters = config.generator_iterations(data.ntrain)
    log.info(
        "%s on %s: %d training classes, %d epochs x %d generator iterations x %d critic steps",
        config.method,
        data.name,
        classes.numel(),
        config.nepoch,
        iters,
        config.critic_iter,
    )
    with tf32_allowed(config.precision == "tf32"):  # TF32 for the whole loop, backward passes included
        epoch_stats = EpochStats(device, critic=CRITIC_STATS, generator=GENERATOR_STATS)
        for epoch in range(start, config.nepoch):
            net_g.train()
            net_d.train()
            for i in range(iters):
                for _ in range(config.critic_iter):
                    y, a, stats = critic_step(net_g, net_d, opt_d, data, config=config, noise_dim=noise_dim, rng=rng)
                    epoch_stats.add("critic", stats)
                g_stats = generator_step(
                    net_g, net_d, classifier, opt_g, y_local=remap[y], a=a, config=config, noise_dim=noise_dim, rng=rng
                )
                epoch_stats.add("generator", g_stats)
                emit_iteration(i + 1, iters)
            stats_row = epoch_stats.close(epoch + 1, config.method)  # history epochs are 1-based
            history.append(stats_row)
            emit_epoch(f"{config.method}_train", epoch + 1, stats_row)
            log.info(
                "epoch %d/%d  D %.4f  W %.4f  GP %.4f  G_adv %.4f  cls %.4f",
                epoch + 1,
                config.nepoch,
                *(stats_row[name] for name in CRITIC_STATS + GENERATOR_STATS),
            )
            if resume_file is not None and epoch + 1 < config.nepoch:  # the runner keeps the finished run
                resume_file.save(checkpoint(**epoch_state(epoch + 1, optimizers, rng)))
            if progress is not None:
                progress(epoch + 1, config.nepoch)

    return checkpoint()
