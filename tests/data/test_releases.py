"""Benchmark image releases joined to their xlsa17 rows (data.releases), the up-front image
check and the manifest's errors (data.images)."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
import scipy.io as sio

from releases import build_release
from zsl_pipeline.data.contract import MAX_LISTED, DatasetValidationError
from zsl_pipeline.data.images import check_image_files, read_image_dataset, without_samples
from zsl_pipeline.data.releases import RELEASES, read_release_images

REAL_SIZES = {"CUB": 11788, "SUN": 14340, "AWA2": 37322}


@pytest.fixture
def mini(request, tmp_path, shared_xlsa17):
    return build_release(tmp_path, request.param, shared_xlsa17)


def _assert_exact_join(ds, mini):
    np.testing.assert_array_equal(ds.labels, mini.labels)
    assert set(ds.splits) == set(mini.splits)
    for split, idx in mini.splits.items():
        np.testing.assert_array_equal(ds.splits[split], idx)
    assert ds.image_paths == tuple(str(mini.image_path(i)) for i in range(len(mini.image_files)))
    assert all(mini.image_path(i).is_file() for i in range(len(mini.image_files)))
    np.testing.assert_allclose(ds.class_embeddings, mini.att, rtol=1e-6)
    if mini.class_names is not None:
        assert ds.class_names == mini.class_names


@pytest.mark.parametrize("mini", ["CUB", "SUN", "AWA2"], indirect=True)
def test_real_lists_join_in_the_xlsa17_order(mini):
    """Rows, labels, splits and class order are the split file's; each row's image is its file."""
    ds = read_release_images(mini.dataset, mini.image_root, mini.xlsa17_folder)
    assert 200 <= ds.num_samples <= 400  # a few hundred of the real paths
    _assert_exact_join(ds, mini)


def test_flo_joins_by_file_name(tmp_path):
    mini = build_release(tmp_path, "FLO")
    ds = read_release_images("FLO", mini.image_root, mini.xlsa17_folder)
    _assert_exact_join(ds, mini)
    assert all(p.startswith(str(mini.image_root / "jpg" / "image_")) for p in ds.image_paths)
    assert ds.class_names[0] == "class_000"  # FLO's split file names no classes


def test_image_root_may_be_the_image_folder_itself(tmp_path):
    mini = build_release(tmp_path, "FLO")
    ds = read_release_images("FLO", mini.image_root / "jpg", mini.xlsa17_folder)
    assert ds.image_paths[0] == str(mini.image_path(0))


@pytest.mark.parametrize("dataset", sorted(REAL_SIZES))
def test_every_real_path_maps_onto_the_release_and_its_class(dataset, tmp_path, shared_xlsa17):
    """All of a real list (no image opened): every path has the release's image folder and the
    class folder of every image is its label's class."""
    folder = tmp_path / "xlsa17" / dataset
    folder.mkdir(parents=True)
    for name in ("att_splits.mat", "image_labels_files.npz"):
        shutil.copy(shared_xlsa17 / dataset / name, folder / name)
    root = tmp_path / "release"
    (root / RELEASES[dataset].folder).mkdir(parents=True)
    ds = read_release_images(dataset, root, folder)
    with np.load(folder / "image_labels_files.npz") as npz:
        np.testing.assert_array_equal(ds.labels, npz["labels"])
        for split in ("trainval", "test_seen", "test_unseen"):
            np.testing.assert_array_equal(np.sort(ds.splits[split]), np.sort(npz[f"{split}_loc"]))
    assert ds.num_samples == REAL_SIZES[dataset]
    assert ds.image_paths[0].startswith(str(root / RELEASES[dataset].folder) + "/")


def test_a_wrong_image_root_names_the_folder_and_the_download(tmp_path):
    mini = build_release(tmp_path, "FLO")
    with pytest.raises(DatasetValidationError, match="102flowers.tgz") as info:
        read_release_images("FLO", tmp_path / "elsewhere", mini.xlsa17_folder)
    assert info.value.key == "image_root"
    with pytest.raises(DatasetValidationError, match="no image release known"):
        read_release_images("APY", mini.image_root, mini.xlsa17_folder)


def _rewrite_list(mini, files=None, labels=None):
    path = mini.xlsa17_folder / "res101.mat"
    mat = sio.loadmat(str(path))
    if files is not None:
        cells = np.empty((len(files), 1), dtype=object)
        cells[:, 0] = files
        mat["image_files"] = cells
    if labels is not None:
        mat["labels"] = (np.asarray(labels) + 1).reshape(-1, 1).astype(np.float64)
    sio.savemat(str(path), {k: v for k, v in mat.items() if not k.startswith("__")})
    return str(path)


def test_labels_outside_the_split_file_list_the_files(tmp_path):
    mini = build_release(tmp_path, "FLO")
    labels = mini.labels.copy()
    labels[[3, 7]] = mini.att.shape[0] + 4
    source = _rewrite_list(mini, labels=labels)
    with pytest.raises(DatasetValidationError, match="2 images of a class outside") as info:
        read_release_images("FLO", mini.image_root, mini.xlsa17_folder)
    assert info.value.source == source and mini.image_files[3] in str(info.value)


