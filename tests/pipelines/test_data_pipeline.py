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


def _snapshot(folder: Path) -> dict[str, tuple[int, bytes]]:
    """Every file under ``folder``: its modification time and content."""
    return {str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.read_bytes()) for p in folder.rglob("*") if p.is_file()}


def test_the_demo_never_writes_into_a_users_images(run_pipeline, project, tmp_path):
    """A user's manifest, attribute table and images (catalog and image_root pointed at them)
    are only read: the demo renders into its own folder, and image_source: manifest has no
    rendering node at all."""
    from zsl_pipeline.data.demo import DemoConfig, render_demo_dataset

    user = tmp_path / "my_images"
    rendering = render_demo_dataset(DemoConfig(num_classes=12, num_unseen=3, images_per_class=3, seed=7))
    for name, image in rendering.images.items():
        (user / name).parent.mkdir(parents=True, exist_ok=True)
        image.save(user / f"{name}.png")
    rendering.manifest.to_csv(user / "manifest.csv", index=False)
    rendering.attributes.to_csv(user / "attributes.csv", index=False)
    (project / "conf" / "local" / "catalog.yml").write_text(
        f"image_manifest:\n  type: zsl_pipeline.io.TableDataset\n  filepath: {user}/manifest.csv\n"
        f"  load_args:\n    keep_default_na: false\n"
        f"class_attributes:\n  type: zsl_pipeline.io.TableDataset\n  filepath: {user}/attributes.csv\n"
    )
    before = _snapshot(user)

    run_pipeline("data", params={**SMALL_DEMO, "image_root": str(user)})  # the demo (image_source: demo)
    assert _snapshot(user) == before
    demo_folder = tmp_path / "data" / "local" / "01_raw" / "demo"
    assert len(pd.read_csv(demo_folder / "manifest.csv")) == 12 * 6
    demo_before = _snapshot(demo_folder)

    run_pipeline("data", params={"image_source": "manifest", "image_root": str(user)})
    assert _snapshot(user) == before and _snapshot(demo_folder) == demo_before
    ds = ZeroShotDatasetIO(filepath=str(tmp_path / "data/local/02_intermediate/image_dataset.npz")).load()
    assert ds.num_samples == 12 * 3 and all(p.startswith(str(user)) for p in ds.image_paths)


def test_errors_about_the_tables_name_their_files(run_pipeline, project, tmp_path):
    from zsl_pipeline.data.contract import DatasetValidationError

    run_pipeline("data", params=SMALL_DEMO)
    attributes = tmp_path / "data" / "local" / "01_raw" / "demo" / "attributes.csv"
    table = pd.read_csv(attributes, dtype=str)
    table.iloc[0, 1] = "high"
    table.to_csv(attributes, index=False)
    try:
        run_pipeline("data", params=SMALL_DEMO, from_nodes=["read_image_dataset"])
    except DatasetValidationError as err:
        assert err.source == str(attributes)
    else:
        raise AssertionError("a non-numeric attribute was accepted")
