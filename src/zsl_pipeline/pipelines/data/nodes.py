"""Nodes of the data stage: render the demo dataset, read an image dataset into the contract."""

from __future__ import annotations

import pandas as pd
from PIL import Image

from zsl_pipeline.data import demo, images
from zsl_pipeline.data.contract import ZeroShotDataset
from zsl_pipeline.pipelines.params import DemoParams


def render_demo_dataset(params: DemoParams) -> tuple[dict[str, Image.Image], pd.DataFrame, pd.DataFrame]:
    """Render the built-in demo dataset; the catalog writes PNGs and the two CSVs."""
    rendering = demo.render_demo_dataset(params.config())
    return rendering.images, rendering.manifest, rendering.attributes


def read_image_dataset(
    *, manifest: pd.DataFrame, attributes: pd.DataFrame, image_root: str, dataset_name: str
) -> ZeroShotDataset:
    """Read an image dataset (manifest + class attributes) into the data contract."""
    return images.read_image_dataset(
        manifest=manifest, attributes=attributes, image_root=image_root, name=dataset_name, source="image_manifest"
    )
