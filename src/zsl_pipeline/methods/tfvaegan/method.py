"""TF-VAEGAN as a :class:`~zsl_pipeline.methods.base.Method`, for the comparison pipelines.

The ``tfvaegan`` pipeline itself keeps its own stages (per-epoch evaluation, validation-based
schedule, synthesis as a cached catalog output); this adapter trains the same model with the
same loop and builds the same classifier sets, without per-epoch evaluation.
"""

from __future__ import annotations

from typing import Any, Mapping

import torch

from zsl_pipeline.evaluation.protocols import ClassifierConfig
from zsl_pipeline.evaluation.synthesis import ClassifierSets
from zsl_pipeline.methods.base import Method, Progress
from zsl_pipeline.methods.tfvaegan.checkpoint import check_resumable
from zsl_pipeline.methods.tfvaegan.config import TFVAEGANConfig
from zsl_pipeline.methods.tfvaegan.evaluate import classifier_config, synthesize_unseen, transformed_sets
from zsl_pipeline.methods.tfvaegan.loop import train_tfvaegan
from zsl_pipeline.methods.tfvaegan.stages import load_models
from zsl_pipeline.training.epoch_resume import current_epoch_checkpoint
from zsl_pipeline.training.features import FeatureTensors
from zsl_pipeline.training.resume import load_resume


def config_from_params(params: Mapping[str, Any]) -> TFVAEGANConfig:
    return TFVAEGANConfig(**params)


def train(data: FeatureTensors, config: TFVAEGANConfig, device: torch.device, progress: Progress | None = None) -> dict[str, Any]:
    """The §2.5 loop (``train_tfvaegan``) with no per-epoch evaluation; the checkpoint keeps the
    networks, not the optimiser states. Inside the runner's per-seed epoch checkpoint
    (``training.epoch_resume``) it resumes from that file and saves it every ``checkpoint_every``
    epochs (not after the last: the runner keeps the finished seed)."""
    resume_file = current_epoch_checkpoint()
    resume, on_checkpoint = None, None
    if resume_file is not None:
        resume = load_resume(resume_file.path, resume_file.code, what="epoch checkpoint")
        if resume is not None:
            check_resumable(resume, config, device, where=f"epoch checkpoint {resume_file.path}")

        def on_checkpoint(state: Mapping[str, Any]) -> None:
            if state["epochs_completed"] < config.nepoch:
                resume_file.save(state)

    result = train_tfvaegan(data, config, device, progress=progress, resume_from=resume, on_checkpoint=on_checkpoint)
    return {k: v for k, v in result.checkpoint().items() if k not in ("optimizers", "rng")}


def classifier_sets(
    checkpoint: Mapping[str, Any], data: FeatureTensors, device: torch.device, generator: torch.Generator
) -> ClassifierSets:
    """``syn_num`` features per unseen class with feedback (§2.7), every set mapped to x ⊕ Dec(x) ⊕ h."""
    models, config = load_models(checkpoint, device)
    syn_x, syn_y = synthesize_unseen(models, data, config, generator)
    decoder = models.decoder if config.use_decoder else None
    return transformed_sets(data, syn_x, syn_y, decoder, config.effective_classifier_input)


def classifier_configs(config: TFVAEGANConfig) -> tuple[ClassifierConfig, ClassifierConfig]:
    cfg = classifier_config(config)
    return cfg, cfg


METHOD = Method(
    name="tfvaegan",
    config_from_params=config_from_params,
    train=train,
    classifier_sets=classifier_sets,
    classifier_configs=classifier_configs,
    l2_normalise_embeddings=True,
)
