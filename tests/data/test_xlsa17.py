"""The xlsa17 reader and writer: real split files, generated res101.mat, every bad input."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.io as sio

from toy_data import make_toy_dataset
from zsl_pipeline.data import DatasetValidationError, read_xlsa17, write_xlsa17

# The table of ../shared/xlsa17/README.md: classes, seen, unseen, A, trainval, test seen,
# test unseen, images.
XLSA17_TABLE = {
    "CUB": (200, 150, 50, 312, 7057, 1764, 2967, 11788),
    "SUN": (717, 645, 72, 102, 10320, 2580, 1440, 14340),
    "AWA2": (50, 40, 10, 85, 23527, 5882, 7913, 37322),
    "AWA1": (50, 40, 10, 85, 19832, 4958, 5685, 30475),
    "FLO": (102, 82, 20, 1024, 5631, 1403, 1155, 8189),
    "APY": (32, 20, 12, 64, 5932, 1483, 7924, 15339),
}
FEATURE_DIM = 8  # generated features: the reader does not care about 2048


def _synthetic_labels(split_mat: dict, num_images: int, num_seen: int, num_unseen: int) -> np.ndarray:
    """Labels consistent with the splits for files that come without per-image labels.

    Unseen classes go to test_unseen; val_loc images (where present) get a disjoint group of
    seen classes; classes are dealt cyclically with trainval images first, so every seen
    class has trainval images and test_seen holds only seen classes.
    """
    loc = {k: split_mat[k].ravel().astype(np.int64) - 1 for k in split_mat if k.endswith("_loc")}
    labels = np.full(num_images, -1, dtype=np.int64)
    unseen = np.arange(num_seen, num_seen + num_unseen)
    labels[loc["test_unseen_loc"]] = unseen[np.arange(loc["test_unseen_loc"].size) % num_unseen]
    known = np.concatenate([loc["trainval_loc"], np.setdiff1d(loc["test_seen_loc"], loc["trainval_loc"])])
    groups = [(known, np.arange(num_seen))]
    if "val_loc" in loc:
        num_val = num_seen // 5
        is_val = np.isin(known, loc["val_loc"])
        groups = [(known[~is_val], np.arange(num_seen - num_val)), (known[is_val], np.arange(num_seen - num_val, num_seen))]
    for images, classes in groups:
        labels[images] = classes[np.arange(images.size) % classes.size]
    labels[labels < 0] = 0
    return labels


def _write_res101(dataset_dir: Path, out: Path, seed: int = 0) -> np.ndarray:
    """Copy att_splits.mat to ``out`` and generate a matching small res101.mat; return labels."""
    name = dataset_dir.name
    num_classes, num_seen, num_unseen, _, _, _, _, num_images = XLSA17_TABLE[name]
    out.mkdir(parents=True)
    shutil.copy(dataset_dir / "att_splits.mat", out / "att_splits.mat")
    labels_file = dataset_dir / "image_labels_files.npz"
    if labels_file.is_file():
        with np.load(labels_file, allow_pickle=False) as z:
            labels = z["labels"].astype(np.int64)
    else:
        split_mat = sio.loadmat(str(dataset_dir / "att_splits.mat"))
        labels = _synthetic_labels(split_mat, num_images, num_seen, num_unseen)
    rng = np.random.default_rng(seed)
    features = rng.random((FEATURE_DIM, labels.size), dtype=np.float32)
    sio.savemat(str(out / "res101.mat"), {"features": features, "labels": (labels + 1).reshape(-1, 1)})
    return labels


@pytest.mark.shared
@pytest.mark.parametrize("name", sorted(XLSA17_TABLE))
def test_real_split_files_give_the_published_sizes(shared_xlsa17, tmp_path, name):
    labels = _write_res101(shared_xlsa17 / name, tmp_path / name)
    ds = read_xlsa17(tmp_path / name)
    num_classes, num_seen, num_unseen, att_dim, trainval, test_seen, test_unseen, images = XLSA17_TABLE[name]
    assert ds.num_classes == num_classes
    assert ds.embedding_dim == att_dim
    assert ds.seen_classes.size == num_seen and ds.unseen_classes.size == num_unseen
    assert ds.splits["trainval"].size == trainval
    assert ds.splits["test_seen"].size == test_seen
    assert ds.splits["test_unseen"].size == test_unseen
    assert ds.num_samples == images
    assert ds.features.shape == (images, FEATURE_DIM)
    np.testing.assert_array_equal(ds.labels, labels)
    # 1-based MATLAB locations became 0-based indices.
    raw = sio.loadmat(str(shared_xlsa17 / name / "att_splits.mat"))
    np.testing.assert_array_equal(ds.splits["test_unseen"], raw["test_unseen_loc"].ravel().astype(np.int64) - 1)
    np.testing.assert_allclose(ds.class_embeddings, raw["att"].T, rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(ds.class_embeddings, axis=1), 1.0, rtol=1e-5)


@pytest.mark.shared
@pytest.mark.parametrize("name", ["CUB", "SUN", "AWA2"])
def test_real_locations_agree_with_the_release_label_files(shared_xlsa17, tmp_path, name):
    _write_res101(shared_xlsa17 / name, tmp_path / name)
    ds = read_xlsa17(tmp_path / name)
    with np.load(shared_xlsa17 / name / "image_labels_files.npz", allow_pickle=False) as z:
        for split in ("trainval", "test_seen", "test_unseen"):
            np.testing.assert_array_equal(ds.splits[split], z[f"{split}_loc"])
    if name == "CUB":
        assert ds.class_names[ds.labels[0]] == "001.Black_footed_Albatross"


def test_write_then_read_round_trips(tmp_path):
    toy = make_toy_dataset()
    write_xlsa17(toy, tmp_path / "toy")
    back = read_xlsa17(tmp_path / "toy")
    np.testing.assert_array_equal(back.labels, toy.labels)
    np.testing.assert_allclose(back.features, toy.features)
    np.testing.assert_allclose(back.class_embeddings, toy.class_embeddings, rtol=1e-6)
    assert back.class_names == toy.class_names
    for split, idx in toy.splits.items():
        np.testing.assert_array_equal(back.splits[split], idx)
    # Stored the way other ZSL code expects: 1-based column vectors, D x N, A x C.
    raw = sio.loadmat(str(tmp_path / "toy" / "att_splits.mat"))
    assert raw["trainval_loc"].shape == (toy.splits["trainval"].size, 1)
    assert raw["trainval_loc"].min() == toy.splits["trainval"].min() + 1
    assert sio.loadmat(str(tmp_path / "toy" / "res101.mat"))["features"].shape == (16, toy.num_samples)


@pytest.fixture
def toy_folder(tmp_path) -> Path:
    write_xlsa17(make_toy_dataset(), tmp_path / "toy")
    return tmp_path / "toy"


def _edit(folder: Path, file: str, **changes) -> None:
    mat = {k: v for k, v in sio.loadmat(str(folder / file)).items() if not k.startswith("__")}
    for key, value in changes.items():
        if value is None:
            del mat[key]
        else:
            mat[key] = value
    sio.savemat(str(folder / file), mat)


def _labels(folder: Path) -> np.ndarray:
    return sio.loadmat(str(folder / "res101.mat"))["labels"].ravel()


@pytest.mark.parametrize(
    "corrupt, file, key, words",
    [
        (lambda f: (f / "res101.mat").unlink(), "res101.mat", "<file>", "not found"),
        (lambda f: (f / "att_splits.mat").unlink(), "att_splits.mat", "<file>", "not found"),
        (lambda f: _edit(f, "att_splits.mat", test_unseen_loc=None), "att_splits.mat", "test_unseen_loc", "missing"),
        (lambda f: _edit(f, "res101.mat", labels=None), "res101.mat", "labels", "missing"),
        (
            lambda f: _edit(f, "res101.mat", features=np.ones((16, 5), np.float32)),
            "res101.mat",
            "features",
            "does not match",
        ),
        (
            lambda f: _edit(f, "att_splits.mat", att=np.ones((8, 4))),
            "res101.mat",
            "labels",
            "att has 4 classes",
        ),
        (
            lambda f: _edit(f, "att_splits.mat", trainval_loc=np.array([[1], [10_000]])),
            "att_splits.mat",
            "trainval_loc",
            "beyond",
        ),
        (
            # every test_unseen image relabelled to seen class 0: seen and unseen overlap
            lambda f: _edit(f, "res101.mat", labels=np.where(_labels(f) > 6, 1, _labels(f)).reshape(-1, 1)),
            "att_splits.mat",
            "test_unseen_loc",
            "test_unseen images must be of unseen classes",
        ),
        (
            lambda f: _edit(
                f, "res101.mat", features=np.where(np.arange(90) == 3, np.nan, 0.5).astype(np.float32)[None].repeat(16, 0)
            ),
            "res101.mat",
            "features",
            "NaN or inf",
        ),
        (
            lambda f: _edit(
                f, "att_splits.mat", att=np.where(np.arange(9) == 2, 0.0, sio.loadmat(str(f / "att_splits.mat"))["att"])
            ),
            "att_splits.mat",
            "att",
            "zero-norm",
        ),
    ],
    ids=[
        "missing-res101",
        "missing-att_splits",
        "missing-key",
        "missing-labels",
        "features-shape",
        "labels-out-of-range",
        "index-out-of-range",
        "seen-unseen-overlap",
        "nan-features",
        "zero-norm-att",
    ],
)
def test_bad_inputs_raise_naming_file_and_key(toy_folder, corrupt, file, key, words):
    corrupt(toy_folder)
    with pytest.raises(DatasetValidationError) as info:
        read_xlsa17(toy_folder)
    message = str(info.value)
    assert file in message and f"'{key}'" in message and words in message, message


def test_test_unseen_image_of_a_seen_class_is_rejected(toy_folder):
    labels = _labels(toy_folder).copy()
    first_unseen_image = int(sio.loadmat(str(toy_folder / "att_splits.mat"))["test_unseen_loc"].ravel()[0]) - 1
    labels[first_unseen_image] = 1  # a seen class, 1-based
    _edit(toy_folder, "res101.mat", labels=labels.reshape(-1, 1))
    with pytest.raises(DatasetValidationError, match=r"att_splits.mat: 'test_unseen_loc'.*class ids \[0\]"):
        read_xlsa17(toy_folder)


def test_invalid_dataset_is_not_written(tmp_path):
    toy = make_toy_dataset()
    toy.features[0, 0] = np.inf
    with pytest.raises(DatasetValidationError, match="NaN or inf"):
        write_xlsa17(toy, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_image_dataset_round_trips_through_the_catalog_dataset_with_image_files(tmp_path):
    from dataclasses import replace

    from zsl_pipeline.io import Xlsa17Dataset

    toy = make_toy_dataset(with_train_val=True)
    paths = tuple(f"/data/images/{toy.class_names[y]}/img_{i:05d}.jpg" for i, y in enumerate(toy.labels))
    toy = replace(toy, image_paths=paths)
    assert {"train", "val"} <= set(toy.splits)
    io = Xlsa17Dataset(path=str(tmp_path / "xlsa17"), name=toy.name)
    io.save(toy)
    back = io.load()
    np.testing.assert_array_equal(back.features, toy.features)  # float32 both ways: exact
    np.testing.assert_array_equal(back.labels, toy.labels)
    np.testing.assert_array_equal(back.class_embeddings, toy.class_embeddings)
    assert back.class_names == toy.class_names and back.name == toy.name
    assert set(back.splits) == set(toy.splits)
    for split, idx in toy.splits.items():
        np.testing.assert_array_equal(back.splits[split], idx)
    # image_files: an N x 1 cell array of strings, as the release's res101.mat has
    files = sio.loadmat(str(tmp_path / "xlsa17" / "res101.mat"))["image_files"]
    assert files.shape == (len(paths), 1) and files.dtype == object
    assert tuple(str(cell[0]) for cell in files[:, 0]) == paths


def test_features_only_dataset_has_no_image_files_and_invalid_image_dataset_is_not_written(tmp_path):
    from dataclasses import replace

    write_xlsa17(make_toy_dataset(), tmp_path / "plain")
    assert "image_files" not in sio.loadmat(str(tmp_path / "plain" / "res101.mat"))
    toy = make_toy_dataset()
    bad = replace(toy, image_paths=("only_one.jpg",))  # one path for N labels
    with pytest.raises(DatasetValidationError, match="image_paths"):
        write_xlsa17(bad, tmp_path / "out")
    assert not (tmp_path / "out").exists()
