"""Miniature image releases of the benchmarks, for the tests of ``data.releases`` and the
image environments.

A miniature keeps a few hundred rows of the real xlsa17 image list (CUB, SUN, AWA2: the
``image_labels_files.npz`` of ``../shared/xlsa17``, with the original machine's path prefix put
back as a real ``res101.mat`` has it) and cuts the split file down to exactly those rows; each
listed image is written as a tiny JPEG where the release keeps it. FLO's image list is not among
the reference files, so its miniature is generated in the same form (``.../jpg/image_NNNNN.jpg``,
numbered independently of the class). Images are coloured by class, so features carry the class.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.io as sio
from PIL import Image

from zsl_pipeline.data.releases import RELEASES

#: The prefix of the paths in the real res101.mat files (the machine that built the release).
LISTED_PREFIX = {
    "CUB": "/BS/Deep_Fragments/work/MSc/CUB_200_2011/",
    "SUN": "/BS/Deep_Fragments/work/MSc/data/SUN/",
    "AWA2": "/BS/xian/work/data/",
    "FLO": "/BS/xian/work/data/flowers/",
}
#: The folder a user's download extracts to (image_root), per dataset.
RELEASE_ROOT = {"CUB": "CUB_200_2011", "SUN": "SUN", "AWA2": "Animals_with_Attributes2", "FLO": "flowers"}


@dataclass
class MiniRelease:
    """A miniature release on disk and what a reader must give back for it."""

    dataset: str
    image_root: Path  # the user's release folder
    xlsa17_root: Path  # holds <dataset>/att_splits.mat + res101.mat
    image_files: list[str]  # as listed in res101.mat, in its order
    labels: np.ndarray  # 0-based, list order
    splits: dict[str, np.ndarray]  # 0-based row indices
    att: np.ndarray  # (C, A)
    class_names: tuple[str, ...] | None

    @property
    def xlsa17_folder(self) -> Path:
        return self.xlsa17_root / self.dataset

    def image_path(self, i: int) -> Path:
        """Where row i's image is in the release (the join's expected answer)."""
        release = RELEASES[self.dataset]
        parts = [p for p in self.image_files[i].split("/") if p]
        rel = parts[-1:] if release.by_file_name else parts[len(parts) - parts[::-1].index(release.folder):]
        return self.image_root.joinpath(release.folder, *rel)


def _pick_rows(labels: np.ndarray, splits: dict[str, np.ndarray], seen: int, unseen: int,
               per_class: tuple[int, int, int], rng: np.random.Generator) -> np.ndarray:
    seen_classes = rng.choice(np.unique(labels[splits["trainval"]]), seen, replace=False)
    unseen_classes = rng.choice(np.unique(labels[splits["test_unseen"]]), unseen, replace=False)
    rows = []
    for split, classes, k in (("trainval", seen_classes, per_class[0]), ("test_seen", seen_classes, per_class[1]),
                              ("test_unseen", unseen_classes, per_class[2])):  # fmt: skip
        idx = splits[split]
        for c in classes:
            rows.append(idx[labels[idx] == c][:k])
    return np.sort(np.concatenate(rows))


def build_release(
    root: Path,
    dataset: str,
    shared_xlsa17: Path | None = None,
    *,
    seen: int = 10,
    unseen: int = 5,
    per_class: tuple[int, int, int] = (12, 4, 8),
    used_classes_only: bool = False,
    image_size: int = 40,
    seed: int = 0,
) -> MiniRelease:
    """A miniature ``dataset`` release under ``root`` (module docstring): ``seen`` and ``unseen``
    classes with ``per_class`` = (trainval, test_seen, test_unseen) images each. The split file
    keeps every class of the real one, or with ``used_classes_only`` only the classes of the kept
    rows (relabelled in the real class order). CUB, SUN and AWA2 need ``shared_xlsa17``."""
    rng = np.random.default_rng(seed)
    real_mat: dict = {}
    if dataset == "FLO":
        labels, files, splits, att, names = _generated_flo(seen + unseen, rng)
    else:
        real_mat = sio.loadmat(str(shared_xlsa17 / dataset / "att_splits.mat"))
        with np.load(shared_xlsa17 / dataset / "image_labels_files.npz", allow_pickle=False) as npz:
            labels, files = npz["labels"].astype(np.int64), [str(f) for f in npz["image_files"]]
        splits = {s: real_mat[f"{s}_loc"].ravel().astype(np.int64) - 1 for s in ("trainval", "test_seen", "test_unseen", "train", "val") if f"{s}_loc" in real_mat}
        att = real_mat["att"].T.astype(np.float64)
        names = tuple(str(np.asarray(c).ravel()[0]) for c in real_mat["allclasses_names"].ravel())
    rows = _pick_rows(labels, splits, seen, unseen, per_class, rng)
    new_row = -np.ones(labels.size, dtype=np.int64)
    new_row[rows] = np.arange(rows.size)
    mini_splits = {s: new_row[idx[np.isin(idx, rows)]] for s, idx in splits.items()}
    mini_splits = {s: np.sort(v) for s, v in mini_splits.items() if v.size or s in ("trainval", "test_seen", "test_unseen")}
    mini_labels = labels[rows]
    if used_classes_only:
        classes = np.unique(mini_labels)
        att, mini_labels = att[classes], np.searchsorted(classes, mini_labels)
        names = tuple(names[c] for c in classes) if names is not None else None
    listed = [LISTED_PREFIX[dataset] + files[r] for r in rows]

    folder = root / "xlsa17" / dataset
    folder.mkdir(parents=True)
    content = {"att": att.T, "original_att": att.T}
    content.update({f"{s}_loc": (v + 1).reshape(-1, 1).astype(np.float64) for s, v in mini_splits.items()})
    if names is not None:
        cells = np.empty((len(names), 1), dtype=object)
        cells[:, 0] = names
        content["allclasses_names"] = cells
    sio.savemat(str(folder / "att_splits.mat"), content)
    image_files = np.empty((len(listed), 1), dtype=object)
    image_files[:, 0] = listed
    sio.savemat(str(folder / "res101.mat"), {
        "features": rng.random((2048, len(listed)), dtype=np.float32),
        "labels": (mini_labels + 1).reshape(-1, 1).astype(np.float64),
        "image_files": image_files,
    })
    mini = MiniRelease(dataset, root / RELEASE_ROOT[dataset], root / "xlsa17", listed, mini_labels,
                       mini_splits, att, names)  # fmt: skip
    colours = np.random.default_rng(1).integers(0, 256, size=(att.shape[0], 3))
    for i, label in enumerate(mini_labels):
        path = mini.image_path(i)
        path.parent.mkdir(parents=True, exist_ok=True)
        noise = rng.integers(-40, 40, size=(image_size, image_size + 8, 3))
        pixels = np.clip(colours[label] + noise, 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(path, format="JPEG")
    return mini


def _generated_flo(num_classes: int, rng: np.random.Generator):
    """A FLO-like list: classes, splits (train/val too), 1024-d embeddings, image_NNNNN.jpg files."""
    per_class = 30
    labels = np.repeat(np.arange(num_classes), per_class)
    numbers = rng.permutation(labels.size) + 1  # FLO numbers images independently of the class
    files = [f"jpg/image_{n:05d}.jpg" for n in numbers]
    unseen = np.arange(num_classes - num_classes // 3, num_classes)
    seen_rows = np.flatnonzero(~np.isin(labels, unseen))
    is_test_seen = np.zeros(labels.size, dtype=bool)
    is_test_seen[seen_rows[np.arange(seen_rows.size) % 5 == 0]] = True
    splits = {
        "trainval": np.flatnonzero(~np.isin(labels, unseen) & ~is_test_seen),
        "test_seen": np.flatnonzero(is_test_seen),
        "test_unseen": np.flatnonzero(np.isin(labels, unseen)),
    }
    att = rng.random((num_classes, 1024))
    return labels, files, splits, att / np.linalg.norm(att, axis=1, keepdims=True), None
