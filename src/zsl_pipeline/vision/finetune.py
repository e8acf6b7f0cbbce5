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

Held-out early stopping (``holdout_fraction``, ``patience``), as the reproduction report did it:
a stratified part of the seen trainval images (:func:`holdout_split`) is never trained on; after
every epoch the model is evaluated on it (eval mode, centre crop: with the cache, the held-out
images' own cached view 0, kept apart from the training cache), the best epoch (highest holdout
accuracy; on a tie the lower holdout loss; on a tie of both the earlier epoch) is remembered
with its weights and Adam state, training stops after ``patience`` epochs without improvement,
and the returned checkpoint is the best epoch's. Without a holdout the result is the last epoch.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Iterable, Mapping, Sequence

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
from zsl_pipeline.training.optim import fused_adam
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
#: Learning-rate schedules: ``constant`` (the reference's) or ``cosine`` (decay to 0 over all
#: ``epochs``' steps, a function of the step index alone, so a resumed run is exact).
LR_SCHEDULES = ("constant", "cosine")
BYTES_PER_GIB = 1024**3
#: Training BatchNorm needs more than one value per channel; a trailing batch of one sample
#: is merged into the previous batch (a 1x1 layer4 map at small demo resolutions).
MIN_BATCH = 2
#: Mixed into ``seed`` for the holdout draw, so it is a stream of its own (not the training one).
HOLDOUT_STREAM = 0x686F6C64  # "hold"


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
        seed: shuffling, augmentation draws and head initialisation; with ``HOLDOUT_STREAM``
            also the holdout draw (a numpy stream of its own).
        holdout_fraction: part of every seen class's trainval images held out for early stopping
            and the choice of the returned epoch (:func:`holdout_split`); 0 = no holdout: the
            last epoch is returned (the demo). The reproduction report used 0.1.
        patience: stop after this many epochs without improvement of the holdout accuracy (a
            tie: the lower holdout loss improves); ``None`` = run all ``epochs``. Needs a holdout.
        lr_schedule: ``constant`` (the reference) or ``cosine``: every step's learning rate is
            ``lr`` (and ``head_lr``) x (1 + cos(pi t / T)) / 2 at step t of T = ``epochs`` x
            batches per epoch, so training ends at a learning rate near 0 (:func:`lr_factor`).
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
    holdout_fraction: float = 0.0
    patience: int | None = None
    lr_schedule: str = "constant"

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
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, got {self.lr_schedule!r}")
        if self.epochs < 1 or self.batch_size < MIN_BATCH or self.cached_views < 1:
            raise ValueError("need epochs >= 1, batch_size >= 2 and cached_views >= 1")
        if not 0.0 <= self.holdout_fraction < 1.0:  # also False for NaN
            raise ValueError(f"holdout_fraction must be in [0, 1), got {self.holdout_fraction!r}")
        if self.patience is not None:
            if isinstance(self.patience, bool) or self.patience < 1:
                raise ValueError(f"patience must be an integer >= 1 or null, got {self.patience!r}")
            if self.holdout_fraction == 0.0:
                raise ValueError(
                    f"patience={self.patience} needs a holdout to watch: set holdout_fraction > 0 "
                    f"(got holdout_fraction={self.holdout_fraction!r}) or patience to null"
                )

    @property
    def first_trainable(self) -> int:
        """Index in ``BLOCK_NAMES`` of the first trained block (= number of frozen blocks)."""
        return BLOCK_NAMES.index(self.trainable_blocks[0])

    @property
    def augment(self) -> bool:
        return self.random_flip or self.random_crop

    @property
    def uses_holdout(self) -> bool:
        return self.holdout_fraction > 0.0

    @property
    def resume_free_fields(self) -> frozenset[str]:
        """Settings a resumed run may change: ``epochs``, unless the schedule depends on it."""
        return RESUME_FREE_FIELDS if self.lr_schedule == "constant" else frozenset()


def lr_factor(schedule: str, step: int, total_steps: int) -> float:
    """The learning-rate multiplier of (0-based) ``step`` of ``total_steps`` (``LR_SCHEDULES``)."""
    if schedule == "constant":
        return 1.0
    return 0.5 * (1.0 + math.cos(math.pi * step / total_steps))


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


def holdout_counts(class_sizes: np.ndarray, fraction: float) -> np.ndarray:
    """Images held out of each class: ``fraction * n`` rounded half up, at least 1 when ``n >= 2``
    and ``fraction > 0``, at most ``n - 1`` (never a whole class; a class of 1 image gives 0)."""
    n = np.asarray(class_sizes, dtype=np.int64)
    if fraction <= 0.0:
        return np.zeros_like(n)
    k = np.floor(fraction * n + 0.5).astype(np.int64)
    return np.where(n >= 2, np.clip(k, 1, np.maximum(n - 1, 1)), 0)


