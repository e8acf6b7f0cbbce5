"""Optional backbone fine-tuning on the seen classes (TF-VAEGAN "FT" features, methods spec §2.12).

The last block(s) of ResNet-101 and a new linear head are trained with cross-entropy on the
trainval images of the seen classes; the features are then re-extracted with the result. No
image of an unseen class (nor any test image) may be read: :func:`seen_training_indices`
builds the only index set the loop uses and raises :class:`UnseenClassLeakError` otherwise.

Frozen-activation cache (``cache_frozen_activations``): the frozen blocks run once per image
and their outputs are kept in memory, so an epoch only costs the trainable blocks (the cheap
CPU path). Augmentation must then happen *before* the frozen part, in image space: flipping
or cropping cached activations is not equivalent (convolution kernels are not mirror-
symmetric, and crop offsets do not map onto the stride-16/32 grid). So the cache holds
``cached_views`` views per image — view 0 the plain centre crop, the others random
crop + flip draws — and every epoch picks one cached view per image. That is exact
augmentation from a finite pool of ``cached_views`` draws; with caching off, every step draws a
fresh augmentation and runs the frozen part again (the GPU path for real datasets).
"""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader
from torchvision import transforms as T

from zsl_pipeline.data.contract import ZeroShotDataset
from zsl_pipeline.training.checkpoint import cpu_copy, envelope
from zsl_pipeline.training.device import (
    TRAINING_PRECISIONS,
    check_precision,
    precision_autocast,
    tf32_allowed,
)
from zsl_pipeline.training.epoch_resume import EpochCheckpoint, epoch_state, restore_epoch_state
from zsl_pipeline.training.events import emit_epoch, emit_iteration
from zsl_pipeline.training.progress import EpochProgressBar
from zsl_pipeline.training.stats import EpochStats, history_columns
from zsl_pipeline.vision.backbone import (
    BLOCK_NAMES,
    DEFAULT_CROP,
    DEFAULT_RESIZE,
    FEATURE_DIM,
    FINETUNED_FORMAT,
    ResNetBackbone,
    build_preprocess,
    imagenet_mean_std,
)
from zsl_pipeline.vision.extraction import ImagePathDataset

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT_VERSION = 1
#: The name of fine-tuning's epoch checkpoints (``training.epoch_resume``), and the settings that
#: may change on resume (the number of epochs: nothing else depends on it).
RESUME_METHOD = "finetune"
RESUME_FREE_FIELDS = frozenset({"epochs"})
BYTES_PER_GIB = 1024**3
#: Training BatchNorm needs more than one value per channel; a trailing batch of one sample
#: is merged into the previous batch (a 1x1 layer4 map at small demo resolutions).
MIN_BATCH = 2


class UnseenClassLeakError(ValueError):
    """Fine-tuning would touch an image of an unseen class or of a test split."""


@dataclass(frozen=True)
class FinetuneConfig:
    """Seen-class fine-tuning of the backbone's last block(s).

    Attributes:
        trainable_blocks: a suffix of ``BLOCK_NAMES`` to train, e.g. ``("layer4",)``.
        epochs: passes over the seen trainval images.
        lr: Adam learning rate of the backbone blocks; 1e-5 (or 1e-6) for ImageNet weights as in
            f-VAEGAN-D2 / TF-VAEGAN. A randomly initialised demo backbone needs ~1e-3.
        head_lr: learning rate of the new linear head; ``None`` = ``lr``.
        weight_decay: Adam weight decay.
        batch_size: images per step.
        resize, crop: image preprocessing sizes (reference 256 / 224).
        random_flip, random_crop: augmentation switches (random crop of ``crop`` from the
            resized image instead of the centre crop; horizontal flip with p = 0.5).
        cache_frozen_activations: run the frozen blocks once and cache (module docstring).
        cached_views: views per image in the cache (view 0 = centre crop); forced to 1 when
            both augmentation switches are off.
        max_cache_gib: refuse a cache larger than this (suggesting caching off).
        freeze_batchnorm_stats: keep the trainable blocks' BatchNorm running stats fixed.
        num_workers: DataLoader decoding processes.
        precision: ``fp32`` (default), or on CUDA ``tf32`` or ``bf16`` (autocast).
        seed: shuffling, augmentation draws and head initialisation.
    """

    trainable_blocks: tuple[str, ...] = ("layer4",)
    epochs: int = 5
    lr: float = 1e-5
    head_lr: float | None = None
    weight_decay: float = 0.0
    batch_size: int = 32
    resize: int = DEFAULT_RESIZE
    crop: int = DEFAULT_CROP
    random_flip: bool = True
    random_crop: bool = True
    cache_frozen_activations: bool = True
    cached_views: int = 2
    max_cache_gib: float = 8.0
    freeze_batchnorm_stats: bool = False
    num_workers: int = 0
    precision: str = "fp32"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.precision not in TRAINING_PRECISIONS:
            raise ValueError(f"precision must be one of {TRAINING_PRECISIONS}, got {self.precision!r}")
        blocks = tuple(self.trainable_blocks)
        object.__setattr__(self, "trainable_blocks", blocks)  # YAML gives a list; same value
        if not blocks or blocks != BLOCK_NAMES[len(BLOCK_NAMES) - len(blocks):]:
            raise ValueError(
                f"trainable_blocks must be a non-empty suffix of {BLOCK_NAMES}, got {blocks}"
            )
        if self.crop > self.resize:
            raise ValueError(f"crop ({self.crop}) must not exceed resize ({self.resize})")
        if self.epochs < 1 or self.batch_size < MIN_BATCH or self.cached_views < 1:
            raise ValueError("need epochs >= 1, batch_size >= 2 and cached_views >= 1")

    @property
    def first_trainable(self) -> int:
        """Index in ``BLOCK_NAMES`` of the first trained block (= number of frozen blocks)."""
        return BLOCK_NAMES.index(self.trainable_blocks[0])

    @property
    def augment(self) -> bool:
        return self.random_flip or self.random_crop


