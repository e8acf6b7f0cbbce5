"""The image stages: (seen-class fine-tuning →) ResNet-101 feature extraction."""

from kedro.pipeline import Node, Pipeline

from .nodes import extract, extract_finetuned, finetune


def create_pipeline(finetune_backbone: bool = False) -> Pipeline:
    """Extraction from ``image_dataset`` to ``zsl_dataset``; fine-tuning first when asked."""
    if not finetune_backbone:
        return Pipeline(
            [
                Node(
                    extract,
                    inputs=["image_dataset", "params:extraction", "params:device"],
                    outputs="zsl_dataset",
                    name="extract_features",
                )
            ]
        )
    return Pipeline(
        [
            Node(
                finetune,
                inputs=["image_dataset", "params:finetune", "params:extraction", "params:device"],
                outputs=["finetuned_backbone_model", "finetune_history"],
                name="finetune_backbone",
            ),
            Node(
                extract_finetuned,
                inputs=["image_dataset", "finetuned_backbone_model", "params:extraction", "params:device"],
                outputs="zsl_dataset",
                name="extract_features",
            ),
        ]
    )
