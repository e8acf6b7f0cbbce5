"""The image stages: (seen-class fine-tuning →) ResNet-101 feature extraction."""

from kedro.pipeline import Node, Pipeline

from .nodes import extract_features, finetune_backbone


def create_pipeline(finetune: bool = False) -> Pipeline:
    """Extraction from ``image_dataset`` to ``zsl_dataset`` (and its xlsa17 export
    ``zsl_dataset_xlsa17``); fine-tuning first when asked."""
    inputs = {
        "dataset": "image_dataset",
        "params": "params:extraction",
        "device": "params:device",
        "checkpoint_dir": "params:checkpoint_dir",
    }
    nodes = []
    if finetune:
        nodes.append(
            Node(
                finetune_backbone,
                inputs={
                    "dataset": "image_dataset",
                    "params": "params:finetune",
                    "extraction": "params:extraction",
                    "device": "params:device",
                    "checkpoint_dir": "params:checkpoint_dir",
                },
                outputs=["finetuned_backbone_model", "finetune_history"],
                name="finetune_backbone",
            )
        )
        inputs["finetuned"] = "finetuned_backbone_model"
    nodes.append(Node(
            extract_features, inputs=inputs, outputs=["zsl_dataset", "zsl_dataset_xlsa17"], name="extract_features"
        ))
    return Pipeline(nodes)
