"""The data stage as Kedro runs it: demo files on disk, then the contract from them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from zsl_pipeline.io import ZeroShotDatasetIO

SMALL_DEMO = {"demo": {"num_classes": 12, "num_unseen": 3, "images_per_class": 6}}


def test_data_pipeline_renders_files_and_reads_them(run_pipeline, tmp_path):
    run_pipeline("data", params=SMALL_DEMO)
    raw = tmp_path / "data" / "local" / "01_raw" / "demo"
    manifest = pd.read_csv(raw / "manifest.csv", keep_default_na=False)
    assert len(manifest) == 12 * 6
    pngs = sorted((raw / "images").rglob("*.png"))
    assert len(pngs) == 12 * 6
    with Image.open(pngs[0]) as img:
        assert img.size == (64, 64)
    ds = ZeroShotDatasetIO(filepath=str(tmp_path / "data/local/02_intermediate/image_dataset.npz")).load()
    assert ds.num_classes == 12 and ds.unseen_classes.size == 3 and ds.seen_classes.size == 9
    assert ds.features is None and len(ds.image_paths) == 12 * 6
    assert all(Path(p).is_file() for p in ds.image_paths)
    np.testing.assert_allclose(np.linalg.norm(ds.class_embeddings, axis=1), 1.0, rtol=1e-6)


def test_features_only_env_reads_xlsa17_from_runtime_root(run_pipeline, tmp_path):
    """`--env cub --params xlsa17_root=...` resolves the catalog entry to the user's folder."""
    from kedro.framework.session import KedroSession

    from toy_data import make_toy_dataset
    from zsl_pipeline.data import write_xlsa17

    write_xlsa17(make_toy_dataset(), tmp_path / "elsewhere" / "CUB")
    with KedroSession.create(
        project_path=tmp_path, env="cub", runtime_params={"xlsa17_root": str(tmp_path / "elsewhere")}
    ) as session:
        ds = session.load_context().catalog.load("zsl_dataset")
    assert ds.name == "CUB" and ds.num_samples == 90 and ds.unseen_classes.size == 3
