"""The inversion stage (image datasets only): features back to 64 x 64 images."""

from kedro.pipeline import Node, Pipeline

from .nodes import invert_features, train_inversion


def create_pipeline(finetune: bool = False) -> Pipeline:
    """Uses the fine-tuned backbone for the perceptual loss when the features came from it."""
    shared = {"dataset": "zsl_dataset", "params": "params:inversion", "extraction": "params:extraction",
              "device": "params:device"}
    if finetune:
        shared["finetuned"] = "finetuned_backbone_model"
    return Pipeline(
        [
            Node(
                train_inversion,
                inputs={**shared, "checkpoint_dir": "params:checkpoint_dir"},
                outputs=["inversion_model", "inversion_history"],
                name="train_inversion",
            ),
            Node(
                invert_features,
                inputs={"inversion": "inversion_model", "tfvaegan": "tfvaegan_model", **shared},
                outputs=["inversion_figure", "inversion_metrics"],
                name="invert_features",
            ),
        ]
    )