def seen_training_indices(ds: ZeroShotDataset) -> np.ndarray:
    """The trainval sample indices fine-tuning may use; raise if any is unseen or a test sample.

    Every label must be a seen class and not an unseen one (classes of test_unseen), and no
    index may also occur in test_seen or test_unseen.
    """
    if ds.image_paths is None:
        raise ValueError(f"dataset '{ds.name}' has no image paths: fine-tuning needs images")
    idx = np.asarray(ds.splits["trainval"], dtype=np.int64)
    labels = ds.labels[idx]
    unseen_hit = np.isin(labels, ds.unseen_classes)
    if unseen_hit.any():
        bad = idx[unseen_hit]
        raise UnseenClassLeakError(
            f"{ds.name}: {bad.size} trainval images belong to unseen classes "
            f"{np.unique(labels[unseen_hit])[:10].tolist()} (e.g. indices {bad[:5].tolist()}); "
            "fine-tuning must never see an unseen-class image"
        )
    not_seen = ~np.isin(labels, ds.seen_classes)
    if not_seen.any():  # cannot happen with seen := classes of trainval; kept as the contract
        raise UnseenClassLeakError(f"{ds.name}: trainval labels outside the seen classes")
    for split in ("test_seen", "test_unseen"):
        shared = np.intersect1d(idx, ds.splits[split])
        if shared.size:
            raise UnseenClassLeakError(
                f"{ds.name}: {shared.size} trainval indices also in {split}, e.g. {shared[:5].tolist()}"
            )
    return idx


def _train_transform(config: FinetuneConfig) -> Callable:
    preset = build_preprocess(resize=config.resize, crop=config.crop)
    mean, std = imagenet_mean_std()
    crop = T.RandomCrop(config.crop) if config.random_crop else T.CenterCrop(config.crop)
    steps = [T.Resize(config.resize, interpolation=preset.interpolation, antialias=True), crop]
    if config.random_flip:
        steps.append(T.RandomHorizontalFlip())
    steps += [T.PILToTensor(), T.ConvertImageDtype(torch.float32), T.Normalize(mean, std)]
    return T.Compose(steps)


def _batches(n: int, batch_size: int, generator: torch.Generator) -> list[list[int]]:
    """A shuffled partition of ``range(n)``; a trailing singleton joins the previous batch."""
    perm = torch.randperm(n, generator=generator).tolist()
    out = [perm[i:i + batch_size] for i in range(0, n, batch_size)]
    if len(out) > 1 and len(out[-1]) < MIN_BATCH:
        out[-2].extend(out.pop())
    return out


def _loader(dataset, batches, config: FinetuneConfig, device: torch.device, seed: int) -> DataLoader:
    return DataLoader(
        dataset,
        batch_sampler=batches,
        num_workers=config.num_workers,
        pin_memory=device.type == "cuda",
        generator=torch.Generator().manual_seed(seed),  # worker seeds
    )


