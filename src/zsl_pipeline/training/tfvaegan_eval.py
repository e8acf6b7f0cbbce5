"""Per-epoch evaluation of a TF-VAEGAN run: synthesis (§2.7) + final-classifier protocols (§2.8)."""

from __future__ import annotations

from typing import Callable

import torch

from zsl_pipeline.evaluation.protocols import ClassifierConfig, ProtocolResult, train_classifier_protocols
from zsl_pipeline.evaluation.synthesis import synthesize
from zsl_pipeline.models.tfvaegan import TFVAEGANModels
from zsl_pipeline.training.tfvaegan_config import TFVAEGANConfig
from zsl_pipeline.training.tfvaegan_data import FeatureTensors

#: Offset between the run seed and the per-epoch evaluation seeds (seed + offset + epoch), so
#: evaluation never draws from the training stream and an epoch's evaluation is reproducible alone.
EVAL_SEED_OFFSET = 1_000_003


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
        config.syn_num,
        config.a2,
        config.use_feedback,
        generator,
        device=data.device,
    )


def classify(
    models: TFVAEGANModels,
    data: FeatureTensors,
    config: TFVAEGANConfig,
    syn_x: torch.Tensor,
    syn_y: torch.Tensor,
    generator: torch.Generator,
    progress: Callable[[int, int], None] | None = None,
) -> ProtocolResult:
    """The ZSL and GZSL classifiers of §2.8 on the (transformed) features, both protocols."""
    return train_classifier_protocols(
        data,
        syn_x,
        syn_y,
        models.decoder if config.use_decoder else None,
        classifier_config(config),
        data.device,
        generator,
        progress=progress,
    )


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
    return classify(models, data, config, syn_x, syn_y, generator, progress=progress)


def eval_generator(config: TFVAEGANConfig, epoch: int, device: torch.device) -> torch.Generator:
    """The evaluation RNG of GAN epoch ``epoch`` (independent of the training stream)."""
    gen = torch.Generator(device=device)
    gen.manual_seed(config.seed + EVAL_SEED_OFFSET + epoch)
    return gen


def make_epoch_evaluator(
    data: FeatureTensors,
    config: TFVAEGANConfig,
    device: torch.device,
    on_result: Callable[[int, ProtocolResult], None] | None = None,
) -> Callable[[int, dict[str, float], TFVAEGANModels], dict[str, float]]:
    """An ``on_epoch`` callback for :func:`train_tfvaegan` returning the flat metrics.

    ``on_result(epoch, result)`` receives the full :class:`ProtocolResult` (e.g. to keep the
    per-class table of the last epoch, or to log to a tracker).
    """

    def on_epoch(epoch: int, stats: dict[str, float], models: TFVAEGANModels) -> dict[str, float]:
        result = evaluate_tfvaegan(models, data, config, eval_generator(config, epoch, device))
        if on_result is not None:
            on_result(epoch, result)
        return result.flat_metrics()

    return on_epoch
