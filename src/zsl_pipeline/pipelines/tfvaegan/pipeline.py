"""The TF-VAEGAN stages: train → synthesize → classify → evaluate, plus the ESZSL baseline.

Every arrow is a versioned catalog dataset, so `--from-nodes=<stage>` reruns one stage from the
cached outputs of the one before and `--load-versions` pins an older one.
"""

from kedro.pipeline import Node, Pipeline

from .nodes import (
    eszsl_baseline,
    evaluate,
    synthesize_unseen_features,
    train_classifiers,
    train_generative_model,
)


def create_pipeline() -> Pipeline:
    shared = {"dataset": "zsl_dataset", "params": "params:tfvaegan", "device": "params:device"}
    return Pipeline(
        [
            Node(
                train_generative_model,
                inputs={**shared, "selection": "params:tfvaegan_selection", "checkpoint_dir": "params:checkpoint_dir"},
                outputs=["tfvaegan_model", "tfvaegan_train_history"],
                name="train_generative_model",
            ),
            Node(
                synthesize_unseen_features,
                inputs={**shared, "model": "tfvaegan_model"},
                outputs="synthetic_unseen_features",
                name="synthesize_unseen_features",
            ),
            Node(
                train_classifiers,
                inputs={**shared, "model": "tfvaegan_model", "synthetic": "synthetic_unseen_features"},
                outputs=["tfvaegan_classifiers_model", "classifier_results", "classifier_history"],
                name="train_classifiers",
            ),
            Node(eszsl_baseline, inputs="zsl_dataset", outputs="eszsl_baseline_metrics", name="eszsl_baseline"),
            Node(
                evaluate,
                inputs={
                    "classifier_results": "classifier_results",
                    "train_history": "tfvaegan_train_history",
                    "dataset": "zsl_dataset",
                    "eszsl": "eszsl_baseline_metrics",
                    "synthetic": "synthetic_unseen_features",
                },
                outputs=["tfvaegan_metrics", "per_class_accuracy", "tfvaegan_loss_curves", "tfvaegan_accuracy_curves",
                         "tfvaegan_generator_projection"],
                name="evaluate",
            ),
        ]
    )
