"""Feature extraction: images -> (N, 2048) ResNet-101 average-pool features, in input order.

Memory beyond the output is bounded by one batch: images are streamed through a DataLoader
(``num_workers`` decoding processes) and each batch's features are written into the output,
allocated once. With a ``shard_dir`` the output is a memory-mapped ``.npy`` file there (it
need not fit in RAM: ImageNet-21k is ~14M x 2048 float32 = 115 GB) and every finished shard of
``shard_size`` images is saved as ``shard_<k>.npy``; a killed extraction started again with
the same ``shard_dir`` loads those and reads only the images of unfinished shards.
"""

from __future__ import annotations

import copy
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch
from numpy.lib.format import open_memmap
from PIL import Image
from torch.utils.data import DataLoader, Dataset, Sampler
from torchvision import transforms as T
from torchvision.transforms._presets import ImageClassification
from tqdm.auto import tqdm

from zsl_pipeline.data.contract import ZeroShotDataset
from zsl_pipeline.data.images import load_image  # the one image reader; tests spy on it here
from zsl_pipeline.training.device import PRECISIONS, check_precision, precision_autocast, tf32_allowed
from zsl_pipeline.vision.backbone import (
    DEFAULT_CROP,
    DEFAULT_INIT_SEED,
    DEFAULT_RESIZE,
    FEATURE_DIM,
    ResNetBackbone,
    build_backbone,
    build_preprocess,
)

log = logging.getLogger(__name__)

#: The memory-mapped output inside a ``shard_dir`` (rebuilt from the shard files on every call).
OUTPUT_FILE = "features.npy"


@dataclass(frozen=True)
class ExtractionConfig:
    """How to turn images into features.

    Attributes:
        weights: backbone weights when no backbone is passed in (see ``build_backbone``).
        resize: short side after resizing (reference 256).
        crop: centre-crop size (reference 224).
        batch_size: images per forward pass; bounds memory.
        num_workers: DataLoader decoding processes (0 = in the main process).
        precision: ``fp32`` (default), or on CUDA ``tf32``, ``bf16`` or ``fp16`` (autocast).
        channels_last: NHWC memory format for the convolutions.
        init_seed: random-init seed when ``weights == "none"``.
        shard_size: images per shard (with a ``shard_dir``): the unit of resuming. A killed
            extraction loses at most one shard's work; each shard file is ``shard_size`` x 2048
            float32 (4096 images: 32 MiB).
    """

    weights: str = "imagenet"
    resize: int = DEFAULT_RESIZE
    crop: int = DEFAULT_CROP
    batch_size: int = 64
    num_workers: int = 4
    precision: str = "fp32"
    channels_last: bool = True
    init_seed: int = DEFAULT_INIT_SEED
    shard_size: int = 4096

    def __post_init__(self) -> None:
        if self.crop > self.resize:
            raise ValueError(f"crop ({self.crop}) must not exceed resize ({self.resize})")
        if self.batch_size < 1 or self.num_workers < 0 or self.shard_size < 1:
            raise ValueError("batch_size and shard_size must be >= 1 and num_workers >= 0")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")


class ImagePathDataset(Dataset):
    """Image files -> transformed tensors, in the given order; ``__getitem__`` returns (i, x)."""

    def __init__(self, paths: Sequence[str], transform: Callable[[Image.Image], torch.Tensor]):
        self.paths = tuple(str(p) for p in paths)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[int, torch.Tensor]:
        # ``load_image`` is resolved on this module at call time: a spy patched there sees every read.
        return i, self.transform(load_image(self.paths[i]))


class DecodeAndCrop:
    """PIL image -> (3, crop, crop) uint8 tensor: the first half of the preset (``build_preprocess``),
    its resize of the short side and centre crop. The second half, scaling to [0, 1] and the
    ImageNet normalisation, runs on whole batches on the device (:meth:`normalise`): the same
    elementwise operations, so bit-identical to the preset applied per image (tested), while a
    DataLoader moves and pins a quarter of the bytes and no tiny per-image float op runs."""

    def __init__(self, preset: ImageClassification):
        self.crop = T.Compose([
            T.Resize(preset.resize_size, interpolation=preset.interpolation, antialias=preset.antialias),
            T.CenterCrop(preset.crop_size),
            T.PILToTensor(),
        ])  # fmt: skip
        self.scale = T.Compose([T.ConvertImageDtype(torch.float), T.Normalize(mean=preset.mean, std=preset.std)])

    def __call__(self, image: Image.Image) -> torch.Tensor:
        return self.crop(image)

    def normalise(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, crop, crop) uint8 -> float32 normalised, on ``images``' device."""
        return self.scale(images)


