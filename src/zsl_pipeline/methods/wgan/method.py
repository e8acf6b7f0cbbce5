"""f-CLSWGAN, ZS-WGAN and FiLM-WGAN as :class:`~zsl_pipeline.methods.base.Method` records:
synthesis (§4.3, part 2 §7.8) and the final classifiers' sets on raw features."""

from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import Tensor, nn

from zsl_pipeline.evaluation.protocols import ClassifierConfig
from zsl_pipeline.evaluation.synthesis import ClassifierSets, feature_sets, synthesize_classes
from zsl_pipeline.methods.base import Method
from zsl_pipeline.methods.wgan.config import WGANConfig, clswgan_config, filmwgan_config, zswgan_config
from zsl_pipeline.methods.wgan.loop import train
from zsl_pipeline.methods.wgan.models import ARCHITECTURES
from zsl_pipeline.training.features import FeatureTensors


@torch.no_grad()
def synthesize(
    generator_net: nn.Module,
    classes: Tensor,
    class_embeddings: Tensor,
    *,
    n_per_class: int,
    nz: int,
    rng: torch.Generator,
) -> tuple[Tensor, Tensor]:
    """``n_per_class`` features per class in ``classes`` (global ids), z ~ N(0, I) (§4.3).

    All noise is drawn up front on ``rng``'s device (so chunking does not change the result);
    returns (features, labels) on the embeddings' device.
    """
    was_training = generator_net.training
    generator_net.eval()  # no BatchNorm or dropout: no effect, as in the reference
    try:
        return synthesize_classes(
            generator_net, classes, class_embeddings, n_per_class=n_per_class, noise_dim=nz, rng=rng
        )
    finally:
        generator_net.train(was_training)


def load_generator(checkpoint: Mapping[str, Any], device: torch.device) -> tuple[nn.Module, WGANConfig, int]:
    """(generator on ``device`` in eval mode, config, noise size) from a :func:`train` checkpoint."""
    config = WGANConfig(**checkpoint["config"])
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
    syn_x, syn_y = synthesize(
        net_g, data.unseen_classes, data.class_embeddings, n_per_class=config.syn_num, nz=noise_dim, rng=generator
    )
    return feature_sets(data, syn_x, syn_y)


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