def holdout_split(ds: ZeroShotDataset, config: FinetuneConfig) -> tuple[np.ndarray, np.ndarray]:
    """``(train, holdout)`` sample indices: a partition of :func:`seen_training_indices` (which
    gates both: no unseen-class or test image can be in either).

    The holdout is stratified per seen class (:func:`holdout_counts` of each class's trainval
    images), drawn by a numpy generator seeded from ``(config.seed, HOLDOUT_STREAM)``: the
    same for every run of a seed, and independent of the training stream. Both arrays keep the
    trainval order; without a holdout ``train`` is the whole seen trainval, ``holdout`` empty.
    """
    idx = seen_training_indices(ds)
    if not config.uses_holdout:
        return idx, idx[:0]
    labels = ds.labels[idx]
    classes, sizes = np.unique(labels, return_counts=True)
    counts = holdout_counts(sizes, config.holdout_fraction)
    rng = np.random.default_rng([config.seed, HOLDOUT_STREAM])
    held = np.zeros(idx.size, dtype=bool)
    for c, k in zip(classes, counts):  # one draw per class, not per sample
        members = np.flatnonzero(labels == c)
        held[rng.permutation(members)[:k]] = True
    if not held.any():
        raise ValueError(
            f"{ds.name}: holdout_fraction={config.holdout_fraction} holds out no image (every seen "
            "class has fewer than 2 trainval images); set holdout_fraction to 0"
        )
    return idx[~held], idx[held]


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
    model: ResNetBackbone,
    paths: tuple[str, ...],
    config: FinetuneConfig,
    device: torch.device,
    *,
    views: int | None = None,
    gib_taken: float = 0.0,
) -> torch.Tensor:
    """Phase 1: frozen-block outputs of every image of ``paths``, (views, n, C, h, w) float32 on
    CPU. ``views``: default ``cached_views`` (1 without augmentation); 1 = the centre crop only
    (the holdout). ``gib_taken``: GiB of ``max_cache_gib`` another cache already holds."""
    if views is None:
        views = config.cached_views if config.augment else 1
    stop = config.first_trainable
    with torch.no_grad():
        probe = model.run_blocks(torch.zeros(1, 3, config.crop, config.crop, device=device), 0, stop)
    shape = (views, len(paths), *probe.shape[1:])
    gib = float(np.prod(shape)) * 4 / BYTES_PER_GIB
    if gib_taken + gib > config.max_cache_gib:
        raise MemoryError(
            f"frozen-activation cache would take {gib_taken + gib:.1f} GiB (> max_cache_gib="
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


def _evaluate_holdout(
    model: ResNetBackbone,
    head: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    *,
    start: int,
    targets: torch.Tensor,
    config: FinetuneConfig,
    device: torch.device,
) -> dict[str, float]:
    """Mean cross-entropy and accuracy on the holdout, in eval mode, without gradients; one
    host sync. ``batches``: ``(holdout positions, inputs of block BLOCK_NAMES[start])``."""
    model.eval()
    head.eval()
    sums = torch.zeros(2, dtype=torch.float64, device=device)
    with torch.no_grad():
        for idx, x in batches:
            x, y = x.to(device, non_blocking=True), targets[idx].to(device)
            with precision_autocast(device, config.precision):
                logits = head(model.pool(model.run_blocks(x, start)))
                loss = F.cross_entropy(logits.float(), y, reduction="sum")
            sums += torch.stack([loss.double(), (logits.argmax(1) == y).sum().double()])
    loss, accuracy = (sums / targets.numel()).tolist()
    if not (math.isfinite(loss) and math.isfinite(accuracy)):
        raise FloatingPointError(f"fine-tuning's holdout loss is not finite: {loss}")
    return {"holdout_loss": loss, "holdout_accuracy": accuracy}


def _improves(row: Mapping[str, float], best: Mapping[str, float] | None) -> bool:
    """Whether ``row`` beats ``best``: a higher holdout accuracy, or the same and a lower loss
    (a tie of both keeps the earlier epoch)."""
    if best is None:
        return True
    return (row["holdout_accuracy"], -row["holdout_loss"]) > (best["holdout_accuracy"], -best["holdout_loss"])


def best_epoch(history: Sequence[Mapping[str, float]]) -> int | None:
    """The best holdout epoch of per-epoch rows (:func:`_improves`); None without holdout rows."""
    best = None
    for row in history:  # one row per epoch
        if "holdout_accuracy" in row and _improves(row, best):
            best = row
    return None if best is None else int(best["epoch"])


def _snapshot(
    model: ResNetBackbone, head: nn.Module, optimizer: torch.optim.Optimizer, config: FinetuneConfig
) -> dict[str, Any]:
    """CPU copies of what one epoch changed: the trainable blocks (weights and BatchNorm
    buffers), the head and the Adam state. The frozen blocks never change."""
    return {
        "blocks": {name: cpu_copy(model.block(name).state_dict()) for name in config.trainable_blocks},
        "head": cpu_copy(head.state_dict()),
        "optimizer": cpu_copy(optimizer.state_dict()),
    }


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
    one entry per epoch run: ``epoch``, ``loss``, ``train_accuracy``, with a holdout
    ``holdout_loss`` and ``holdout_accuracy``, then ``seconds`` (the whole epoch) and
    ``images_per_second`` (training images / seconds of the training pass, without the holdout
    evaluation). ``progress``: a progress bar over epochs with an inner bar over the epoch's
    batches. ``resume_file``: an epoch checkpoint (``training.epoch_resume``) to continue from
    and to save after every epoch but the last one run (the trainable weights, head, Adam, the
    batch and global CPU generators, and with a holdout the best epoch's weights and Adam state;
    the best epoch and the patience count follow from the history).

    With a holdout (``config.holdout_fraction``; module docstring) the checkpoint holds the best
    holdout epoch (``epoch`` = ``best_epoch``); without one, the last epoch (``best_epoch``
    None). ``epochs_run`` is the number of epochs trained (fewer than ``config.epochs`` after
    an early stop) and ``holdout_indices`` the held-out sample indices.
    """
    device = torch.device(device)
    check_precision(config.precision, device)
    train_idx, holdout_idx = holdout_split(ds, config)
    if train_idx.size < MIN_BATCH:
        raise ValueError(
            f"{ds.name}: fine-tuning needs at least {MIN_BATCH} trainval images to train on, "
            f"got {train_idx.size} (holdout_fraction={config.holdout_fraction})"
        )
    seen = ds.seen_classes
    paths = tuple(ds.image_paths[i] for i in train_idx)  # type: ignore[index]
    holdout_paths = tuple(ds.image_paths[i] for i in holdout_idx)  # type: ignore[index]
    # seen class id -> head output 0..S-1 (seen is sorted)
    targets = torch.as_tensor(np.searchsorted(seen, ds.labels[train_idx]), dtype=torch.long)
    holdout_targets = torch.as_tensor(np.searchsorted(seen, ds.labels[holdout_idx]), dtype=torch.long)
    use_holdout = holdout_idx.size > 0
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
    best: dict[str, Any] | None = None  # the best holdout epoch's _snapshot
    best_row: dict[str, float] | None = None
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
        base_lrs = (config.lr, config.head_lr if config.head_lr is not None else config.lr)
        optimizer = fused_adam(
            [{"params": trainable, "lr": base_lrs[0]}, {"params": head.parameters(), "lr": base_lrs[1]}],
            weight_decay=config.weight_decay,
        )
        generator = torch.Generator().manual_seed(config.seed)

        # Phase 1: frozen activations (cached path) -------------------------------------
        model.eval()
        cache = _cache_frozen(model, paths, config, device) if config.cache_frozen_activations else None
        train_set = ImagePathDataset(paths, _train_transform(config)) if cache is None else None
        # the holdout: centre crops only (no random draw), a cache of its own so the training
        # cache is exactly the one a run on the same training images builds
        holdout_batches = [list(range(i, min(i + config.batch_size, holdout_idx.size)))
                           for i in range(0, holdout_idx.size, config.batch_size)]
        if not use_holdout:
            holdout_cache, holdout_loader = None, None
        elif cache is not None:
            taken = float(cache.numel()) * 4 / BYTES_PER_GIB
            holdout_cache = _cache_frozen(model, holdout_paths, config, device, views=1, gib_taken=taken)[0]
            holdout_loader = None
        else:
            holdout_cache = None
            holdout_loader = _loader(ImagePathDataset(holdout_paths, build_preprocess(config.resize, config.crop)),
                                     holdout_batches, config, device, config.seed)

        config_dict = {**asdict(config), "trainable_blocks": list(config.trainable_blocks)}
        networks, optimizers = {"backbone": model, "head": head}, {"adam": optimizer}
        first = 1
        resume = (
            resume_file.load(method=RESUME_METHOD, version=CHECKPOINT_FORMAT_VERSION, config=config_dict,
                             stream_type="cpu", nepoch=config.epochs, free=config.resume_free_fields)
            if resume_file is not None
            else None
        )
        if resume is not None:  # after the cache: it is rebuilt exactly as the first run built it
            done, rows = restore_epoch_state(resume, networks, optimizers, generator)
            torch.default_generator.set_state(resume["global_rng"])
            best = resume.get("best")
            best_row = rows[best_epoch(rows) - 1] if use_holdout else None  # type: ignore[operator]
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
                t = (epoch - 1) * len(batches) + step - 1
                factor = lr_factor(config.lr_schedule, t, config.epochs * len(batches))
                for group, base in zip(optimizer.param_groups, base_lrs):
                    group["lr"] = base * factor
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
            row = epoch_stats.close(epoch, "fine-tuning")  # syncs: the training pass is done
            train_seconds = time.perf_counter() - start
            stop_early = False
            if use_holdout:
                if holdout_cache is not None:
                    held = ((torch.as_tensor(b), holdout_cache[b]) for b in holdout_batches)
                    row.update(_evaluate_holdout(model, head, held, start=stop, targets=holdout_targets,
                                                  config=config, device=device))
                else:
                    row.update(_evaluate_holdout(model, head, holdout_loader, start=0, targets=holdout_targets,
                                                  config=config, device=device))
                if _improves(row, best_row):
                    best, best_row = _snapshot(model, head, optimizer, config), row
                stop_early = config.patience is not None and epoch - int(best_row["epoch"]) >= config.patience
            row["seconds"] = time.perf_counter() - start
            row["images_per_second"] = train_idx.size / train_seconds
            rows.append(row)
            emit_epoch("finetune", epoch, row)
            held_note = (
                f", holdout loss {row['holdout_loss']:.4f} acc {row['holdout_accuracy']:.3f} "
                f"(best epoch {int(best_row['epoch'])})"
                if use_holdout else ""
            )
            log.info("fine-tune epoch %d/%d: loss %.4f, train acc %.3f%s (%.1f s, %.0f images/s)",
                     epoch, config.epochs, row["loss"], row["train_accuracy"], held_note, row["seconds"],
                     row["images_per_second"])
            if on_epoch is not None:
                on_epoch(epoch, row)
            metrics = {"loss": row["loss"], "acc": row["train_accuracy"], "img/s": row["images_per_second"]}
            if use_holdout:
                metrics["holdout acc"] = row["holdout_accuracy"]
            bar.set_metrics(metrics)
            bar.advance_to(epoch)
            if stop_early:
                log.info("fine-tuning: early stop after epoch %d, %d epochs without a better holdout "
                         "accuracy (patience %d)", epoch, epoch - int(best_row["epoch"]), config.patience)
                break
            if resume_file is not None and epoch < config.epochs:
                resume_file.save(
                    envelope(
                        method=RESUME_METHOD, version=CHECKPOINT_FORMAT_VERSION, config=config_dict,
                        models=networks, history=rows, feature_dim=FEATURE_DIM, attr_dim=0,
                        **epoch_state(epoch, optimizers, generator),
                        global_rng=torch.default_generator.get_state(),
                        best=best,
                    )
                )

    if best is not None:  # the best holdout epoch's weights and Adam state
        for name, state in best["blocks"].items():
            model.block(name).load_state_dict(state)
        head.load_state_dict(best["head"])
        optimizer_state = best["optimizer"]
        chosen = int(best_row["epoch"])  # type: ignore[index]
        log.info("fine-tuning: returning the best holdout epoch %d of %d (holdout acc %.3f, loss %.4f)",
                 chosen, len(rows), best_row["holdout_accuracy"], best_row["holdout_loss"])  # type: ignore[index]
    else:
        optimizer_state = cpu_copy(optimizer.state_dict())  # loads on a machine without the GPU
        chosen = len(rows)
    checkpoint = {
        "format": FINETUNED_FORMAT,
        "format_version": CHECKPOINT_FORMAT_VERSION,
        "arch": "resnet101",
        "dataset": ds.name,
        "config": config_dict,
        "seen_classes": [int(c) for c in seen],
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "head_state_dict": {k: v.detach().cpu() for k, v in head.state_dict().items()},
        "optimizer_state_dict": optimizer_state,
        "epoch": chosen,
        "best_epoch": chosen if best is not None else None,
        "epochs_run": len(rows),
        "holdout_indices": [int(i) for i in holdout_idx],
        "history": history_columns(rows),
    }
    return checkpoint, checkpoint["history"]
