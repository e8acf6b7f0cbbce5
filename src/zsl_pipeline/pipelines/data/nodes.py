"""Nodes of the data stage: render the demo dataset, read an image dataset into the contract
(from a manifest or from a benchmark's image release), each image checked before any work."""

from __future__ import annotations

import logging

import pandas as pd
from PIL import Image

from zsl_pipeline.data import demo, images, releases
from zsl_pipeline.data.contract import ZeroShotDataset, listed
from zsl_pipeline.pipelines.params import DemoParams, ImageCheckParams

log = logging.getLogger(__name__)


def render_demo_dataset(params: DemoParams) -> tuple[dict[str, Image.Image], pd.DataFrame, pd.DataFrame]:
    """Render the built-in demo dataset; the catalog writes PNGs and the two CSVs."""
    rendering = demo.render_demo_dataset(params.config())
    return rendering.images, rendering.manifest, rendering.attributes


def _checked(ds: ZeroShotDataset, check: ImageCheckParams, source: str) -> tuple[ZeroShotDataset, list[dict]]:
    """``ds`` after the up-front image check, and the skipped images (empty unless asked to skip)."""
    assert ds.image_paths is not None
    skipped = images.check_image_files(
        ds.image_paths, source, skip_unreadable=check.skip_unreadable, threads=check.threads
    )
    if skipped:
        log.warning(
            "%d of %d images are missing or unreadable and were left out (images.skip_unreadable; the list is "
            "in skipped_images):%s", len(skipped), ds.num_samples, listed(f"{s['path']}: {s['problem']}" for s in skipped),
        )
        ds = images.without_samples(ds, [s["index"] for s in skipped], source)
    return ds, skipped


def read_image_dataset(
    *,
    manifest: pd.DataFrame,
    attributes: pd.DataFrame,
    image_root: str,
    dataset_name: str,
    check: ImageCheckParams,
) -> tuple[ZeroShotDataset, list[dict]]:
    """Read an image dataset (manifest + class attributes) into the data contract; check its images."""
    source = manifest.attrs.get("source", "image_manifest")
    ds = images.read_image_dataset(
        manifest=manifest,
        attributes=attributes,
        image_root=image_root,
        name=dataset_name,
        source=source,
        attributes_source=attributes.attrs.get("source", "class_attributes"),
    )
    return _checked(ds, check, source)


def read_release_images(
    *, image_root: str, xlsa17_folder: str, dataset_name: str, check: ImageCheckParams
) -> tuple[ZeroShotDataset, list[dict]]:
    """Join a benchmark's image release to its xlsa17 rows (``data.releases``); check its images."""
    ds = releases.read_release_images(dataset_name, image_root, xlsa17_folder)
    return _checked(ds, check, f"the {dataset_name} image release at {image_root}")