def test_flo_ignores_the_listed_folders(tmp_path):
    mini = build_release(tmp_path, "FLO")
    files = list(mini.image_files)
    files[5] = "/somewhere/else/image_00005.jpg"
    _rewrite_list(mini, files=files)
    ds = read_release_images("FLO", mini.image_root, mini.xlsa17_folder)  # by file name: still joins
    assert ds.image_paths[5] == str(mini.image_root / "jpg" / "image_00005.jpg")


@pytest.mark.parametrize("mini", ["AWA2"], indirect=True)
def test_listed_paths_outside_the_folder_and_wrong_class_folders_are_errors(mini):
    files = list(mini.image_files)
    files[2] = files[2].replace("JPEGImages", "Pictures")
    _rewrite_list(mini, files=files)
    with pytest.raises(DatasetValidationError, match="1 paths without a 'JPEGImages/' folder") as info:
        read_release_images("AWA2", mini.image_root, mini.xlsa17_folder)
    assert files[2] in str(info.value)

    labels = mini.labels.copy()
    other = next(c for c in np.unique(labels) if c != labels[0])
    labels[0] = other
    _rewrite_list(mini, files=mini.image_files, labels=labels)
    with pytest.raises(DatasetValidationError, match="1 images whose class folder is not their label's class") as info:
        read_release_images("AWA2", mini.image_root, mini.xlsa17_folder)
    assert mini.image_files[0] in str(info.value) and repr(mini.class_names[other]) in str(info.value)


# ---- the up-front image check --------------------------------------------------------------


def test_missing_and_corrupt_images_are_listed(tmp_path):
    mini = build_release(tmp_path, "FLO")
    ds = read_release_images("FLO", mini.image_root, mini.xlsa17_folder)
    assert check_image_files(ds.image_paths, "src", progress=False) == []
    missing, corrupt = ds.image_paths[4], ds.image_paths[9]
    (mini.image_root / "jpg" / missing.rsplit("/", 1)[1]).unlink()
    with open(corrupt, "w") as fh:
        fh.write("not an image")
    with pytest.raises(DatasetValidationError, match=f"2 of {ds.num_samples} images are missing or unreadable") as info:
        check_image_files(ds.image_paths, "the release", progress=False)
    message = str(info.value)
    assert f"{missing}: missing" in message and f"{corrupt}: unreadable (UnidentifiedImageError" in message
    assert info.value.source == "the release"

    skipped = check_image_files(ds.image_paths, "src", skip_unreadable=True, progress=False)
    assert [(s["index"], s["path"]) for s in skipped] == [(4, missing), (9, corrupt)]


def test_the_list_of_problems_is_capped(tmp_path):
    paths = [str(tmp_path / f"absent_{i}.png") for i in range(MAX_LISTED + 5)]
    with pytest.raises(DatasetValidationError) as info:
        check_image_files(paths, "src", progress=False)
    assert str(paths[MAX_LISTED - 1]) in str(info.value) and str(paths[MAX_LISTED]) not in str(info.value)
    assert "... and 5 more" in str(info.value)


def test_without_samples_reindexes_every_split(tmp_path):
    mini = build_release(tmp_path, "FLO")
    ds = read_release_images("FLO", mini.image_root, mini.xlsa17_folder)
    drop = [0, 5, ds.splits["test_unseen"][0]]
    kept = without_samples(ds, drop, "src")
    assert kept.num_samples == ds.num_samples - 3
    for split, idx in ds.splits.items():
        remaining = [ds.image_paths[i] for i in idx if i not in drop]
        assert [kept.image_paths[i] for i in kept.splits[split]] == remaining
        np.testing.assert_array_equal(kept.labels[kept.splits[split]], [ds.labels[i] for i in idx if i not in drop])


# ---- manifest errors name the file that is wrong -----------------------------------------


def test_manifest_rows_of_unknown_classes_list_their_files(tmp_path):
    manifest = pd.DataFrame({"image_path": ["a.png", "b.png", "c.png"], "class_name": ["x", "zebra", "y"],
                             "split": ["trainval", "test_unseen", "test_seen"]})  # fmt: skip
    attributes = pd.DataFrame({"class_name": ["x", "y"], "a1": [1.0, 0.5]})
    with pytest.raises(DatasetValidationError, match="1 images of classes outside the attributes table att.csv") as info:
        read_image_dataset(manifest, attributes, tmp_path, source="man.csv", attributes_source="att.csv")
    assert "b.png (class 'zebra')" in str(info.value) and info.value.source == "man.csv"

    attributes["a1"] = ["1.0", "high"]
    with pytest.raises(DatasetValidationError, match="non-numeric") as info:
        read_image_dataset(manifest.iloc[[0, 2]], attributes, tmp_path, source="man.csv", attributes_source="att.csv")
    assert info.value.source == "att.csv"


def test_images_of_a_class_outside_their_split_are_listed(tmp_path):
    """A test_unseen image of a seen class (a label moved in the list): the file is named."""
    mini = build_release(tmp_path, "FLO")
    labels = mini.labels.copy()
    row = int(mini.splits["test_unseen"][2])
    labels[row] = mini.labels[mini.splits["trainval"][0]]
    _rewrite_list(mini, labels=labels)
    with pytest.raises(DatasetValidationError, match="1 test_unseen images of a seen") as info:
        read_release_images("FLO", mini.image_root, mini.xlsa17_folder)
    assert str(mini.image_path(row)) in str(info.value)
