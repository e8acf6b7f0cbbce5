"""Importable training loops returning result objects (no kedro, no mlflow)."""

from zsl_pipeline.training.tfvaegan import (
    TFVAEGANConfig,
    TFVAEGANResult,
    build_training_state,
    train_tfvaegan,
)
from zsl_pipeline.training.tfvaegan_checkpoint import (
    CHECKPOINT_FORMAT,
    check_resumable,
    load_checkpoint,
    make_checkpoint,
    save_checkpoint,
)
from zsl_pipeline.training.tfvaegan_data import FeatureTensors, prepare_features
from zsl_pipeline.training.tfvaegan_eval import (
    classifier_config,
    eval_generator,
    evaluate_tfvaegan,
    make_epoch_evaluator,
)
from zsl_pipeline.training.tfvaegan_steps import TFVAEGANOptimizers, build_optimizers, update_gp_weight

__all__ = [
    "CHECKPOINT_FORMAT",
    "FeatureTensors",
    "TFVAEGANConfig",
    "TFVAEGANOptimizers",
    "TFVAEGANResult",
    "build_optimizers",
    "build_training_state",
    "check_resumable",
    "classifier_config",
    "eval_generator",
    "evaluate_tfvaegan",
    "load_checkpoint",
    "make_checkpoint",
    "make_epoch_evaluator",
    "prepare_features",
    "save_checkpoint",
    "train_tfvaegan",
    "update_gp_weight",
]
