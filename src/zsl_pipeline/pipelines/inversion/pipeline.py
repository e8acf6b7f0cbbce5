"""The inversion stage (image datasets only): features back to 64 x 64 images."""

from kedro.pipeline import Node, Pipeline

from .nodes import compare, train_inverter


def create_pipeline(finetune_backbone: bool = False) -> Pipeline:
    """Uses the fine-tuned backbone for the perceptual loss when the features came from it."""
    backbone = ["finetuned_backbone_model"] if finetune_backbone else []
    return Pipeline(
        [
            Node(
                train_inverter,
                inputs=["zsl_dataset", "params:inversion", "params:extraction", "params:device", *backbone],
                outputs=["inversion_model", "inversion_history"],
                name="train_inversion",
            ),
            Node(
                compare,
                inputs=["inversion_model", "tfvaegan_model", "zsl_dataset", "params:inversion",
                        "params:extraction", "params:device", *backbone],
                outputs=["inversion_figure", "inversion_metrics"],
                name="invert_features",
            ),
        ]
    )
