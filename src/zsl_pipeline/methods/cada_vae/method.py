"""CADA-VAE's classifier space (methods_spec.md §3.5): noisy latents of real seen features and of
class embeddings to train on, test features encoded to μ; and its :class:`Method` record.

The final classifiers are the project's shared ``LinearLogSoftmax`` (N(0, 0.02²) init, not
Xavier gain 0.5) with mini-batches from the shared permutation stream
(``evaluation.protocols.batch_stream``), not the reference's DataLoader / reshuffled batches.
"""

from __future__ import annotations

import logging
from typing import Any, Mapping

import torch
from torch import Tensor

from zsl_pipeline.evaluation.protocols import ClassifierConfig
from zsl_pipeline.evaluation.synthesis import CHUNK_ROWS, ClassifierSets
from zsl_pipeline.methods.base import Method
from zsl_pipeline.methods.cada_vae.config import CADAVAEConfig
from zsl_pipeline.methods.cada_vae.loop import METHOD_NAME, build_models, train
from zsl_pipeline.methods.cada_vae.models import CADAVAEModels, Encoder, reparameterize
from zsl_pipeline.training.device import check_same_device
from zsl_pipeline.training.features import FeatureTensors

log = logging.getLogger(__name__)


def load_models(checkpoint: Mapping[str, Any], device: torch.device) -> tuple[CADAVAEConfig, CADAVAEModels]:
    """Rebuild the config and the four networks (eval mode) from a :func:`train` checkpoint."""
    if checkpoint.get("method") != METHOD_NAME:
        raise ValueError(f"not a CADA-VAE checkpoint (method = {checkpoint.get('method')!r})")
    config = CADAVAEConfig(**checkpoint["config"])
    models = build_models(
        config,
        feature_dim=int(checkpoint["feature_dim"]),
        attr_dim=int(checkpoint["attr_dim"]),
        device=torch.device(device),
        initialise=False,
    )
    for name, net in models.networks().items():
        net.load_state_dict(checkpoint["models"][name])
    return config, models.eval()


def tiled_class_rows(labels: Tensor, classes: Tensor, n: int) -> Tensor:
    """Indices into ``labels``: for each class in ``classes`` (in order), its rows in stored order
    tiled ceil(n / rows) times, the first ``n`` taken (§3.5: deterministic, not random).

    Returns (len(classes) · n,) indices, class-major. Every class must have at least one row.
    """
    order = torch.sort(labels, stable=True).indices
    sorted_labels = labels[order]
    start = torch.searchsorted(sorted_labels, classes)
    count = torch.searchsorted(sorted_labels, classes, right=True) - start
    if classes.numel() and bool((count == 0).any()):
        raise ValueError(f"classes without rows: {classes[count == 0].tolist()}")
    j = torch.arange(n, device=labels.device)
    return order[(start[:, None] + j[None, :] % count[:, None]).reshape(-1)]


@torch.no_grad()
def encode_mu(encoder: Encoder, x: Tensor) -> Tensor:
    """μ of every row of ``x`` (test-time encoding, noise off, §3.3), in chunks."""
    if x.shape[0] == 0:
        return x.new_zeros((0, encoder._mu.out_features))
    return torch.cat([encoder(chunk)[0] for chunk in x.split(CHUNK_ROWS)])


@torch.no_grad()
def encode_with_noise(
    encoder: Encoder, source: Tensor, rows: Tensor, generator: torch.Generator, mode: str
) -> Tensor:
    """Noisy latents (§3.3) of ``source[rows]``; each distinct source row is encoded once.

    The encoder is deterministic, so encoding the distinct rows and gathering (μ, logvar) gives
    the same (μ, logvar) as encoding the tiled rows; the noise is then drawn for all
    ``len(rows)`` samples at once.
    """
    latent = encoder._mu.out_features
    if rows.numel() == 0:
        return source.new_zeros((0, latent))
    unique, inverse = torch.unique(rows, return_inverse=True)
    stats = [encoder(chunk) for chunk in source[unique].split(CHUNK_ROWS)]
    mu = torch.cat([s[0] for s in stats])[inverse]
    logvar = torch.cat([s[1] for s in stats])[inverse]
    return reparameterize(mu, logvar, generator, mode)


