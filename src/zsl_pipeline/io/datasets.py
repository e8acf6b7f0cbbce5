"""Custom Kedro datasets: the zero-shot dataset contract, xlsa17 folders, torch objects, tables.

All write atomically (a temporary file renamed into place), so a run that dies mid-save never
leaves a half-written file that a later ``--from-nodes`` run would load.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any, Callable

import fsspec
import numpy as np
import pandas as pd
import torch
from kedro.io.core import AbstractDataset, AbstractVersionedDataset, DatasetError, Version, get_filepath_str
from kedro_datasets.pandas import CSVDataset

from zsl_pipeline.data.contract import DatasetValidationError, ZeroShotDataset, validate
from zsl_pipeline.data.xlsa17 import read_xlsa17, write_xlsa17

_LOCAL_FS = fsspec.filesystem("file")


def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


class _LocalVersionedDataset(AbstractVersionedDataset):
    """A versioned dataset stored as one local file."""

    def __init__(self, filepath: str, version: Version | None = None, metadata: dict | None = None):
        super().__init__(
            filepath=PurePosixPath(filepath),
            version=version,
            exists_function=_LOCAL_FS.exists,
            glob_function=_LOCAL_FS.glob,
        )
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "version": self._version}

    def _exists(self) -> bool:
        try:
            return Path(self._get_load_path()).exists()
        except DatasetError:
            return False


class ZeroShotDatasetIO(_LocalVersionedDataset):
    """A :class:`ZeroShotDataset` as one ``.npz`` file (no pickle), validated on load and save.

    Example catalog entry::

        demo_features:
          type: zsl_pipeline.io.ZeroShotDatasetIO
          filepath: data/04_feature/demo_features.npz
          versioned: true
    """

    def load(self) -> ZeroShotDataset:
        path = Path(self._get_load_path())
        if not path.is_file():
            raise DatasetValidationError(str(path), "<file>", "file not found")
        with np.load(path, allow_pickle=False) as z:
            splits = {k[len("split_") :]: z[k].astype(np.int64) for k in z.files if k.startswith("split_")}
            ds = ZeroShotDataset(
                labels=z["labels"].astype(np.int64),
                class_embeddings=z["class_embeddings"].astype(np.float32),
                splits=splits,
                class_names=tuple(str(s) for s in z["class_names"]),
                features=z["features"] if "features" in z.files else None,
                image_paths=tuple(str(s) for s in z["image_paths"]) if "image_paths" in z.files else None,
                name=str(z["name"]),
                attribute_names=tuple(str(s) for s in z["attribute_names"])
                if "attribute_names" in z.files
                else None,
            )
        return validate(ds, source=str(path))

    def save(self, data: ZeroShotDataset) -> None:
        path = Path(self._get_save_path())
        validate(data, source=f"dataset '{data.name}' to be saved to {path}")
        arrays: dict[str, np.ndarray] = {
            "labels": data.labels,
            "class_embeddings": data.class_embeddings,
            "class_names": np.asarray(data.class_names, dtype=str),
            "name": np.asarray(data.name),
        }
        arrays.update({f"split_{k}": v for k, v in data.splits.items()})
        if data.features is not None:
            arrays["features"] = data.features
        if data.image_paths is not None:
            arrays["image_paths"] = np.asarray(data.image_paths, dtype=str)
        if data.attribute_names is not None:
            arrays["attribute_names"] = np.asarray(data.attribute_names, dtype=str)

        def write(tmp: Path) -> None:
            with open(tmp, "wb") as fh:
                np.savez(fh, **arrays)

        _atomic_write(path, write)


class Xlsa17Dataset(AbstractDataset[ZeroShotDataset, ZeroShotDataset]):
    """A benchmark folder in the xlsa17 format: ``res101.mat`` + ``att_splits.mat``.

    Loading validates and converts to 0-based indices; saving exports features in the format
    other ZSL code reads. Example::

        cub_xlsa17:
          type: zsl_pipeline.io.Xlsa17Dataset
          path: ${runtime_params:xlsa17_root,data/01_raw/xlsa17}/CUB
    """

    def __init__(self, path: str, name: str | None = None, metadata: dict | None = None):
        self._path = Path(path)
        self._name = name
        self.metadata = metadata

    def load(self) -> ZeroShotDataset:
        try:
            return read_xlsa17(self._path, name=self._name)
        except DatasetValidationError as err:
            if err.key != "<file>" or err.problem != "file not found":
                raise
            raise DatasetValidationError(
                err.source,
                err.key,
                "file not found: put the xlsa17 release's dataset folders (res101.mat + att_splits.mat) "
                "under data/01_raw/xlsa17/ or pass --params xlsa17_root=/path/to/xlsa17",
            ) from None

    def save(self, data: ZeroShotDataset) -> None:
        write_xlsa17(data, self._path)

    def _exists(self) -> bool:
        return (self._path / "res101.mat").is_file() and (self._path / "att_splits.mat").is_file()

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path), "name": self._name}


class TorchDataset(_LocalVersionedDataset):
    """A torch object (a checkpoint dict of tensors, a tensor) saved with ``torch.save``.

    Loaded with ``weights_only=True``: only tensors, numbers, strings, lists and dicts, never
    arbitrary pickled code, so a checkpoint received from elsewhere is safe to open.
    """

    def load(self) -> Any:
        return torch.load(Path(self._get_load_path()), map_location="cpu", weights_only=True)

    def save(self, data: Any) -> None:
        _atomic_write(Path(self._get_save_path()), lambda tmp: torch.save(data, tmp))


class TextDataset(_LocalVersionedDataset):
    """A UTF-8 text file (e.g. a Markdown table)."""

    def load(self) -> str:
        return Path(self._get_load_path()).read_text(encoding="utf-8")

    def save(self, data: str) -> None:
        _atomic_write(Path(self._get_save_path()), lambda tmp: tmp.write_text(data, encoding="utf-8"))


class TableDataset(CSVDataset):
    """``pandas.CSVDataset`` whose loaded table remembers its file in ``DataFrame.attrs["source"]``,
    so an error about the table's content names the file (an image manifest, an attribute table)."""

    def load(self) -> pd.DataFrame:
        table = super().load()
        table.attrs["source"] = get_filepath_str(self._get_load_path(), self._protocol)
        return table
