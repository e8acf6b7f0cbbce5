"""f-CLSWGAN, ZS-WGAN and FiLM-WGAN: conditional WGAN-GP feature generators sharing ONE training loop.

methods_spec.md §4 (f-CLSWGAN, Xian et al. CVPR 2018) and methods_spec_part2.md §7 (ZS-WGAN and
FiLM-WGAN, Hemati 2018). The three differ only in their networks, initialisation and settings
(:mod:`zsl_pipeline.methods.wgan_config`):

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
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zsl_pipeline import losses
from zsl_pipeline.config import same_device
from zsl_pipeline.evaluation.protocols import ClassifierConfig, batch_stream
from zsl_pipeline.evaluation.synthesis import CHUNK_ROWS
from zsl_pipeline.methods.base import ClassifierSets, Method, Progress
from zsl_pipeline.methods.wgan_config import WGANConfig, clswgan_config, filmwgan_config, zswgan_config
from zsl_pipeline.models.classifier import LinearLogSoftmax
from zsl_pipeline.models.wgan import ARCHITECTURES, build_wgan, init_network
from zsl_pipeline.training.tfvaegan_data import FeatureTensors

log = logging.getLogger(__name__)

#: β2 of every Adam (§4.2, part 2 §7.6).
ADAM_BETA2 = 0.999
#: Adam betas of the seen-class classifier's pre-training (§4.1; part 2 §7.5).
PRETRAIN_BETAS = (0.5, ADAM_BETA2)
CRITIC_STATS = ("d_loss", "wasserstein", "gp")
GENERATOR_STATS = ("g_adv", "cls_loss")
#: Upper bound (exclusive) of the training-stream seed drawn from the init generator.
_STREAM_SEED_BOUND = 2**62


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
    opt = torch.optim.Adam(classifier.parameters(), lr=config.pretrain_lr, betas=PRETRAIN_BETAS)
    n, bs = x.shape[0], config.pretrain_batch_size
    if config.pretrain_batching == "stream":
        batches = list(batch_stream(n, bs, math.ceil(n / bs) * config.pretrain_epochs, rng, x.device))
    else:  # a shuffled DataLoader: a fresh permutation per epoch, the last batch partial
        batches = [
            idx
            for _ in range(config.pretrain_epochs)
            for idx in torch.randperm(n, generator=rng, device=x.device).split(bs)
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
    config: WGANConfig,
    noise_dim: int,
    rng: torch.Generator,
) -> tuple[Tensor, Tensor, Tensor]:
    """One critic step on a fresh random batch (§4.2, part 2 §7.4); returns (y, a, stats).

    stats = (d_loss incl. λ·GP, Wasserstein estimate, raw GP), as in :data:`CRITIC_STATS`.
    """
    device = data.device
    idx = torch.randperm(data.ntrain, generator=rng, device=device)[: config.batch_size]
    x, y = data.train_x[idx], data.train_y[idx]
    a = data.class_embeddings[y]
    z = torch.randn((x.shape[0], noise_dim), generator=rng, device=device)
    with torch.no_grad():
        fake = net_g(z, a)
    alpha = torch.rand((x.shape[0], 1), generator=rng, device=device)  # one α per sample
    opt_d.zero_grad(set_to_none=True)
    d_real, d_fake = net_d(x, a), net_d(fake, a)
    gp = losses.gradient_penalty(net_d, x, fake, a, alpha)
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
    y_local: Tensor,
    a: Tensor,
    config: WGANConfig,
    noise_dim: int,
    rng: torch.Generator,
) -> Tensor:
    """One generator step with fresh noise on the last critic batch's (a, y) (§4.2); D frozen.

    Returns (g_adv = −mean D(G(z,a),a), cls_loss = NLL), as in :data:`GENERATOR_STATS`.
    """
    z = torch.randn((a.shape[0], noise_dim), generator=rng, device=a.device)
    net_d.requires_grad_(False)
    try:
        opt_g.zero_grad(set_to_none=True)
        fake = net_g(z, a)
        g_adv = losses.wgan_generator_loss(net_d(fake, a))
        cls_loss = classification_loss(classifier, fake, y_local)
        (g_adv + config.cls_weight * cls_loss).backward()
        opt_g.step()
    finally:
        net_d.requires_grad_(True)
    return torch.stack([g_adv.detach(), cls_loss.detach()])


def _cpu_state(net: nn.Module) -> dict[str, Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in net.state_dict().items()}


def train(
    data: FeatureTensors, config: WGANConfig, device: torch.device, progress: Progress | None = None
) -> dict[str, Any]:
    """Pre-train the seen-class classifier, then train the WGAN-GP (module docstring); return the
    checkpoint ``{"method", "config", "models", "history", "feature_dim", "attr_dim"}``.

    Init draws from a CPU generator seeded with ``config.seed`` (G, D, classifier, in that order:
    the same weights on any device); training draws from a ``device`` generator seeded from it.
    Statistics stay on the device; the epoch's means are synced once per epoch.
    """
    if not same_device(data.device, device):
        raise ValueError(f"features are on {data.device} but training was asked to run on {device}")
    noise_dim = config.noise_dim(data.attr_dim)
    classes, remap = training_class_map(data.train_y, data.num_classes)
    init_rng = torch.Generator().manual_seed(config.seed)
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
    rng = torch.Generator(device=device)
    rng.manual_seed(int(torch.randint(0, _STREAM_SEED_BOUND, (1,), generator=init_rng).item()))

    pretrain_classifier(classifier, data.train_x, remap[data.train_y], config, rng)
    classifier.requires_grad_(False)  # frozen; gradients still flow through it to G

    betas = (config.beta1, ADAM_BETA2)
    opt_g = torch.optim.Adam(net_g.parameters(), lr=config.lr, betas=betas)
    opt_d = torch.optim.Adam(net_d.parameters(), lr=config.lr, betas=betas)
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
    history: list[dict[str, float]] = []
    for epoch in range(config.nepoch):
        net_g.train()
        net_d.train()
        critic_sum = torch.zeros(len(CRITIC_STATS), device=device)
        gen_sum = torch.zeros(len(GENERATOR_STATS), device=device)
        for _ in range(iters):
            for _ in range(config.critic_iter):
                y, a, stats = critic_step(net_g, net_d, opt_d, data, config, noise_dim, rng)
                critic_sum += stats
            gen_sum += generator_step(net_g, net_d, classifier, opt_g, remap[y], a, config, noise_dim, rng)
        means = torch.cat([critic_sum / (iters * config.critic_iter), gen_sum / iters]).tolist()  # one sync
        stats_row: dict[str, float] = {"epoch": epoch, **dict(zip(CRITIC_STATS + GENERATOR_STATS, means))}
        if not all(math.isfinite(v) for v in means):
            raise FloatingPointError(f"{config.method} diverged in epoch {epoch}: {stats_row}")
        history.append(stats_row)
        log.info(
            "epoch %d/%d  D %.4f  W %.4f  GP %.4f  G_adv %.4f  cls %.4f", epoch + 1, config.nepoch, *means
        )
        if progress is not None:
            progress(epoch + 1, config.nepoch)
    return {
        "method": config.method,
        "config": config.to_dict(),
        "models": {
            "generator": _cpu_state(net_g),
            "critic": _cpu_state(net_d),
            "pretrained_classifier": _cpu_state(classifier),
        },
        "history": history,
        "feature_dim": data.feature_dim,
        "attr_dim": data.attr_dim,
    }


@torch.no_grad()
def synthesize(
    generator_net: nn.Module,
    classes: Tensor,
    class_embeddings: Tensor,
    n_per_class: int,
    nz: int,
    rng: torch.Generator,
) -> tuple[Tensor, Tensor]:
    """``n_per_class`` features per class in ``classes`` (global ids), z ~ N(0, I) (§4.3).

    All noise is drawn up front on ``rng``'s device (so chunking does not change the result);
    returns (features, labels) on the embeddings' device.
    """
    device = class_embeddings.device
    labels = classes.to(device=device, dtype=torch.long).repeat_interleave(n_per_class)
    z = torch.randn((labels.shape[0], nz), generator=rng, device=rng.device).to(device)
    attrs = class_embeddings[labels]
    was_training = generator_net.training
    generator_net.eval()  # no BatchNorm or dropout: no effect, as in the reference
    try:
        parts = [
            generator_net(z[i : i + CHUNK_ROWS], attrs[i : i + CHUNK_ROWS])
            for i in range(0, labels.shape[0], CHUNK_ROWS)
        ]
    finally:
        generator_net.train(was_training)
    return torch.cat(parts), labels


def load_generator(checkpoint: Mapping[str, Any], device: torch.device) -> tuple[nn.Module, WGANConfig, int]:
    """(generator on ``device`` in eval mode, config, noise size) from a :func:`train` checkpoint."""
    config = WGANConfig.from_params(checkpoint["config"])
    attr_dim, feature_dim = int(checkpoint["attr_dim"]), int(checkpoint["feature_dim"])
    noise_dim = config.noise_dim(attr_dim)
    gen_cls = ARCHITECTURES[config.architecture][0]
    net_g = gen_cls(noise_dim, attr_dim, config.ngh, feature_dim, init=None)
    net_g.load_state_dict(checkpoint["models"]["generator"])
    return net_g.to(device).eval(), config, noise_dim


def classifier_sets(
    checkpoint: Mapping[str, Any], data: FeatureTensors, device: torch.device, generator: torch.Generator
) -> ClassifierSets:
    """The final classifiers' sets in raw feature space (§4.3, part 2 §7.8).

    ``syn_num`` synthetic features per unseen class (drawn from ``generator``). GZSL: all real
    training features + the synthetic unseen; ZSL: the synthetic unseen + any real training rows
    of unseen classes (few-shot mode). Test sets are the real test features.
    """
    net_g, config, noise_dim = load_generator(checkpoint, device)
    emb = data.class_embeddings.to(device)
    syn_x, syn_y = synthesize(net_g, data.unseen_classes, emb, config.syn_num, noise_dim, generator)
    train_x, train_y = data.train_x.to(device), data.train_y.to(device)
    shots = torch.isin(train_y, data.unseen_classes.to(device))
    return ClassifierSets(
        gzsl_x=torch.cat([train_x, syn_x]),
        gzsl_y=torch.cat([train_y, syn_y]),
        zsl_x=torch.cat([syn_x, train_x[shots]]),
        zsl_y=torch.cat([syn_y, train_y[shots]]),
        test_seen_x=data.test_seen_x.to(device),
        test_unseen_x=data.test_unseen_x.to(device),
        synthetic_x=syn_x,
        synthetic_y=syn_y,
    )


def classifier_configs(config: WGANConfig) -> tuple[ClassifierConfig, ClassifierConfig]:
    """(GZSL, ZSL) final classifiers on raw features: classifier_epochs, batch = syn_num unless set,
    Adam(classifier_lr, classifier_beta1) (§4.3, part 2 §7.8)."""
    clf = ClassifierConfig(
        epochs=config.classifier_epochs,
        batch_size=config.effective_classifier_batch_size,
        lr=config.classifier_lr,
        beta1=config.classifier_beta1,
        input_mode="x",
    )
    return clf, clf


def _method(name: str, config_from_params) -> Method:
    return Method(
        name=name,
        config_from_params=config_from_params,
        train=train,
        classifier_sets=classifier_sets,
        classifier_configs=classifier_configs,
        l2_normalise_embeddings=False,  # `att` as stored (§1)
    )


CLSWGAN = _method("clswgan", clswgan_config)
ZSWGAN = _method("zswgan", zswgan_config)
FILMWGAN = _method("filmwgan", filmwgan_config)
