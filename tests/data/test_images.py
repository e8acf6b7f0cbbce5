"""Tests of the image dataset readers (generic manifest layout and CUB_200_2011)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.io as sio

from zsl_pipeline.data.contract import DatasetValidationError
from zsl_pipeline.data.demo import DemoConfig, render_demo_dataset
from zsl_pipeline.data.images import load_image, read_cub_200_2011, read_image_dataset

#: The shared xlsa17 files sit beside the repository: <repo>/../shared/xlsa17/CUB.
XLSA17_CUB = Path(__file__).resolve().parents[2] / ".." / "shared" / "xlsa17" / "CUB"
needs_xlsa17 = pytest.mark.skipif(
    not (XLSA17_CUB / "att_splits.mat").is_file() or not (XLSA17_CUB / "image_labels_files.npz").is_file(),
    reason=f"xlsa17 CUB files not found under {XLSA17_CUB}",
)


# ---- generic layout ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo():
    return render_demo_dataset(DemoConfig(num_classes=10, num_unseen=3, images_per_class=5, seed=1))


@pytest.fixture(scope="module")
def demo_on_disk(demo, tmp_path_factory):
    """The demo written like the catalog does: PNGs under images/, two CSVs."""
    root = tmp_path_factory.mktemp("demo")
    for key, image in demo.images.items():
        path = root / "images" / f"{key}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        image.save(path)
    demo.manifest.to_csv(root / "manifest.csv", index=False)
    demo.attributes.to_csv(root / "attributes.csv", index=False)
    return root


def _read_csvs(root: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    return pd.read_csv(root / "manifest.csv"), pd.read_csv(root / "attributes.csv")


def test_round_trip_through_files(demo, demo_on_disk):
    manifest, attributes = _read_csvs(demo_on_disk)
    ds = read_image_dataset(manifest, attributes, demo_on_disk / "images", name="demo")

    names = demo.attributes.class_name.tolist()
    assert ds.name == "demo" and ds.class_names == tuple(names) and ds.features is None
    assert ds.attribute_names == tuple(demo.attributes.columns[1:])
    expected_labels = [names.index(c) for c in demo.manifest.class_name]
    np.testing.assert_array_equal(ds.labels, expected_labels)
    for split in ("trainval", "test_seen", "test_unseen"):
        np.testing.assert_array_equal(ds.splits[split], np.flatnonzero(demo.manifest.split == split))
    for split in ("train", "val"):
        np.testing.assert_array_equal(ds.splits[split], np.flatnonzero(demo.manifest.train_val == split))
    unseen = sorted({names.index(c) for c in demo.manifest.class_name[demo.manifest.split == "test_unseen"]})
    assert ds.unseen_classes.tolist() == unseen and ds.seen_classes.size == 7
    assert not set(ds.seen_classes) & set(ds.unseen_classes)
    np.testing.assert_allclose(np.linalg.norm(ds.class_embeddings, axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(
        ds.class_embeddings[0], demo.attributes.iloc[0, 1:].to_numpy(float) / 2.0, rtol=1e-6
    )  # four ones -> norm 2
    # Paths point at the written files and decode to the rendered pixels.
    key = next(iter(demo.images))
    assert ds.image_paths[0] == str(demo_on_disk / "images" / f"{key}.png")
    assert load_image(ds.image_paths[0]).tobytes() == demo.images[key].tobytes()


def test_no_train_val_column_gives_no_train_val_splits(demo, tmp_path):
    ds = read_image_dataset(demo.manifest.drop(columns="train_val"), demo.attributes, tmp_path)
    assert set(ds.splits) == {"trainval", "test_seen", "test_unseen"}


def test_empty_train_val_column_gives_no_train_val_splits(demo, tmp_path):
    ds = read_image_dataset(demo.manifest.assign(train_val=""), demo.attributes, tmp_path)
    assert set(ds.splits) == {"trainval", "test_seen", "test_unseen"}


def _set(frame: pd.DataFrame, row: int, column: str, value) -> pd.DataFrame:
    out = frame.copy()
    out[column] = out[column].astype(object)
    out.loc[out.index[row], column] = value
    return out


def _bad_inputs(demo):
    m, a = demo.manifest, demo.attributes
    first_trainval = int(np.flatnonzero(m.split == "trainval")[0])
    first_unseen = int(np.flatnonzero(m.split == "test_unseen")[0])
    seen_class = m.class_name[first_trainval]
    return {
        "missing split column": (m.drop(columns="split"), a, "split"),
        "missing class_name in attributes": (m, a.drop(columns="class_name"), "class_name"),
        "unknown split value": (_set(m, 0, "split", "testing"), a, "testing"),
        "class absent from attributes": (_set(m, 0, "class_name", "purple_blob"), a, "purple_blob"),
        "duplicate class": (m, pd.concat([a, a.iloc[[0]]], ignore_index=True), a.class_name[0]),
        "non-numeric attribute": (m, _set(a, 2, "shape_star", "yes"), "shape_star"),
        "missing attribute value": (m, _set(a, 2, "colour_red", None), "colour_red"),
        "unknown train_val value": (_set(m, first_trainval, "train_val", "dev"), a, "dev"),
        "partial train_val": (_set(m, first_trainval, "train_val", ""), a, "train_val"),
        "train_val outside trainval": (_set(m, first_unseen, "train_val", "val"), a, "train_val"),
        "duplicate image path": (_set(m, 1, "image_path", m.image_path[0]), a, m.image_path[0]),
        "all-zero attributes": (m, a.assign(**{c: 0 for c in a.columns[1:] if a.loc[0, c] == 1}), a.class_name[0]),
        # contract violation found by validate(): a test_unseen image of a seen class
        "unseen image of a seen class": (_set(m, first_unseen, "class_name", seen_class), a, "test_unseen"),
    }


#: Cases where the attribute table is the file that is wrong (the error names it, not the manifest).
ATTRIBUTE_TABLE_CASES = {
    "missing class_name in attributes", "duplicate class", "non-numeric attribute", "missing attribute value",
    "all-zero attributes",
}


@pytest.mark.parametrize(
    "case",
    [
        "missing split column",
        "missing class_name in attributes",
        "unknown split value",
        "class absent from attributes",
        "duplicate class",
        "non-numeric attribute",
        "missing attribute value",
        "unknown train_val value",
        "partial train_val",
        "train_val outside trainval",
        "duplicate image path",
        "all-zero attributes",
        "unseen image of a seen class",
    ],
)
def test_bad_input_raises_naming_the_problem(demo, tmp_path, case):
    manifest, attributes, named = _bad_inputs(demo)[case]
    with pytest.raises(DatasetValidationError) as info:
        read_image_dataset(manifest, attributes, tmp_path, source="my_manifest.csv", attributes_source="my_att.csv")
    message = str(info.value)
    wrong_file = "my_att.csv" if case in ATTRIBUTE_TABLE_CASES else "my_manifest.csv"
    assert message.startswith(f"{wrong_file}: ")
    assert named in message


def test_missing_image_root_raises(demo, tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(DatasetValidationError, match="does not exist") as info:
        read_image_dataset(demo.manifest, demo.attributes, missing)
    assert str(missing) in str(info.value) and info.value.key == "image_root"


# ---- CUB_200_2011 on the xlsa17 splits -----------------------------------------------------


@pytest.fixture(scope="module")
def release():
    with np.load(XLSA17_CUB / "image_labels_files.npz", allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def _relpath(image_file: str) -> str:
    return image_file.split("images/", 1)[1]


@pytest.fixture(scope="module")
def fake_cub(release, tmp_path_factory):
    """A CUB_200_2011 folder (index files only) for the release's images, in another order."""
    root = tmp_path_factory.mktemp("cub") / "CUB_200_2011"
    (root / "attributes").mkdir(parents=True)
    rels = [_relpath(f) for f in release["image_files"]]
    class_folders = sorted({r.split("/")[0] for r in rels})  # 001.Black_footed_Albatross ...
    class_id = {name: int(name.split(".")[0]) for name in class_folders}
    order = np.random.default_rng(0).permutation(len(rels))  # CUB ids in a different order
    (root / "images.txt").write_text("".join(f"{k + 1} {rels[i]}\n" for k, i in enumerate(order)))
    (root / "image_class_labels.txt").write_text(
        "".join(f"{k + 1} {class_id[rels[i].split('/')[0]]}\n" for k, i in enumerate(order))
    )
    (root / "classes.txt").write_text("".join(f"{class_id[n]} {n}\n" for n in class_folders))
    att = np.random.default_rng(1).uniform(0.5, 100.0, size=(len(class_folders), 312))
    np.savetxt(root / "attributes" / "class_attribute_labels_continuous.txt", att, fmt="%.6f")
    return root, np.loadtxt(root / "attributes" / "class_attribute_labels_continuous.txt")