def _cache_frozen(
    model: ResNetBackbone, paths: tuple[str, ...], config: FinetuneConfig, device: torch.device
) -> torch.Tensor:
    """Phase 1: frozen-block outputs of every training image, (views, n, C, h, w) float32 on CPU."""
    views = config.cached_views if config.augment else 1
    stop = config.first_trainable
    with torch.no_grad():
        probe = model.run_blocks(torch.zeros(1, 3, config.crop, config.crop, device=device), 0, stop)
    shape = (views, len(paths), *probe.shape[1:])
    gib = float(np.prod(shape)) * 4 / BYTES_PER_GIB
    if gib > config.max_cache_gib:
        raise MemoryError(
            f"frozen-activation cache would take {gib:.1f} GiB (> max_cache_gib="
            f"{config.max_cache_gib}); set cache_frozen_activations=False or fewer cached_views"
        )
    log.info("caching frozen activations %s (%.2f GiB)", tuple(shape), gib)
    cache = torch.empty(shape, dtype=torch.float32)
    for view in range(views):
        transform = build_preprocess(config.resize, config.crop) if view == 0 else _train_transform(config)
        batches = [list(range(i, min(i + config.batch_size, len(paths))))
                   for i in range(0, len(paths), config.batch_size)]
        loader = _loader(ImagePathDataset(paths, transform), batches, config, device, config.seed + view)
        with torch.no_grad():
            for idx, images in loader:
                with precision_autocast(device, config.precision):
                    acts = model.run_blocks(images.to(device), 0, stop)
                cache[view, idx] = acts.float().cpu()
    return cache


def _set_train_modes(model: ResNetBackbone, config: FinetuneConfig) -> None:
    model.eval()  # frozen blocks: eval BatchNorm
    for name in config.trainable_blocks:
        block = model.block(name)
        block.train()
        if config.freeze_batchnorm_stats:
            for m in block.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.eval()


