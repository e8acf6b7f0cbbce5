"""What every method's evaluation shares: metrics, synthesis and classifier sets, the final-
classifier protocols, retrieval, the TF-VAEGAN report figures and the cross-method comparison."""

from zsl_pipeline.evaluation.compare import aggregate_runs, markdown_table, plot_seen_unseen
from zsl_pipeline.evaluation.metrics import (
    gzsl_metrics,
    harmonic_mean,
    mean_per_class_accuracy,
    per_class_accuracy,
    report_names,
)
from zsl_pipeline.evaluation.protocols import (
    ClassifierConfig,
    ProtocolMetrics,
    ProtocolResult,
    fit_protocols,
    reference_best_over_epochs,
)
from zsl_pipeline.evaluation.retrieval import class_queries, retrieval_metrics, zero_shot_retrieval
from zsl_pipeline.evaluation.synthesis import ClassifierSets, feature_sets, synthesize_classes

__all__ = [
    "ClassifierConfig",
    "ClassifierSets",
    "ProtocolMetrics",
    "ProtocolResult",
    "aggregate_runs",
    "class_queries",
    "feature_sets",
    "fit_protocols",
    "gzsl_metrics",
    "harmonic_mean",
    "markdown_table",
    "mean_per_class_accuracy",
    "per_class_accuracy",
    "plot_seen_unseen",
    "reference_best_over_epochs",
    "report_names",
    "retrieval_metrics",
    "synthesize_classes",
    "zero_shot_retrieval",
]