@needs_xlsa17
def test_cub_on_xlsa17_splits_matches_the_release(release, fake_cub):
    root, att = fake_cub
    ds = read_cub_200_2011(root, XLSA17_CUB)
    assert ds.name == "CUB" and ds.num_samples == 11788 and ds.num_classes == 200
    np.testing.assert_array_equal(ds.labels, release["labels"])
    for split, size in (("trainval", 7057), ("test_seen", 1764), ("test_unseen", 2967)):
        assert ds.splits[split].size == size
        np.testing.assert_array_equal(ds.splits[split], release[f"{split}_loc"])
    assert ds.seen_classes.size == 150 and ds.unseen_classes.size == 50
    # xlsa17 class order: the release's image 0 is an albatross with label 150.
    assert ds.class_names[150] == "001.Black_footed_Albatross" and ds.class_names[0] == "002.Laysan_Albatross"
    assert ds.image_paths[0] == str(root / "images" / _relpath(release["image_files"][0]))
    # embedding of class 150 = CUB class 1's attributes (row 0), L2-normalised
    np.testing.assert_allclose(ds.class_embeddings[150], att[0] / np.linalg.norm(att[0]), rtol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(ds.class_embeddings, axis=1), 1.0, rtol=1e-5)


@needs_xlsa17
def test_cub_reads_image_files_from_res101_mat(release, fake_cub, tmp_path):
    root, _ = fake_cub
    folder = tmp_path / "xlsa17_cub"
    folder.mkdir()
    shutil.copy(XLSA17_CUB / "att_splits.mat", folder / "att_splits.mat")
    files = np.empty((len(release["image_files"]), 1), dtype=object)
    for i, f in enumerate(release["image_files"]):
        files[i, 0] = "/BS/xian/work/data/CUB_200_2011/" + str(f)  # absolute, as in the release
    sio.savemat(folder / "res101.mat", {"image_files": files, "labels": (release["labels"] + 1).reshape(-1, 1)})
    ds = read_cub_200_2011(root, folder)
    np.testing.assert_array_equal(ds.labels, release["labels"])
    np.testing.assert_array_equal(ds.splits["test_unseen"], release["test_unseen_loc"])


@needs_xlsa17
def test_cub_image_missing_from_cub_raises(fake_cub, tmp_path):
    root, _ = fake_cub
    broken = tmp_path / "CUB_200_2011"
    shutil.copytree(root, broken)
    lines = (broken / "images.txt").read_text().splitlines()
    dropped = lines[5].split(maxsplit=1)[1]
    (broken / "images.txt").write_text("\n".join(lines[:5] + lines[6:]) + "\n")
    with pytest.raises(DatasetValidationError, match="not in") as info:
        read_cub_200_2011(broken, XLSA17_CUB)
    assert dropped in str(info.value) and info.value.key == "image_files"


def test_cub_without_xlsa17_folder_raises(tmp_path):
    with pytest.raises(DatasetValidationError, match="xlsa17") as info:
        read_cub_200_2011(tmp_path)
    assert info.value.key == "xlsa17_folder"


def test_cub_missing_root_raises(tmp_path):
    with pytest.raises(DatasetValidationError, match="does not exist"):
        read_cub_200_2011(tmp_path / "nowhere", tmp_path)