def finetune_backbone(
    ds: ZeroShotDataset,
    config: FinetuneConfig,
    device: torch.device | str,
    backbone: ResNetBackbone,
    on_epoch: Callable[[int, dict[str, float]], None] | None = None,
    *,
    progress: bool = True,
    resume_file: EpochCheckpoint | None = None,
) -> tuple[dict[str, Any], dict[str, list[float]]]:
    """Fine-tune ``config.trainable_blocks`` + a linear head on the seen trainval images.

    Returns ``(checkpoint, history)``. The checkpoint is self-describing and loads with
    ``torch.load(..., weights_only=True)``; ``build_backbone(checkpoint)`` (or its saved path)
    rebuilds the fine-tuned backbone. ``backbone`` is copied, never modified. ``history`` has
    one entry per epoch: ``epoch``, ``loss``, ``train_accuracy``, ``seconds``. ``progress``: a
    progress bar over epochs with an inner bar over the epoch's batches. ``resume_file``: an
    epoch checkpoint (``training.epoch_resume``) to continue from and to save after every epoch
    but the last (the trainable weights, head, Adam, the batch and global CPU generators).
    """
    device = torch.device(device)
    check_precision(config.precision, device)
    train_idx = seen_training_indices(ds)
    if train_idx.size < MIN_BATCH:
        raise ValueError(f"{ds.name}: fine-tuning needs at least {MIN_BATCH} trainval images")
    seen = ds.seen_classes
    paths = tuple(ds.image_paths[i] for i in train_idx)  # type: ignore[index]
    # seen class id -> head output 0..S-1 (seen is sorted)
    targets = torch.as_tensor(np.searchsorted(seen, ds.labels[train_idx]), dtype=torch.long)
    stop = config.first_trainable

    model = copy.deepcopy(backbone).to(device)
    for p in model.parameters():
        p.requires_grad_(False)
    trainable = [p for name in config.trainable_blocks for p in model.block(name).parameters()]
    for p in trainable:
        p.requires_grad_(True)

    rows: list[dict[str, float]] = []
    # sums over samples in float64, as Python floats summed them before (the history is unchanged)
    epoch_stats = EpochStats(device, dtype=torch.float64, train=("loss", "train_accuracy"))
    # seeded, without touching the caller's RNG; TF32 only when asked for
    with (
        torch.random.fork_rng(devices=[]),
        tf32_allowed(config.precision == "tf32"),
        EpochProgressBar(config.epochs, "fine-tuning", enabled=progress) as bar,
    ):
        # the CPU's generator only: torch.manual_seed would also reseed every GPU's, which
        # fork_rng(devices=[]) does not restore (the caller's CUDA RNG state would change)
        torch.default_generator.manual_seed(config.seed)
        head = nn.Linear(FEATURE_DIM, seen.size).to(device)
        optimizer = torch.optim.Adam(
            [
                {"params": trainable, "lr": config.lr},
                {"params": head.parameters(),
                 "lr": config.head_lr if config.head_lr is not None else config.lr},
            ],
            weight_decay=config.weight_decay,
        )
        generator = torch.Generator().manual_seed(config.seed)

        # Phase 1: frozen activations (cached path) -------------------------------------
        model.eval()
        cache = _cache_frozen(model, paths, config, device) if config.cache_frozen_activations else None
        train_set = ImagePathDataset(paths, _train_transform(config)) if cache is None else None

        config_dict = {**asdict(config), "trainable_blocks": list(config.trainable_blocks)}
        networks, optimizers = {"backbone": model, "head": head}, {"adam": optimizer}
        first = 1
        resume = (
            resume_file.load(method=RESUME_METHOD, version=CHECKPOINT_FORMAT_VERSION, config=config_dict,
                             stream_type="cpu", nepoch=config.epochs, free=RESUME_FREE_FIELDS)
            if resume_file is not None
            else None
        )
        if resume is not None:  # after the cache: it is rebuilt exactly as the first run built it
            done, rows = restore_epoch_state(resume, networks, optimizers, generator)
            torch.default_generator.set_state(resume["global_rng"])
            first = done + 1
            bar.advance_to(done)
            log.info("fine-tuning: resuming after epoch %d from %s", done, resume_file.path)

        # Phase 2: train the trainable blocks and the head ------------------------------
        for epoch in range(first, config.epochs + 1):
            start = time.perf_counter()
            _set_train_modes(model, config)
            head.train()
            batches = _batches(train_idx.size, config.batch_size, generator)
            if cache is None:
                stream = _loader(train_set, batches, config, device, config.seed + epoch)
            else:
                view = torch.randint(cache.shape[0], (train_idx.size,), generator=generator)
                stream = ((torch.as_tensor(b), cache[view[b], b]) for b in batches)
            for step, (idx, x) in enumerate(stream, start=1):
                x, y = x.to(device, non_blocking=True), targets[idx].to(device)
                with precision_autocast(device, config.precision):
                    if cache is None:
                        with torch.no_grad():
                            x = model.run_blocks(x, 0, stop)  # frozen blocks
                    logits = head(model.pool(model.run_blocks(x, stop)))  # (B, S)
                    loss = F.cross_entropy(logits.float(), y, reduction="mean")
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                sums = torch.stack([loss.detach().double() * y.numel(), (logits.argmax(1) == y).sum().double()])
                epoch_stats.add("train", sums, count=y.numel())
                emit_iteration(step, len(batches))
            row = {**epoch_stats.close(epoch, "fine-tuning"), "seconds": time.perf_counter() - start}
            rows.append(row)
            emit_epoch("finetune", epoch, row)
            log.info("fine-tune epoch %d/%d: loss %.4f, train acc %.3f (%.1f s)",
                     epoch, config.epochs, row["loss"], row["train_accuracy"], row["seconds"])
            if on_epoch is not None:
                on_epoch(epoch, row)
            bar.set_metrics({"loss": row["loss"], "acc": row["train_accuracy"]})
            bar.advance_to(epoch)
            if resume_file is not None and epoch < config.epochs:
                resume_file.save(
                    envelope(
                        method=RESUME_METHOD, version=CHECKPOINT_FORMAT_VERSION, config=config_dict,
                        models=networks, history=rows, feature_dim=FEATURE_DIM, attr_dim=0,
                        **epoch_state(epoch, optimizers, generator),
                        global_rng=torch.default_generator.get_state(),
                    )
                )

    checkpoint = {
        "format": FINETUNED_FORMAT,
        "format_version": CHECKPOINT_FORMAT_VERSION,
        "arch": "resnet101",
        "dataset": ds.name,
        "config": config_dict,
        "seen_classes": [int(c) for c in seen],
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "head_state_dict": {k: v.detach().cpu() for k, v in head.state_dict().items()},
        "optimizer_state_dict": cpu_copy(optimizer.state_dict()),  # loads on a machine without the GPU
        "epoch": config.epochs,
        "history": history_columns(rows),
    }
    return checkpoint, checkpoint["history"]