def _latent_training_set(
    models: CADAVAEModels,
    data: FeatureTensors,
    counts: tuple[int, int, int, int],
    config: CADAVAEConfig,
    generator: torch.Generator,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """One classifier training set (§3.5) for ``counts`` = (img_seen, att_seen, att_unseen, img_unseen).

    Parts in the reference's order (img_seen, img_unseen, att_seen, att_unseen), each class-major
    with classes ascending. Returns (x, y, att_unseen x, att_unseen y).
    """
    img_seen, att_seen, att_unseen, img_unseen = counts
    device, latent = data.device, config.latent_size
    is_unseen_row = torch.isin(data.train_y, data.unseen_classes)
    is_seen_row = torch.isin(data.train_y, data.seen_classes) & ~is_unseen_row
    row_ids = torch.arange(data.ntrain, device=device)
    parts: list[tuple[Tensor, Tensor]] = []
    # image features: the classes present among the (seen | unseen) training rows
    for n, mask in ((img_seen, is_seen_row), (img_unseen, is_unseen_row)):
        if n == 0 or not bool(mask.any()):
            parts.append((data.train_x.new_zeros((0, latent)), data.train_y.new_zeros(0)))
            continue
        labels = data.train_y[mask]
        rows = row_ids[mask][tiled_class_rows(labels, torch.unique(labels), n)]
        z = encode_with_noise(models.image_encoder, data.train_x, rows, generator, config.reparameterization)
        parts.append((z, data.train_y[rows]))
    # class embeddings: one source row per class, so tiling is repetition
    for n, classes in ((att_seen, data.seen_classes), (att_unseen, data.unseen_classes)):
        classes = torch.sort(classes).values
        rows = classes.repeat_interleave(n)
        z = encode_with_noise(
            models.attribute_encoder, data.class_embeddings, rows, generator, config.reparameterization
        )
        parts.append((z, rows))
    x = torch.cat([p[0] for p in parts])
    y = torch.cat([p[1] for p in parts])
    return x, y, parts[3][0], parts[3][1]


def is_few_shot(data: FeatureTensors) -> bool:
    """Few-shot mode: some unseen class has training rows (the runner moved its shots there)."""
    return bool(torch.isin(data.train_y, data.unseen_classes).any())


@torch.no_grad()
def classifier_sets(
    checkpoint: Mapping[str, Any], data: FeatureTensors, device: torch.device, generator: torch.Generator
) -> ClassifierSets:
    """The final classifiers' sets in the latent space (§3.5).

    GZSL set: img_seen noisy latents per seen class (real training features) + att_unseen per
    unseen class (its class embedding); ZSL set: att_unseen per unseen class; in few-shot mode
    (an unseen class has training rows) the k-shot rows of §3.5 apply, img_unseen coming from
    those rows. Noise follows the configured reparameterisation and draws from ``generator``
    (GZSL set first, then ZSL; within a set img_seen, img_unseen, att_seen, att_unseen). Test
    features are encoded to μ. ``synthetic_*`` = the GZSL set's att_unseen latents.
    """
    device = torch.device(device)
    check_same_device(data.device, device, "building the classifier sets")
    if int(checkpoint["feature_dim"]) != data.feature_dim or int(checkpoint["attr_dim"]) != data.attr_dim:
        raise ValueError(
            f"checkpoint is for {checkpoint['feature_dim']}-d features / "
            f"{checkpoint['attr_dim']}-d embeddings, the data has {data.feature_dim} / {data.attr_dim}"
        )
    config, models = load_models(checkpoint, device)
    few_shot = is_few_shot(data)
    gzsl_counts = config.samples_per_class_gzsl_fewshot if few_shot else config.samples_per_class_gzsl
    zsl_counts = config.samples_per_class_zsl_fewshot if few_shot else config.samples_per_class_zsl
    gzsl_x, gzsl_y, syn_x, syn_y = _latent_training_set(models, data, gzsl_counts, config, generator)
    zsl_x, zsl_y, _, _ = _latent_training_set(models, data, zsl_counts, config, generator)
    log.info(
        "CADA-VAE classifier sets (%s): GZSL %d latents %s, ZSL %d latents %s",
        "few-shot" if few_shot else "zero-shot",
        gzsl_x.shape[0],
        gzsl_counts,
        zsl_x.shape[0],
        zsl_counts,
    )
    return ClassifierSets(
        gzsl_x=gzsl_x,
        gzsl_y=gzsl_y,
        zsl_x=zsl_x,
        zsl_y=zsl_y,
        test_seen_x=encode_mu(models.image_encoder, data.test_seen_x),
        test_unseen_x=encode_mu(models.image_encoder, data.test_unseen_x),
        synthetic_x=syn_x,
        synthetic_y=syn_y,
    )


def classifier_configs(config: CADAVAEConfig) -> tuple[ClassifierConfig, ClassifierConfig]:
    """(GZSL, ZSL) final-classifier settings (§3.5): the sets are already latents (``input_mode="x"``).

    The shared classifier is ``LinearLogSoftmax`` with N(0, 0.02²) init (reference: Xavier gain
    0.5) and shared-permutation-stream batches (see the module docstring).
    """

    def make(epochs: int) -> ClassifierConfig:
        return ClassifierConfig(
            epochs=epochs,
            batch_size=config.classifier_batch_size,
            lr=config.classifier_lr,
            beta1=config.classifier_beta1,
            input_mode="x",
        )

    return make(config.classifier_epochs_gzsl), make(config.classifier_epochs_zsl)


METHOD = Method(
    name=METHOD_NAME,
    config_from_params=lambda params: CADAVAEConfig(**params),
    train=train,
    classifier_sets=classifier_sets,
    classifier_configs=classifier_configs,
    l2_normalise_embeddings=False,
)