def _is_ready(model: torch.nn.Module, device: torch.device, memory_format: torch.memory_format) -> bool:
    """Already in eval mode, on ``device`` and (4-D weights) in ``memory_format``."""
    if any(m.training for m in model.modules()):
        return False
    for p in model.parameters():
        if p.device.type != device.type or (device.index is not None and p.device.index != device.index):
            return False
        if p.ndim == 4 and not p.is_contiguous(memory_format=memory_format):
            return False
    return True


class ShardBatches(Sampler[list[int]]):
    """Index batches of ``batch_size`` within each listed shard (images ``[k*S, (k+1)*S)``).

    A batch never spans two shards, so a resumed run, which starts at an unfinished shard,
    batches every image exactly as an uninterrupted run does (batch composition changes float
    rounding). Holds only the shard numbers: nothing here grows with the number of images.
    """

    def __init__(self, num_images: int, shard_size: int, shards: Sequence[int], batch_size: int):
        self.num_images, self.shard_size, self.batch_size = num_images, shard_size, batch_size
        self.shards = tuple(shards)

    def _bounds(self, k: int) -> tuple[int, int]:
        return k * self.shard_size, min((k + 1) * self.shard_size, self.num_images)

    def __iter__(self) -> Iterator[list[int]]:
        for k in self.shards:
            lo, hi = self._bounds(k)
            for start in range(lo, hi, self.batch_size):
                yield list(range(start, min(start + self.batch_size, hi)))

    def __len__(self) -> int:
        spans = (hi - lo for lo, hi in map(self._bounds, self.shards))
        return sum(-(-span // self.batch_size) for span in spans)


def shard_file(shard_dir: str | Path, k: int) -> Path:
    """The file of finished shard ``k`` in ``shard_dir``."""
    return Path(shard_dir) / f"shard_{k:05d}.npy"


def _save_shard(path: Path, rows: np.ndarray) -> None:
    """``np.save`` to a temporary file beside ``path``, then rename: a killed run leaves no half shard."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".npy.tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.save(fh, rows)  # a contiguous (memmap) slice is written as is, without a copy
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _load_finished_shards(shard_dir: Path, out: np.ndarray, shard_size: int) -> list[int]:
    """Copy every finished shard of ``shard_dir`` into ``out``; return the unfinished shards."""
    n = out.shape[0]
    num_shards = -(-n // shard_size)
    if shard_file(shard_dir, num_shards).exists():
        raise ValueError(
            f"{shard_file(shard_dir, num_shards)} is beyond the {num_shards} shards of {n} images "
            f"(shard_size {shard_size}): {shard_dir} holds another extraction; use another shard_dir or delete it"
        )
    todo = []
    for k in range(num_shards):
        path, lo, hi = shard_file(shard_dir, k), k * shard_size, min((k + 1) * shard_size, n)
        if not path.is_file():
            todo.append(k)
            continue
        try:
            rows = np.load(path, mmap_mode="r", allow_pickle=False)
        except Exception as exc:  # numpy raises several types for a corrupt file
            raise ValueError(f"shard file {path} is not a readable .npy file ({exc}); delete it to redo it") from exc
        if rows.shape != (hi - lo, FEATURE_DIM) or rows.dtype != np.float32:
            raise ValueError(
                f"shard file {path} holds {rows.shape} {rows.dtype}, expected ({hi - lo}, {FEATURE_DIM}) float32: "
                f"{shard_dir} holds another extraction (other images or shard_size); use another shard_dir or delete it"
            )
        out[lo:hi] = rows
        del rows  # closes the file's mapping
    return todo


def extract_features(
    image_paths: Sequence[str],
    config: ExtractionConfig,
    device: torch.device | str,
    backbone: ResNetBackbone | None = None,
    progress: bool = True,
    *,
    shard_dir: str | Path | None = None,
) -> np.ndarray:
    """(N, 2048) float32 features of ``image_paths``, row i for path i.

    Deterministic for a given backbone, config and device (eval mode, no augmentation). A
    passed-in ``backbone`` is never modified: it is used as is when already in eval mode on
    ``device`` in the configured memory format, otherwise copied first. Without one it is
    built from ``config.weights``.

    With ``shard_dir`` (created if missing) the result is a read-write memory map of
    ``shard_dir/features.npy`` (copy it, e.g. ``np.array(result)``, before deleting the folder)
    and each finished shard of ``config.shard_size`` images is written atomically to
    ``shard_<k>.npy``. A later call with the same ``shard_dir`` loads the finished shards and
    reads only the images of the others, so a killed extraction resumes at its last finished
    shard with the same result as an uninterrupted one (batches never span shards). The folder
    must belong to these images, this backbone and these settings (``vision.stages`` names it
    by a hash of them); shard files of the wrong shape are refused, naming the file. Nothing is
    deleted here: the caller removes ``shard_dir`` once done. Without ``shard_dir`` the output
    is an ordinary array and nothing is written.

    Memory beyond the output does not grow with the number of images: batches are written
    into the preallocated output (no per-batch list, no final concatenation).
    """
    device = torch.device(device)
    check_precision(config.precision, device)
    paths = tuple(str(p) for p in image_paths)
    n = len(paths)
    if n == 0:
        return np.empty((0, FEATURE_DIM), dtype=np.float32)
    if shard_dir is None:
        out = np.empty((n, FEATURE_DIM), dtype=np.float32)
        shard_size, todo = n, [0]  # one shard, never saved: batches as they always were
    else:
        shard_dir = Path(shard_dir)
        shard_dir.mkdir(parents=True, exist_ok=True)
        for stale in shard_dir.glob(".shard_*.npy.tmp"):  # a write cut short by a kill
            stale.unlink()
        out = open_memmap(shard_dir / OUTPUT_FILE, mode="w+", dtype=np.float32, shape=(n, FEATURE_DIM))
        shard_size = config.shard_size
        todo = _load_finished_shards(shard_dir, out, shard_size)
    if not todo:
        return out
    loaded = n - sum(min((k + 1) * shard_size, n) - k * shard_size for k in todo)
    memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
    if backbone is None:
        model = build_backbone(config.weights, init_seed=config.init_seed)
    elif _is_ready(backbone, device, memory_format):
        model = backbone  # inference only: nothing to change, no copy needed
    else:
        model = copy.deepcopy(backbone)  # never move or convert the caller's module
    model = model.eval().to(device=device, memory_format=memory_format)

    transform = DecodeAndCrop(build_preprocess(resize=config.resize, crop=config.crop))
    loader = DataLoader(
        ImagePathDataset(paths, transform),
        batch_sampler=ShardBatches(n, shard_size, todo, config.batch_size),
        num_workers=config.num_workers,
        pin_memory=device.type == "cuda",
        persistent_workers=False,
    )
    remaining = {k: min((k + 1) * shard_size, n) - k * shard_size for k in todo}  # images left per shard
    if loaded:
        log.info("%d of %d images already extracted (finished shards in %s)", loaded, n, shard_dir)
    start = time.perf_counter()
    with (
        torch.inference_mode(),
        tqdm(total=n, initial=loaded, unit="img", desc="feature extraction", disable=not progress) as bar,
    ):
        for idx, images in loader:
            images = transform.normalise(images.to(device, non_blocking=True)).contiguous(memory_format=memory_format)
            with precision_autocast(device, config.precision), tf32_allowed(config.precision == "tf32"):
                feats = model(images)  # (B, 2048)
            first, count = int(idx[0]), len(idx)  # a batch is a contiguous run within one shard
            out[first : first + count] = feats.float().cpu().numpy()
            bar.update(count)
            k = first // shard_size
            remaining[k] -= count
            if remaining[k] == 0 and shard_dir is not None:
                _save_shard(shard_file(shard_dir, k), out[k * shard_size : min((k + 1) * shard_size, n)])
    seconds = time.perf_counter() - start
    log.info(
        "extracted %d features on %s in %.1f s (%.1f images/s)%s",
        n - loaded, device, seconds, (n - loaded) / max(seconds, 1e-9),
        f"; {loaded} loaded from finished shards" if loaded else "",
    )
    if isinstance(out, np.memmap):
        out.flush()
    return out


def extract_dataset_features(
    ds: ZeroShotDataset,
    config: ExtractionConfig,
    device: torch.device | str,
    backbone: ResNetBackbone | None = None,
    progress: bool = True,
    *,
    shard_dir: str | Path | None = None,
) -> ZeroShotDataset:
    """A copy of the image dataset ``ds`` carrying its extracted features (in memory, also
    with a ``shard_dir``: see :func:`extract_features`; the folder is left to the caller)."""
    if ds.image_paths is None:
        raise ValueError(f"dataset '{ds.name}' has no image paths to extract features from")
    feats = extract_features(ds.image_paths, config, device, backbone=backbone, progress=progress, shard_dir=shard_dir)
    if isinstance(feats, np.memmap):
        feats = np.array(feats)  # off the file, so that the caller may delete the folder
    return ds.with_features(feats)


def extraction_backbone(weights: str, init_seed: int = DEFAULT_INIT_SEED, finetuned: Any = None) -> ResNetBackbone:
    """The backbone features come from: the fine-tuned checkpoint when given, else ``weights``."""
    return build_backbone(finetuned) if finetuned is not None else build_backbone(weights, init_seed=init_seed)
