"""Synthesis, feature transform, final-classifier protocols, metrics and the ESZSL baseline."""

from zsl_pipeline.evaluation.eszsl import (
    DEFAULT_GAMMA,
    DEFAULT_LAMBDA,
    ESZSL_GRID,
    ESZSLResult,
    fit_eszsl,
    predict_eszsl,
    run_eszsl,
    select_eszsl,
)
from zsl_pipeline.evaluation.metrics import (
    gzsl_metrics,
    harmonic_mean,
    mean_per_class_accuracy,
    per_class_accuracy,
)
from zsl_pipeline.evaluation.protocols import (
    ClassifierConfig,
    ProtocolMetrics,
    ProtocolResult,
    reference_best_over_epochs,
    train_classifier_protocols,
)
from zsl_pipeline.evaluation.synthesis import TRANSFORM_MODES, synthesize, transform_features

__all__ = [
    "DEFAULT_GAMMA",
    "DEFAULT_LAMBDA",
    "ESZSL_GRID",
    "ESZSLResult",
    "ClassifierConfig",
    "ProtocolMetrics",
    "ProtocolResult",
    "TRANSFORM_MODES",
    "fit_eszsl",
    "gzsl_metrics",
    "harmonic_mean",
    "mean_per_class_accuracy",
    "per_class_accuracy",
    "predict_eszsl",
    "reference_best_over_epochs",
    "run_eszsl",
    "select_eszsl",
    "synthesize",
    "train_classifier_protocols",
    "transform_features",
]
