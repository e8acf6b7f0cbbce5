"""The image releases of the benchmarks (CUB, SUN, AWA2, FLO) joined to their xlsa17 files.

A benchmark's ``res101.mat`` lists, in its ``image_files``, the image each feature row came
from, as a path on the machine that built the release (e.g.
``/BS/.../CUB_200_2011/images/001.Black_footed_Albatross/x.jpg``; AWA2's
``Animals_with_Attributes2//JPEGImages/antelope/antelope_10001.jpg``). :func:`read_release_images`
maps each listed path onto the user's copy of the dataset's image release, keeping the row order,
so that labels, splits, class order and class embeddings are exactly the benchmark's: only the
features are recomputed (extraction, optionally after fine-tuning).

The mapping per dataset (:data:`RELEASES`): the part of a listed path after the release's image
folder (``images`` for CUB and SUN, ``JPEGImages`` for AWA2) is looked up under that folder of
``image_root``; FLO's list is joined by file name alone (``jpg/image_NNNNN.jpg``). ``image_root``
may be the release's root (holding the image folder) or the image folder itself. Where the
split file names the classes (all but FLO), every image's class folder must be its label's class.

The list comes from the xlsa17 folder's ``res101.mat`` (``image_files``, ``labels``), or from an
``image_labels_files.npz`` holding the same two keys.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .contract import DatasetValidationError, ZeroShotDataset, listed, validate
from .images import xlsa17_image_list
from .xlsa17 import SPLITS_FILE, _load_mat, read_split_file

logger = logging.getLogger(__name__)


def _first_dir(dirs: list[str]) -> str:
    return dirs[0] if dirs else ""


def _sun_class(dirs: list[str]) -> str:
    # images/<letter>/<class path>/file.jpg; nested class paths join with "_"
    # (a/apartment_building/outdoor -> apartment_building_outdoor)
    return "_".join(dirs[1:])


@dataclass(frozen=True)
class Release:
    """Where a dataset's image release keeps its images and how its paths name the class.

    Attributes:
        folder: the image folder inside the release (the anchor of the listed paths).
        by_file_name: join on the file name alone (the list's folders are ignored).
        class_of: the class name from the folders between ``folder`` and the file, or ``None``
            where the split file names no classes.
        download: what to download and where ``image_root`` points (for errors and the README).
    """

    folder: str
    by_file_name: bool
    class_of: Callable[[list[str]], str] | None
    download: str


RELEASES: dict[str, Release] = {
    "CUB": Release(
        "images", False, _first_dir,
        "CUB_200_2011.tgz (Caltech-UCSD Birds-200-2011); image_root = the extracted CUB_200_2011 folder",
    ),
    "SUN": Release(
        "images", False, _sun_class,
        "SUNAttributeDB_images.tar.gz (SUN Attribute Database); image_root = the folder holding images/",
    ),
    "AWA2": Release(
        "JPEGImages", False, _first_dir,
        "AwA2-data.zip (Animals with Attributes 2); image_root = the extracted Animals_with_Attributes2 folder",
    ),
    "FLO": Release(
        "jpg", True, None,
        "102flowers.tgz (Oxford 102 Flowers); image_root = the folder holding jpg/",
    ),
}
def image_folder(dataset: str, image_root: str | Path) -> Path:
    """The release's image folder under ``image_root`` (or ``image_root`` itself when it is that folder)."""
    release = _release(dataset)
    root = Path(image_root)
    if (root / release.folder).is_dir():
        return root / release.folder
    if root.name == release.folder and root.is_dir():
        return root
    raise DatasetValidationError(
        str(root), "image_root",
        f"no '{release.folder}' folder here: {dataset} needs {release.download}",
    )


def _release(dataset: str) -> Release:
    if dataset not in RELEASES:
        raise DatasetValidationError(
            "dataset_name", dataset, f"no image release known for {dataset!r}; one of {sorted(RELEASES)}"
        )
    return RELEASES[dataset]


def read_release_images(
    dataset: str, image_root: str | Path, xlsa17_folder: str | Path, name: str | None = None
) -> ZeroShotDataset:
    """The xlsa17 benchmark ``dataset`` with image paths into the user's image release.

    Rows, labels, splits, class names and embeddings are the xlsa17 folder's (``att_splits.mat``
    and the image list of ``res101.mat``), in their order; ``image_paths[i]`` is the release's
    file for row i. Does not open the images (:func:`~zsl_pipeline.data.images.check_image_files`).

    Raises:
        DatasetValidationError: naming the file and key: no image list, a listed path without
            the release's image folder, labels outside the split file's classes, or images whose
            class folder is not their label's class (each listing up to
            :data:`~zsl_pipeline.data.contract.MAX_LISTED` files).
    """
    release = _release(dataset)
    folder = Path(xlsa17_folder)
    split_path = folder / SPLITS_FILE
    image_files, labels, list_source = xlsa17_image_list(folder)
    if labels is None:
        raise DatasetValidationError(list_source, "labels", "key is missing: the image list needs its labels")
    if labels.size != len(image_files):
        raise DatasetValidationError(
            list_source, "labels", f"{labels.size} labels for {len(image_files)} image_files"
        )
    split_mat = _load_mat(split_path)
    if "att" in split_mat:  # (without it, read_split_file names the missing key)
        num_classes = np.asarray(split_mat["att"]).shape[-1]
        outside = np.flatnonzero((labels < 0) | (labels >= num_classes))
        if outside.size:
            raise DatasetValidationError(
                list_source, "labels",
                f"{outside.size} images of a class outside the {num_classes} classes of {split_path}: "
                f"{listed(image_files[i] for i in outside)}",
            )
    att, splits, names = read_split_file(split_mat, split_path, labels, Path(list_source))

    images = image_folder(dataset, image_root)
    relative, no_anchor = [], []
    for path in image_files:
        parts = [p for p in path.replace("\\", "/").split("/") if p]
        if release.by_file_name:
            relative.append(parts[-1:])
        elif release.folder in parts[:-1]:
            relative.append(parts[len(parts) - parts[::-1].index(release.folder):])
        else:
            no_anchor.append(path)
    if no_anchor:
        raise DatasetValidationError(
            list_source, "image_files",
            f"{len(no_anchor)} paths without a '{release.folder}/' folder to join them to {images}: {listed(no_anchor)}",
        )
    if release.class_of is not None and "allclasses_names" in split_mat:
        wrong = [
            f"{image_files[i]} (folder {release.class_of(rel[:-1])!r}, label {names[labels[i]]!r})"
            for i, rel in enumerate(relative)
            if release.class_of(rel[:-1]) != names[labels[i]]
        ]
        if wrong:
            raise DatasetValidationError(
                list_source, "labels", f"{len(wrong)} images whose class folder is not their label's class: {listed(wrong)}"
            )

    ds = ZeroShotDataset(
        labels=labels,
        class_embeddings=att.T.astype(np.float32),
        splits=splits,
        class_names=names,
        image_paths=tuple(str(images.joinpath(*rel)) for rel in relative),
        name=name or dataset,
    )
    validate(ds, source=f"{split_path} with the image list of {list_source}")
    logger.info("Read the %s image release at %s on the xlsa17 splits of %s: %s", dataset, images, folder, ds.summary())
    return ds

