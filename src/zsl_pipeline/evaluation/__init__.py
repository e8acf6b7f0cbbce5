"""Synthesis, feature transform, final-classifier protocols, metrics, retrieval, the ESZSL
baseline and the cross-method comparison report."""

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
from zsl_pipeline.evaluation.compare import aggregate_runs, markdown_table, plot_seen_unseen
from zsl_pipeline.evaluation.protocols import (
    ClassifierConfig,
    ClassifierSets,
    ProtocolMetrics,
    ProtocolResult,
    fit_protocols,
    reference_best_over_epochs,
    train_classifier_protocols,
)
from zsl_pipeline.evaluation.retrieval import class_queries, retrieval_metrics, zero_shot_retrieval
from zsl_pipeline.evaluation.synthesis import TRANSFORM_MODES, synthesize, transform_features

__all__ = [
    "DEFAULT_GAMMA",
    "DEFAULT_LAMBDA",
    "ESZSL_GRID",
    "ESZSLResult",
    "ClassifierConfig",
    "ClassifierSets",
    "ProtocolMetrics",
    "ProtocolResult",
    "TRANSFORM_MODES",
    "aggregate_runs",
    "class_queries",
    "fit_eszsl",
    "fit_protocols",
    "gzsl_metrics",
    "harmonic_mean",
    "markdown_table",
    "mean_per_class_accuracy",
    "per_class_accuracy",
    "plot_seen_unseen",
    "predict_eszsl",
    "reference_best_over_epochs",
    "retrieval_metrics",
    "run_eszsl",
    "select_eszsl",
    "synthesize",
    "train_classifier_protocols",
    "transform_features",
    "zero_shot_retrieval",
]
