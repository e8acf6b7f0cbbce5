"""Readers for image datasets: a generic manifest layout and the CUB_200_2011 release.

Both return a :class:`~zsl_pipeline.data.contract.ZeroShotDataset` with ``image_paths`` and no
features (feature extraction opens the images later). Class embeddings are the attribute rows,
L2-normalised per class as in xlsa17's ``att``.

Generic layout (the demo dataset, or a user's own photos):

* ``manifest``: one row per image, columns ``image_path`` (relative to the image folder),
  ``class_name``, ``split`` (trainval / test_seen / test_unseen) and optionally ``train_val``
  (``train`` / ``val`` for every trainval row, empty elsewhere; empty everywhere for none).
* ``attributes``: ``class_name`` then one numeric column per attribute; row order = class order.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
import scipy.io as sio
from PIL import Image
from tqdm.auto import tqdm

from .contract import REQUIRED_SPLITS, DatasetValidationError, ZeroShotDataset, listed, validate

logger = logging.getLogger(__name__)

MANIFEST_COLUMNS = ("image_path", "class_name", "split")
TRAIN_VAL_COLUMN = "train_val"
TRAIN_VAL_VALUES = ("train", "val")

#: xlsa17 files (``res101.mat`` is only read for its ``image_files`` and ``labels``).
XLSA17_SPLITS_FILE = "att_splits.mat"
XLSA17_FEATURES_FILE = "res101.mat"
XLSA17_IMAGE_LIST_FILE = "image_labels_files.npz"
#: CUB_200_2011 release files, relative to its root folder.
CUB_IMAGES_FILE = "images.txt"
CUB_LABELS_FILE = "image_class_labels.txt"
CUB_CLASSES_FILE = "classes.txt"
CUB_ATTRIBUTES_FILE = "attributes/class_attribute_labels_continuous.txt"


def load_image(path: str | Path) -> Image.Image:
    """Open an image file as RGB (loads the pixels and closes the file)."""
    with Image.open(path) as image:
        return image.convert("RGB")


def _image_problem(path: str) -> str | None:
    """Why ``path`` is not a readable image (missing, not a file, no decodable header), or ``None``."""
    try:
        with Image.open(path) as image:
            image.size  # noqa: B018 - the header is parsed by open(); size proves it
    except FileNotFoundError:
        return "missing"
    except IsADirectoryError:
        return "a folder, not an image"
    except (OSError, ValueError, Image.DecompressionBombError) as exc:  # UnidentifiedImageError is an OSError
        return f"unreadable ({type(exc).__name__}: {exc})"
    return None


def check_image_files(
    paths: Sequence[str], source: str, *, skip_unreadable: bool = False, threads: int = 8, progress: bool = True
) -> list[dict[str, str]]:
    """Check that every image exists and its header decodes, before any work uses them.

    Opens each file's header only (cheap: no pixels are decoded), on ``threads`` threads (image
    folders often sit on network storage). Returns the problems as ``{"index", "path", "problem"}``
    rows (``index``: the position in ``paths``).

    Raises:
        DatasetValidationError: naming ``source`` and listing up to :data:`~zsl_pipeline.data.contract.MAX_LISTED` files with
            their problem, when any image is missing or unreadable and ``skip_unreadable`` is off.
    """
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        problems = list(tqdm(pool.map(_image_problem, paths, chunksize=64), total=len(paths), unit="img",
                             desc="checking images", disable=not progress))
    bad = [{"index": i, "path": p, "problem": why} for i, (p, why) in enumerate(zip(paths, problems)) if why]
    if bad and not skip_unreadable:
        rows = [f"{b['path']}: {b['problem']}" for b in bad]
        raise DatasetValidationError(
            source, "image_path",
            f"{len(bad)} of {len(paths)} images are missing or unreadable (nothing was written; "
            f"fix them, or set images.skip_unreadable: true to leave them out):"
            f"{listed(rows)}",
        )
    return bad


def without_samples(ds: ZeroShotDataset, drop: Iterable[int], source: str) -> ZeroShotDataset:
    """``ds`` without the samples ``drop`` (their rows, and their indices in every split), validated."""
    keep = np.ones(ds.num_samples, dtype=bool)
    keep[np.fromiter(drop, dtype=np.int64)] = False
    new_index = np.cumsum(keep) - 1
    kept = np.flatnonzero(keep)
    return validate(
        ZeroShotDataset(
            labels=ds.labels[kept],
            class_embeddings=ds.class_embeddings,
            splits={s: new_index[idx[keep[idx]]] for s, idx in ds.splits.items()},
            class_names=ds.class_names,
            features=None if ds.features is None else ds.features[kept],
            image_paths=None if ds.image_paths is None else tuple(ds.image_paths[i] for i in kept),
            name=ds.name,
            attribute_names=ds.attribute_names,
        ),
        source,
    )


def _normalised(att: np.ndarray, source: str, key: str, names: tuple[str, ...]) -> np.ndarray:
    """Rows L2-normalised to float32; a zero row is an error naming its class."""
    norms = np.linalg.norm(att, axis=1, keepdims=True)
    zero = np.flatnonzero(norms.ravel() == 0)
    if zero.size:
        raise DatasetValidationError(source, key, f"all-zero attributes for classes {[names[i] for i in zero[:5]]}")
    return (att / norms).astype(np.float32)


def _text_column(frame: pd.DataFrame, column: str) -> pd.Series:
    """A column as stripped strings, missing values as ``""``."""
    return frame[column].astype(object).where(frame[column].notna(), "").astype(str).str.strip()


def _attribute_table(attributes: pd.DataFrame, source: str) -> tuple[tuple[str, ...], tuple[str, ...], np.ndarray]:
    """Class names, attribute names and the (C, A) float64 attribute matrix, checked."""
    if "class_name" not in attributes.columns:
        raise DatasetValidationError(source, "class_name", "attributes table has no 'class_name' column")
    names = tuple(_text_column(attributes, "class_name"))
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise DatasetValidationError(source, "class_name", f"duplicate class names in attributes: {dupes[:5]}")
    if "" in names:
        raise DatasetValidationError(source, "class_name", "empty class name in attributes")
    att_columns = [c for c in attributes.columns if c != "class_name"]
    if not att_columns:
        raise DatasetValidationError(source, "attributes", "attributes table has no attribute columns")
    for column in att_columns:
        values = pd.to_numeric(attributes[column], errors="coerce")
        bad = values.isna() | ~np.isfinite(values.astype(float))
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise DatasetValidationError(
                source,
                str(column),
                f"non-numeric or missing attribute value {attributes[column].iloc[row]!r} for class '{names[row]}'",
            )
    att = attributes[att_columns].apply(pd.to_numeric).to_numpy(dtype=np.float64)
    return names, tuple(str(c) for c in att_columns), att


def read_image_dataset(
    manifest: pd.DataFrame,
    attributes: pd.DataFrame,
    image_root: str | Path,
    *,
    name: str = "images",
    source: str = "manifest",
    attributes_source: str = "attributes",
) -> ZeroShotDataset:
    """Build a validated image dataset from a manifest and an attribute table (see module doc).

    Does not open the images (:func:`check_image_files` does); checks that ``image_root`` is a
    folder. ``source`` and ``attributes_source`` name the two tables (their files) in errors.

    Raises:
        DatasetValidationError: naming the column and value for a missing column, an unknown
            split or train_val value, a class absent from ``attributes``, a duplicate class,
            a non-numeric attribute, or any contract violation (see ``validate``).
    """
    root = Path(image_root)
    if not root.is_dir():
        raise DatasetValidationError(source, "image_root", f"image folder {str(root)!r} does not exist")
    missing = [c for c in MANIFEST_COLUMNS if c not in manifest.columns]
    if missing:
        raise DatasetValidationError(
            source, missing[0], f"manifest lacks column(s) {missing} (has {list(manifest.columns)})"
        )
    class_names, attribute_names, att = _attribute_table(attributes, attributes_source)

    paths = _text_column(manifest, "image_path")
    if (paths == "").any():
        raise DatasetValidationError(source, "image_path", f"empty image path in row {int((paths == '').idxmax())}")
    dup_paths = paths[paths.duplicated()]
    if not dup_paths.empty:
        raise DatasetValidationError(source, "image_path", f"duplicate image path {dup_paths.iloc[0]!r}")

    index = {c: i for i, c in enumerate(class_names)}
    manifest_classes = _text_column(manifest, "class_name")
    unknown = ~manifest_classes.isin(list(index)).to_numpy()
    if unknown.any():
        rows = [f"{p} (class {c!r})" for p, c in zip(paths[unknown], manifest_classes[unknown])]
        raise DatasetValidationError(
            source, "class_name",
            f"{len(rows)} images of classes outside the attributes table {attributes_source}:{listed(rows)}",
        )
    labels = manifest_classes.map(index).to_numpy(dtype=np.int64)

    split = _text_column(manifest, "split").to_numpy()
    bad_splits = sorted(set(split) - set(REQUIRED_SPLITS))
    if bad_splits:
        raise DatasetValidationError(source, "split", f"unknown split values {bad_splits}; expected {REQUIRED_SPLITS}")
    splits = {s: np.flatnonzero(split == s).astype(np.int64) for s in REQUIRED_SPLITS}

    if TRAIN_VAL_COLUMN in manifest.columns:
        train_val = _text_column(manifest, TRAIN_VAL_COLUMN).to_numpy()
        in_trainval = split == "trainval"
        bad = sorted(set(train_val[in_trainval]) - set(TRAIN_VAL_VALUES) - {""})
        if bad:
            raise DatasetValidationError(
                source, TRAIN_VAL_COLUMN, f"unknown values {bad}; expected {TRAIN_VAL_VALUES} or empty"
            )
        stray = sorted(set(train_val[~in_trainval]) - {""})
        if stray:
            raise DatasetValidationError(
                source, TRAIN_VAL_COLUMN, f"values {stray} on rows whose split is not trainval; leave those empty"
            )
        filled = train_val[in_trainval] != ""
        if filled.any() and not filled.all():
            raise DatasetValidationError(
                source, TRAIN_VAL_COLUMN, f"empty for {int((~filled).sum())} of {filled.size} trainval rows"
            )
        if filled.any():
            for s in TRAIN_VAL_VALUES:
                splits[s] = np.flatnonzero(in_trainval & (train_val == s)).astype(np.int64)

    ds = ZeroShotDataset(
        labels=labels,
        class_embeddings=_normalised(att, attributes_source, "attributes", class_names),
        splits=splits,
        class_names=class_names,
        image_paths=tuple(str(root / p) for p in paths),
        name=name,
        attribute_names=attribute_names,
    )
    return validate(ds, source)


# ---- CUB_200_2011 -------------------------------------------------------------------------


def _read_pairs(path: Path) -> list[tuple[int, str]]:
    """Lines ``<int id> <text>`` of a CUB index file."""
    if not path.is_file():
        raise DatasetValidationError(str(path), "<file>", "file not found")
    pairs = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split(maxsplit=1)
        if len(parts) != 2 or not parts[0].isdigit():
            raise DatasetValidationError(str(path), f"line {number}", f"expected '<id> <value>', got {line!r}")
        pairs.append((int(parts[0]), parts[1].strip()))
    return pairs


def _after_images(path: str) -> str:
    """The part of an xlsa17 ``image_files`` path after its last ``images/`` folder."""
    parts = path.replace("\\", "/").split("/")
    if "images" not in parts:
        return path
    last = len(parts) - 1 - parts[::-1].index("images")
    return "/".join(parts[last + 1 :])


def _cells_to_strings(value: np.ndarray) -> list[str]:
    """A MATLAB cell array of strings (or a numpy string array) -> Python strings."""
    flat = np.asarray(value).ravel()
    if flat.dtype == object:
        return [str(np.asarray(cell).ravel()[0]) for cell in flat]
    return [str(v) for v in flat]


def xlsa17_image_list(folder: Path) -> tuple[list[str], np.ndarray | None, str]:
    """xlsa17 ``image_files`` and 0-based labels (if present) from res101.mat or the npz."""
    mat_path, npz_path = folder / XLSA17_FEATURES_FILE, folder / XLSA17_IMAGE_LIST_FILE
    if mat_path.is_file():
        mat = sio.loadmat(str(mat_path), variable_names=["image_files", "labels"])
        if "image_files" in mat:
            labels = np.asarray(mat["labels"]).ravel().astype(np.int64) - 1 if "labels" in mat else None
            return _cells_to_strings(mat["image_files"]), labels, str(mat_path)
    if npz_path.is_file():
        with np.load(npz_path, allow_pickle=False) as npz:
            if "image_files" not in npz.files:
                raise DatasetValidationError(str(npz_path), "image_files", f"key is missing (present: {npz.files})")
            labels = np.asarray(npz["labels"], dtype=np.int64) if "labels" in npz.files else None
            return [str(v) for v in npz["image_files"]], labels, str(npz_path)
    raise DatasetValidationError(
        str(folder), "image_files", f"need {XLSA17_FEATURES_FILE} with 'image_files' or {XLSA17_IMAGE_LIST_FILE}"
    )


def read_cub_200_2011(cub_root: str | Path, xlsa17_folder: str | Path | None = None) -> ZeroShotDataset:
    """Read a CUB_200_2011 release folder onto the xlsa17 zero-shot splits ("Proposed Split").

    The dataset comes out in xlsa17 class order (``allclasses_names``) and image order
    (``image_files``), so labels and splits equal the release's. Class embeddings are CUB's
    continuous class attributes, L2-normalised (which is how xlsa17 built ``att``).

    Raises:
        DatasetValidationError: when ``xlsa17_folder`` is missing (CUB itself has no zero-shot
            splits), for a missing or malformed file, classes that differ between CUB and
            xlsa17, or xlsa17 images not found in CUB (and vice versa).
    """
    root = Path(cub_root)
    if not root.is_dir():
        raise DatasetValidationError(str(root), "cub_root", "CUB_200_2011 folder does not exist")
    if xlsa17_folder is None:
        raise DatasetValidationError(
            str(root),
            "xlsa17_folder",
            "CUB_200_2011 has no zero-shot splits; pass the xlsa17 CUB folder (att_splits.mat + "
            "res101.mat or image_labels_files.npz) to use the standard seen/unseen splits",
        )
    folder = Path(xlsa17_folder)

    # CUB: image id -> relative path, image id -> class id, class id -> name, attributes.
    image_rel = dict(_read_pairs(root / CUB_IMAGES_FILE))
    image_class = {i: v for i, v in _read_pairs(root / CUB_LABELS_FILE)}
    cub_classes = dict(_read_pairs(root / CUB_CLASSES_FILE))
    att_path = root / CUB_ATTRIBUTES_FILE
    if not att_path.is_file():
        raise DatasetValidationError(str(att_path), "<file>", "file not found")
    cub_att = np.loadtxt(att_path, dtype=np.float64, ndmin=2)
    if cub_att.shape[0] != len(cub_classes):
        raise DatasetValidationError(
            str(att_path), "<rows>", f"{cub_att.shape[0]} rows for {len(cub_classes)} classes in {CUB_CLASSES_FILE}"
        )

    # xlsa17: class order, splits (1-based) and image order.
    split_path = folder / XLSA17_SPLITS_FILE
    if not split_path.is_file():
        raise DatasetValidationError(str(split_path), "<file>", "file not found")
    split_mat = sio.loadmat(str(split_path))
    if "allclasses_names" not in split_mat:
        raise DatasetValidationError(str(split_path), "allclasses_names", "key is missing")
    class_names = tuple(_cells_to_strings(split_mat["allclasses_names"]))
    cub_id_of = {n: i for i, n in cub_classes.items()}
    differ = sorted(set(class_names) ^ set(cub_id_of))
    if differ:
        raise DatasetValidationError(
            str(split_path), "allclasses_names", f"classes differ from {root / CUB_CLASSES_FILE}: {differ[:5]}"
        )
    image_files, release_labels, list_source = xlsa17_image_list(folder)

    id_of_rel = {rel: i for i, rel in image_rel.items()}
    wanted = [_after_images(f) for f in image_files]
    missing = [w for w in wanted if w not in id_of_rel]
    if missing:
        raise DatasetValidationError(
            list_source,
            "image_files",
            f"{len(missing)} images not in {root / CUB_IMAGES_FILE}, e.g. {missing[:3]}",
        )
    extra = sorted(set(id_of_rel) - set(wanted))
    if extra:
        raise DatasetValidationError(
            str(root / CUB_IMAGES_FILE), "<images>", f"{len(extra)} images not in {list_source}, e.g. {extra[:3]}"
        )
    xlsa_index = {n: i for i, n in enumerate(class_names)}
    try:
        labels = np.array([xlsa_index[cub_classes[int(image_class[id_of_rel[w]])]] for w in wanted], dtype=np.int64)
    except (KeyError, ValueError) as exc:
        raise DatasetValidationError(
            str(root / CUB_LABELS_FILE), "<labels>", f"image or class id without a class: {exc}"
        ) from None
    if release_labels is not None and not np.array_equal(labels, release_labels):
        first = int(np.flatnonzero(labels != release_labels)[0]) if labels.size == release_labels.size else 0
        raise DatasetValidationError(
            list_source, "labels", f"CUB labels disagree with the release's, first at image {image_files[first]!r}"
        )

    splits: dict[str, np.ndarray] = {}
    for split in REQUIRED_SPLITS + ("train", "val"):
        key = f"{split}_loc"
        if key not in split_mat:
            if split in REQUIRED_SPLITS:
                raise DatasetValidationError(str(split_path), key, "key is missing")
            continue
        loc = np.asarray(split_mat[key]).ravel().astype(np.int64) - 1  # 1-based in the release
        if loc.size and (loc.min() < 0 or loc.max() >= labels.size):
            raise DatasetValidationError(str(split_path), key, f"indices outside 1..{labels.size}")
        splits[split] = loc

    embeddings = cub_att[[cub_id_of[n] - 1 for n in class_names]]
    ds = ZeroShotDataset(
        labels=labels,
        class_embeddings=_normalised(embeddings, str(att_path), "<rows>", class_names),
        splits=splits,
        class_names=class_names,
        image_paths=tuple(str(root / "images" / image_rel[id_of_rel[w]]) for w in wanted),
        name="CUB",
    )
    logger.info("Read CUB_200_2011 from %s on the xlsa17 splits: %s", root, ds.summary())
    return validate(ds, source=f"CUB_200_2011 at {root} with xlsa17 {folder}")
