"""Evaluation of a TF-VAEGAN generator: synthesis (§2.7), the x ⊕ Dec(x) ⊕ h classifier sets and
the two final-classifier protocols (§2.8), per epoch or once."""

from __future__ import annotations

import hashlib
from typing import Any, Callable

import torch

from zsl_pipeline.evaluation.protocols import ClassifierConfig, ProtocolResult, fit_protocols
from zsl_pipeline.evaluation.synthesis import ClassifierSets, feature_sets
from zsl_pipeline.methods.tfvaegan.config import TFVAEGANConfig
from zsl_pipeline.methods.tfvaegan.models import SemanticDecoder, TFVAEGANModels
from zsl_pipeline.methods.tfvaegan.synthesis import synthesize, transform_features
from zsl_pipeline.training.checkpoint import cpu_copy, tensor_bytes
from zsl_pipeline.training.features import FeatureTensors
from zsl_pipeline.training.stats import history_columns
from zsl_pipeline.training.streams import eval_stream


def classifier_config(config: TFVAEGANConfig) -> ClassifierConfig:
    """The final-classifier settings of a TF-VAEGAN config (§2.8)."""
    return ClassifierConfig(
        epochs=config.classifier_epochs,
        batch_size=config.effective_classifier_batch_size,
        lr=config.classifier_lr,
        beta1=config.beta1,
        input_mode=config.effective_classifier_input,
    )


def synthesize_unseen(
    models: TFVAEGANModels, data: FeatureTensors, config: TFVAEGANConfig, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """``syn_num`` features per unseen class with one feedback step of weight a2 (§2.7)."""
    return synthesize(
        models,
        data.unseen_classes,
        data.class_embeddings,
        syn_num=config.syn_num,
        a2=config.a2,
        use_feedback=config.use_feedback,
        generator=generator,
        device=data.device,
    )


def transformed_sets(
    data: FeatureTensors, syn_x: torch.Tensor, syn_y: torch.Tensor, decoder: SemanticDecoder | None, mode: str
) -> ClassifierSets:
    """The classifier sets with every feature mapped by ``transform_features`` (§2.7); the
    retrieval stays in the raw feature space. Few-shot rows join the ZSL set."""
    if mode == "x":
        return feature_sets(data, syn_x, syn_y)
    was_training = decoder.training if decoder is not None else False
    if decoder is not None:
        decoder.eval()
    try:
        return feature_sets(data, syn_x, syn_y, lambda x: transform_features(decoder, x, mode))
    finally:
        if decoder is not None:
            decoder.train(was_training)


def classify(
    models: TFVAEGANModels,
    data: FeatureTensors,
    config: TFVAEGANConfig,
    syn_x: torch.Tensor,
    syn_y: torch.Tensor,
    *,
    generator: torch.Generator,
    progress: Callable[[int, int], None] | None = None,
) -> ProtocolResult:
    """The GZSL and ZSL classifiers of §2.8 on x ⊕ Dec(x) ⊕ h (or the configured input), both
    protocols. GZSL: real seen trainval + synthetic unseen; ZSL: synthetic unseen only."""
    clf = classifier_config(config)
    syn_x, syn_y = syn_x.to(data.device), syn_y.to(data.device)
    sets = transformed_sets(data, syn_x, syn_y, models.decoder if config.use_decoder else None, clf.input_mode)
    return fit_protocols(sets, data, clf, clf, generator, progress=progress)


def evaluate_tfvaegan(
    models: TFVAEGANModels,
    data: FeatureTensors,
    config: TFVAEGANConfig,
    generator: torch.Generator,
    progress: Callable[[int, int], None] | None = None,
) -> ProtocolResult:
    """Synthesize ``syn_num`` features per unseen class, then train/evaluate ZSL and GZSL
    (on the device of ``data``)."""
    syn_x, syn_y = synthesize_unseen(models, data, config, generator)
    return classify(models, data, config, syn_x, syn_y, generator=generator, progress=progress)


def synthetic_digest(features: torch.Tensor, labels: torch.Tensor, rng_state: torch.Tensor) -> str:
    """A hash of synthetic features, their labels and the random stream's state after synthesis:
    everything the classifier stage takes from the synthesis stage."""
    h = hashlib.sha256()
    for tensor in (features, labels, rng_state):
        h.update(f"{tensor.dtype}:{tuple(tensor.shape)}".encode())
        h.update(tensor_bytes(tensor))
    return h.hexdigest()[:16]


def classifier_outputs(result: ProtocolResult) -> tuple[dict[str, Any], dict[str, Any], dict[str, list]]:
    """The classifier stage's outputs of a result: (the classifiers' state dicts as CPU copies,
    both protocols' numbers with the per-class accuracies, the per-epoch history columns)."""
    classifiers = {
        "input_mode": result.input_mode,
        "zsl": cpu_copy(result.zsl_classifier.state_dict()),
        "gzsl": cpu_copy(result.gzsl_classifier.state_dict()),
    }
    results = {
        "final": vars(result.final),
        "best_on_test": vars(result.best_on_test),
        "per_class": {k: v.tolist() for k, v in result.per_class.items()},
    }
    return classifiers, results, history_columns(result.history)


def make_epoch_evaluator(
    data: FeatureTensors,
    config: TFVAEGANConfig,
    device: torch.device,
    on_result: Callable[[int, ProtocolResult], None] | None = None,
    on_last: Callable[[dict[str, Any]], None] | None = None,
) -> Callable[[int, dict[str, float], TFVAEGANModels], dict[str, float]]:
    """An ``on_epoch`` callback for :func:`train_tfvaegan` returning the flat metrics.

    Each epoch's evaluation draws from its own stream (``eval_stream(seed, device, epoch, noise_device)``).
    ``on_result(epoch, result)`` receives the full :class:`ProtocolResult` (e.g. to keep the
    per-class table of the last epoch, or to log to a tracker). ``on_last(record)`` receives, at
    the last epoch (``config.nepoch``), the evaluation's record for the later stages to reuse
    (``stages.reusable_evaluation``): the settings and device it ran with, the
    :func:`synthetic_digest` of its synthetic features, and the :func:`classifier_outputs`.
    """

    def on_epoch(epoch: int, stats: dict[str, float], models: TFVAEGANModels) -> dict[str, float]:
        generator = eval_stream(config.seed, device, epoch, config.noise_device)
        syn_x, syn_y = synthesize_unseen(models, data, config, generator)
        digest = None
        if on_last is not None and epoch + 1 == config.nepoch:  # hashing is a host sync: the last epoch only
            digest = synthetic_digest(syn_x, syn_y, generator.get_state())
        result = classify(models, data, config, syn_x, syn_y, generator=generator)
        if on_result is not None:
            on_result(epoch, result)
        if digest is not None:
            classifiers, results, history = classifier_outputs(result)
            on_last({"epoch": epoch + 1, "settings": config.to_dict(), "device": device.type, "synthetic": digest,
                     "classifiers": classifiers, "results": results, "history": history})
        return result.flat_metrics()

    return on_epoch
