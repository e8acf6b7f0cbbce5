"""The data stage: demo rendering and image-dataset reading."""

from kedro.pipeline import Node, Pipeline

from .nodes import read_image_dataset, render_demo_dataset


def create_demo_pipeline() -> Pipeline:
    """Render the built-in demo dataset into data/01_raw (skipped for a user's own images)."""
    return Pipeline(
        [
            Node(
                render_demo_dataset,
                inputs="params:demo",
                outputs=["demo_images", "image_manifest", "class_attributes"],
                name="render_demo_dataset",
            )
        ]
    )


def create_pipeline() -> Pipeline:
    """Demo rendering followed by reading the image dataset into the contract."""
    return create_demo_pipeline() + Pipeline(
        [
            Node(
                read_image_dataset,
                inputs={
                    "manifest": "image_manifest",
                    "attributes": "class_attributes",
                    "image_root": "params:image_root",
                    "dataset_name": "params:dataset_name",
                },
                outputs="image_dataset",
                name="read_image_dataset",
            )
        ]
    )
