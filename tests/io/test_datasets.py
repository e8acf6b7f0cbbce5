"""Custom Kedro datasets: contract .npz round trip, versioning, atomic writes, torch objects."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from kedro.io.core import DatasetError, Version

from toy_data import make_toy_dataset
from zsl_pipeline.io import TorchDataset, Xlsa17Dataset, ZeroShotDatasetIO


def test_contract_npz_round_trip(tmp_path):
    toy = make_toy_dataset()
    io = ZeroShotDatasetIO(filepath=str(tmp_path / "ds.npz"))
    io.save(toy)
    back = io.load()
    np.testing.assert_array_equal(back.features, toy.features)
    np.testing.assert_array_equal(back.labels, toy.labels)
    assert back.class_names == toy.class_names and back.name == "toy"
    assert set(back.splits) == set(toy.splits)
    np.testing.assert_array_equal(back.unseen_classes, [6, 7, 8])


def test_versioned_saves_keep_older_versions(tmp_path):
    path = str(tmp_path / "ds.npz")
    first, second = make_toy_dataset(seed=0), make_toy_dataset(seed=1)
    ZeroShotDatasetIO(filepath=path, version=Version(None, "2026-01-01T00.00.00.000Z")).save(first)
    ZeroShotDatasetIO(filepath=path, version=Version(None, "2026-01-02T00.00.00.000Z")).save(second)
    latest = ZeroShotDatasetIO(filepath=path, version=Version(None, None)).load()
    pinned = ZeroShotDatasetIO(filepath=path, version=Version("2026-01-01T00.00.00.000Z", None)).load()
    np.testing.assert_array_equal(latest.features, second.features)
    np.testing.assert_array_equal(pinned.features, first.features)


def test_invalid_dataset_writes_nothing(tmp_path):
    toy = make_toy_dataset()
    toy.features[2, 1] = np.nan
    # Kedro wraps the validation error; its message is kept.
    with pytest.raises(DatasetError, match="'features': NaN or inf"):
        ZeroShotDatasetIO(filepath=str(tmp_path / "ds.npz")).save(toy)
    assert list(tmp_path.iterdir()) == []


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(Exception, match="missing.npz"):
        ZeroShotDatasetIO(filepath=str(tmp_path / "missing.npz")).load()


def test_xlsa17_dataset_round_trip(tmp_path):
    io = Xlsa17Dataset(path=str(tmp_path / "TOY"))
    assert not io.exists()
    io.save(make_toy_dataset())
    assert io.exists()
    assert io.load().name == "TOY"


def test_torch_dataset_loads_weights_only(tmp_path):
    io = TorchDataset(filepath=str(tmp_path / "ckpt.pt"))
    io.save({"epoch": 3, "state": {"w": torch.arange(4.0)}, "config": {"lr": 1e-4}})
    back = io.load()
    assert back["epoch"] == 3 and back["config"]["lr"] == 1e-4
    torch.testing.assert_close(back["state"]["w"], torch.arange(4.0))
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]  # no temporary file left behind


def test_missing_benchmark_folder_says_where_to_put_it(tmp_path):
    with pytest.raises(Exception, match=r"res101.mat: '<file>': file not found: .*xlsa17_root"):
        Xlsa17Dataset(path=str(tmp_path / "CUB")).load()
