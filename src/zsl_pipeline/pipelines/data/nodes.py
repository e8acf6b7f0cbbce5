"""Nodes of the data stage: render the demo dataset, read an image dataset into the contract."""

from __future__ import annotations

from typing import Any

import pandas as pd
from PIL import Image

from zsl_pipeline.data.contract import ZeroShotDataset
from zsl_pipeline.data.demo import DemoConfig, render_demo_dataset
from zsl_pipeline.data.images import read_image_dataset


def render_demo(params: dict[str, Any]) -> tuple[dict[str, Image.Image], pd.DataFrame, pd.DataFrame]:
    """Render the built-in demo dataset; the catalog writes PNGs and the two CSVs."""
    rendering = render_demo_dataset(DemoConfig(**params))
    return rendering.images, rendering.manifest, rendering.attributes


def read_images(
    manifest: pd.DataFrame, attributes: pd.DataFrame, image_root: str, dataset_name: str
) -> ZeroShotDataset:
    """Read an image dataset (manifest + class attributes) into the data contract."""
    return read_image_dataset(
        manifest=manifest, attributes=attributes, image_root=image_root, name=dataset_name, source="image_manifest"
    )
