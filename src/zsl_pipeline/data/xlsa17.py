"""Reading and writing the standard benchmark format (the "xlsa17" release, Xian et al.).

A dataset folder holds ``res101.mat`` (``features`` D x N, 1-based ``labels`` N x 1) and
``att_splits.mat`` (``att`` A x C, one column per class; 1-based ``*_loc`` column vectors;
``allclasses_names`` as a MATLAB cell array, absent for FLO). This module converts to and from
the 0-based :class:`~zsl_pipeline.data.contract.ZeroShotDataset` and validates on load.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.io as sio

from .contract import (
    OPTIONAL_SPLITS,
    REQUIRED_SPLITS,
    DatasetValidationError,
    ZeroShotDataset,
    validate,
)

FEATURES_FILE = "res101.mat"
SPLITS_FILE = "att_splits.mat"


def _load_mat(path: Path) -> dict:
    if not path.is_file():
        raise DatasetValidationError(str(path), "<file>", "file not found")
    try:
        return sio.loadmat(str(path))
    except Exception as exc:  # scipy raises several types for a corrupt file
        raise DatasetValidationError(str(path), "<file>", f"not a readable .mat file ({exc})") from exc


def _require(mat: dict, key: str, path: Path) -> np.ndarray:
    if key not in mat:
        present = sorted(k for k in mat if not k.startswith("__"))
        raise DatasetValidationError(str(path), key, f"key is missing (present: {present})")
    return mat[key]


def _one_based_vector(value: np.ndarray, key: str, path: Path) -> np.ndarray:
    """A MATLAB 1-based index/label column vector -> a 0-based int64 vector."""
    if value.ndim != 2 or 1 not in value.shape:
        raise DatasetValidationError(str(path), key, f"expected a column vector, got shape {value.shape}")
    flat = np.asarray(value).ravel()
    if not np.all(np.isfinite(flat.astype(np.float64))) or np.any(flat != np.round(flat)):
        raise DatasetValidationError(str(path), key, "expected whole numbers")
    flat = flat.astype(np.int64)
    if flat.size and flat.min() < 1:
        raise DatasetValidationError(str(path), key, f"1-based values must be >= 1, found {flat.min()}")
    return flat - 1


def _class_names(mat: dict, num_classes: int) -> tuple[str, ...]:
    if "allclasses_names" not in mat:  # FLO's file has none
        return tuple(f"class_{i:03d}" for i in range(num_classes))
    cells = np.asarray(mat["allclasses_names"]).ravel()
    return tuple(str(np.asarray(cell).ravel()[0]) for cell in cells)


def read_split_file(
    split_mat: dict, split_path: Path, labels: np.ndarray, labels_path: Path
) -> tuple[np.ndarray, dict[str, np.ndarray], tuple[str, ...]]:
    """The content of a loaded ``att_splits.mat``: ``att`` (A x C, float64), the 0-based splits
    (``train``/``val`` where present) and the class names, checked against the 0-based
    ``labels`` of the samples (from ``labels_path``)."""
    att = np.asarray(_require(split_mat, "att", split_path), dtype=np.float64)
    if att.ndim != 2:
        raise DatasetValidationError(str(split_path), "att", f"expected A x C, got shape {att.shape}")
    num_classes, num_samples = att.shape[1], labels.size
    if labels.size and labels.max() >= num_classes:
        raise DatasetValidationError(
            str(labels_path), "labels", f"labels go up to {labels.max() + 1} but att has {num_classes} classes"
        )
    splits: dict[str, np.ndarray] = {}
    for split in REQUIRED_SPLITS + OPTIONAL_SPLITS:
        key = f"{split}_loc"
        if split in OPTIONAL_SPLITS and key not in split_mat:
            continue
        idx = _one_based_vector(_require(split_mat, key, split_path), key, split_path)
        if idx.size and idx.max() >= num_samples:
            raise DatasetValidationError(
                str(split_path), key, f"index {idx.max() + 1} beyond the {num_samples} samples of {FEATURES_FILE}"
            )
        splits[split] = idx
    names = _class_names(split_mat, num_classes)
    if len(names) != num_classes:
        raise DatasetValidationError(
            str(split_path), "allclasses_names", f"{len(names)} names for {num_classes} classes in att"
        )
    return att, splits, names


def read_xlsa17(folder: str | Path, name: str | None = None) -> ZeroShotDataset:
    """Load ``folder/res101.mat`` + ``folder/att_splits.mat`` into the contract, validated.

    Raises:
        DatasetValidationError: naming the file and key for a missing file or key, a wrong
            shape, a label or index out of range, overlapping seen/unseen classes, test_unseen
            images of seen classes, NaN/inf features or a zero-norm class embedding.
    """
    folder = Path(folder)
    feat_path, split_path = folder / FEATURES_FILE, folder / SPLITS_FILE
    feat_mat, split_mat = _load_mat(feat_path), _load_mat(split_path)

    features = np.asarray(_require(feat_mat, "features", feat_path))
    if features.ndim != 2:
        raise DatasetValidationError(str(feat_path), "features", f"expected D x N, got shape {features.shape}")
    labels = _one_based_vector(_require(feat_mat, "labels", feat_path), "labels", feat_path)
    if features.shape[1] != labels.size:
        raise DatasetValidationError(
            str(feat_path), "features", f"shape {features.shape} (D x N) does not match {labels.size} labels"
        )
    att, splits, names = read_split_file(split_mat, split_path, labels, feat_path)
    ds = ZeroShotDataset(
        labels=labels,
        class_embeddings=att.T.astype(np.float32),
        splits=splits,
        class_names=names,
        features=features.T.astype(np.float32),
        name=name or folder.name,
    )
    try:
        return validate(ds, source="")
    except DatasetValidationError as err:  # re-raise naming the file and the .mat key
        file, key = _MAT_LOCATION.get(err.key, (SPLITS_FILE, f"{err.key}_loc"))
        raise DatasetValidationError(str(folder / file), key, err.problem) from None


#: Contract key -> (file, .mat key) for error messages; split names map to ``<split>_loc``.
_MAT_LOCATION = {
    "features": (FEATURES_FILE, "features"),
    "labels": (FEATURES_FILE, "labels"),
    "class_embeddings": (SPLITS_FILE, "att"),
    "class_names": (SPLITS_FILE, "allclasses_names"),
}


def write_xlsa17(ds: ZeroShotDataset, folder: str | Path) -> None:
    """Write ``ds`` as ``res101.mat`` + ``att_splits.mat`` that other ZSL code reads.

    Validates first, so nothing is written for an invalid dataset. Indices and labels are
    stored 1-based as MATLAB column vectors, ``att`` as A x C. An image dataset's paths go to
    ``res101.mat`` as ``image_files``, an N x 1 cell array of strings, as in the release
    (:func:`read_xlsa17` does not read them back: the release's paths are of its authors' machine).
    """
    validate(ds, source=f"dataset '{ds.name}' to be written to {folder}")
    if ds.features is None:
        raise DatasetValidationError(f"dataset '{ds.name}'", "features", "cannot write res101.mat without features")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    res101: dict[str, np.ndarray] = {
        "features": ds.features.T.astype(np.float32),
        "labels": (ds.labels + 1).reshape(-1, 1).astype(np.float64),
    }
    if ds.image_paths is not None:
        files = np.empty((len(ds.image_paths), 1), dtype=object)
        files[:, 0] = ds.image_paths
        res101["image_files"] = files
    sio.savemat(str(folder / FEATURES_FILE), res101)
    names = np.empty((ds.num_classes, 1), dtype=object)
    for i, cls in enumerate(ds.class_names):
        names[i, 0] = cls
    content: dict[str, np.ndarray] = {
        "att": ds.class_embeddings.T.astype(np.float64),
        "allclasses_names": names,
    }
    for split, idx in ds.splits.items():
        content[f"{split}_loc"] = (idx + 1).reshape(-1, 1).astype(np.float64)
    sio.savemat(str(folder / SPLITS_FILE), content)
