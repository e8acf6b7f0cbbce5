"""The image stages, one function per node: fine-tune the backbone on seen classes, extract
features, train the feature-to-image inversion and invert features.

The inversion generator is trained on (feature, image) pairs of the real images, with the
features in the TF-VAEGAN training space (MinMax-scaled on trainval, §1), because that is the
space the synthetic features live in. All real images are used, unseen classes included, as in
the reproduction report: inversion is a visualisation, never an input to classification.

The comparison figure then shows, for a few unseen classes: a real image | the inversion of its
real feature | the inversion of a synthetic feature made WITHOUT feedback | the inversion of a
synthetic feature made WITH one feedback step (δ = a2) from the same latent z. Both synthetic
rows come from the same trained generator (the feedback step switched off or on), so the
difference is the feedback module's alone. Image-space scores (per-pixel L1 and perceptual
distance to the class's real images) measure "closer" instead of leaving it to the eye.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from matplotlib.figure import Figure
from tqdm.auto import tqdm

from zsl_pipeline.data.contract import ZeroShotDataset
from zsl_pipeline.data.fingerprint import check_source, dataset_fingerprint, source_data, stamped
from zsl_pipeline.data.images import load_image
from zsl_pipeline.methods.base import method_code_version
from zsl_pipeline.methods.tfvaegan.models import generate
from zsl_pipeline.methods.tfvaegan.stages import load_models
from zsl_pipeline.training.checkpoint import tensor_bytes
from zsl_pipeline.training.epoch_resume import EpochCheckpoint
from zsl_pipeline.training.features import prepare_features
from zsl_pipeline.training.streams import randn
from zsl_pipeline.vision import finetune, inversion
from zsl_pipeline.vision.backbone import DEFAULT_INIT_SEED
from zsl_pipeline.vision.extraction import ExtractionConfig, extract_dataset_features, extraction_backbone
from zsl_pipeline.vision.finetune import FinetuneConfig
from zsl_pipeline.vision.inversion import InversionConfig, invert, load_generator
from zsl_pipeline.vision.inversion_scores import between_class_l1, image_space_scores

log = logging.getLogger(__name__)

#: Columns of the comparison grid, in order (also the keys of the scores).
ROWS = ("real_image", "inverted_real_feature", "synthetic_no_feedback", "synthetic_feedback")


def load_images(paths: Sequence[str], size: int, threads: int = 8) -> np.ndarray:
    """(N, size, size, 3) uint8 RGB images, resized when they are not ``size`` x ``size``;
    decoded on ``threads`` threads (PIL releases the GIL while decoding), a progress bar over them."""
    out = np.empty((len(paths), size, size, 3), dtype=np.uint8)

    def put(i: int) -> None:
        image = load_image(paths[i])
        if image.size != (size, size):
            image = image.resize((size, size))
        out[i] = np.asarray(image)

    with ThreadPoolExecutor(max_workers=threads) as pool:
        for _ in tqdm(pool.map(put, range(len(paths))), total=len(paths), unit="img", desc="loading images",
                      disable=len(paths) < 1000):  # fmt: skip
            pass
    return out


def _weights_digest(state_dict: Mapping[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for key, tensor in sorted(state_dict.items()):
        h.update(key.encode())
        h.update(tensor_bytes(tensor))
    return h.hexdigest()[:16]


def _resume_file(
    folder: str | Path, stage: str, ds: ZeroShotDataset, config: Mapping[str, Any], *, free: frozenset[str],
    extra: Mapping[str, Any],
) -> EpochCheckpoint:
    """An image stage's epoch checkpoint in ``folder``, named by the images (paths), the data
    (fingerprint), the settings but ``free`` and ``extra``; the code version of ``vision`` inside."""
    h = hashlib.sha256()
    h.update(json.dumps(list(ds.image_paths or ())).encode())
    h.update(dataset_fingerprint(ds).encode())
    settings = {k: v for k, v in config.items() if k not in free}
    h.update(json.dumps({"config": settings, **extra}, sort_keys=True, default=str).encode())
    code = method_code_version("zsl_pipeline.vision")
    return EpochCheckpoint(Path(folder) / f"{stage}_{ds.name}_{h.hexdigest()[:16]}.pt", code)


def finetune_resume_file(
    folder: str | Path, ds: ZeroShotDataset, config: FinetuneConfig, *, weights: str, init_seed: int
) -> EpochCheckpoint:
    """Fine-tuning's epoch checkpoint: named by the images, the data, the settings but those a
    resumed run may change (``epochs`` under a constant learning rate) and the starting
    weights; the code version inside."""
    extra = {"weights": weights, "init_seed": init_seed}
    return _resume_file(folder, "finetune", ds, asdict(config), free=config.resume_free_fields, extra=extra)


def finetune_backbone(
    ds: ZeroShotDataset,
    config: FinetuneConfig,
    device: torch.device,
    *,
    weights: str,
    init_seed: int = DEFAULT_INIT_SEED,
    checkpoint_dir: str | Path | None = None,
) -> tuple[dict[str, Any], dict[str, list[float]]]:
    """Train the last block(s) + a head on seen-class trainval images only, starting from the
    extraction backbone (``weights``); returns (fine-tuned checkpoint, per-epoch history).
    With ``checkpoint_dir`` an epoch checkpoint is kept there (:func:`finetune_resume_file`): a
    killed run started again continues after its last finished epoch; removed when done."""
    resume_file = (
        finetune_resume_file(checkpoint_dir, ds, config, weights=weights, init_seed=init_seed)
        if checkpoint_dir is not None
        else None
    )
    result = finetune.finetune_backbone(
        ds, config, device, extraction_backbone(weights, init_seed), resume_file=resume_file
    )
    if resume_file is not None:
        resume_file.remove()
    return result


#: Extraction settings that do not change the features: left out of the shard folder's name.
EXTRACT_FREE_FIELDS = frozenset({"num_workers"})


def extraction_shard_dir(
    folder: str | Path, ds: ZeroShotDataset, config: ExtractionConfig, device: torch.device,
    finetuned: Mapping[str, Any] | None = None,
) -> tuple[Path, str]:
    """(shard folder, code version) of an extraction: ``<folder>/extract_<dataset>_<hash>``,
    named like the epoch checkpoints (:func:`_resume_file`) by the images (paths), the data
    (fingerprint), the settings but ``num_workers`` (``batch_size`` changes float rounding, so
    it counts), the backbone (``weights`` + ``init_seed``, or the fine-tuned weights' digest)
    and the device type."""
    extra = {
        "finetuned": _weights_digest(finetuned["state_dict"]) if finetuned is not None else None,
        "device_type": torch.device(device).type,
    }
    key = _resume_file(folder, "extract", ds, asdict(config), free=EXTRACT_FREE_FIELDS, extra=extra)
    return key.path.with_suffix(""), key.code


def _open_shard_dir(shard_dir: Path, code: str) -> None:
    """Create ``shard_dir`` recording ``code``; a folder left by other code is emptied first
    (its shards may differ from what this code extracts), with a warning, as resume files are."""
    marker = shard_dir / "code_version.txt"
    if shard_dir.is_dir():
        saved = marker.read_text(encoding="utf-8").strip() if marker.is_file() else None
        if saved != code:
            log.warning(
                "not resuming extraction from %s: it was written by code version %s, this is %s; starting fresh",
                shard_dir, saved or "unknown", code,
            )
            shutil.rmtree(shard_dir)
    shard_dir.mkdir(parents=True, exist_ok=True)
    marker.write_text(code, encoding="utf-8")


def extract_features(
    ds: ZeroShotDataset,
    config: ExtractionConfig,
    device: torch.device,
    finetuned: Mapping[str, Any] | None = None,
    checkpoint_dir: str | Path | None = None,
) -> ZeroShotDataset:
    """ResNet-101 average-pooled features of every image: with the fine-tuned backbone when
    given, else with ``config.weights``.

    With ``checkpoint_dir`` the extraction is sharded into :func:`extraction_shard_dir` (the
    output memory-mapped there, every ``config.shard_size`` images saved): a killed run started
    again reads only the images of unfinished shards. The folder is removed once the features
    are in memory, so nothing is left in ``checkpoint_dir`` after success."""
    backbone = extraction_backbone(config.weights, finetuned=finetuned) if finetuned is not None else None
    if checkpoint_dir is None:
        return extract_dataset_features(ds, config, device, backbone=backbone)
    shard_dir, code = extraction_shard_dir(checkpoint_dir, ds, config, device, finetuned)
    _open_shard_dir(shard_dir, code)
    result = extract_dataset_features(ds, config, device, backbone=backbone, shard_dir=shard_dir)
    shutil.rmtree(shard_dir)
    return result


def train_inversion(
    ds: ZeroShotDataset,
    config: InversionConfig,
    device: torch.device,
    *,
    weights: str,
    init_seed: int = DEFAULT_INIT_SEED,
    finetuned: Mapping[str, Any] | None = None,
    checkpoint_dir: str | Path | None = None,
) -> tuple[dict[str, Any], dict[str, list[float]]]:
    """Train the inversion networks on every real (scaled feature, image) pair of ``ds``; the
    perceptual loss uses the extraction backbone (the fine-tuned one when the features came from it).
    With ``checkpoint_dir`` an epoch checkpoint is kept there (named by the data, the images, the
    settings but ``epochs`` and the perceptual backbone): a killed run started again continues
    after its last finished epoch; removed when done."""
    if ds.image_paths is None:
        raise ValueError(f"dataset '{ds.name}' has no images to invert to")
    backbone = extraction_backbone(weights, init_seed, finetuned)
    features = prepare_features(ds, torch.device("cpu")).transform(ds.features).numpy()
    images = load_images(ds.image_paths, config.image_size)
    resume_file = None
    if checkpoint_dir is not None:
        perceptual = {"weights": weights, "init_seed": init_seed,
                      "finetuned": _weights_digest(finetuned["state_dict"]) if finetuned is not None else None}
        resume_file = _resume_file(checkpoint_dir, "inversion", ds, asdict(config),
                                   free=inversion.RESUME_FREE_FIELDS, extra=perceptual)  # fmt: skip
    checkpoint, history = inversion.train_inversion(
        features, images, config, device, perceptual_net=backbone, resume_file=resume_file
    )
    if resume_file is not None:
        resume_file.remove()
    return stamped(checkpoint, source_data(ds)), history


def invert_features(
    inversion_model: Mapping[str, Any],
    tfvaegan: Mapping[str, Any],
    ds: ZeroShotDataset,
    device: torch.device,
    *,
    weights: str,
    init_seed: int = DEFAULT_INIT_SEED,
    finetuned: Mapping[str, Any] | None = None,
    num_classes: int,
    seed: int,
    score_classes: int | None = None,
) -> tuple[Figure, dict[str, Any]]:
    """The four-column grid for ``num_classes`` unseen classes, and the image-space scores over
    ``score_classes`` unseen classes (``None``: every one; the grid's classes are among them).
    One test_unseen image per scored class, its real feature and one latent z per class; the
    scores compare each inversion with every real test_unseen image of its class, and
    ``between_class_l1`` gives, per grid column, the mean L1 between the images of two scored
    classes (a column that shows the same image for every class scores 0). Both
    checkpoints must come from ``ds`` (``source_data``, checked)."""
    source = source_data(ds)
    check_source(inversion_model, source, "the inversion checkpoint (inversion_model)")
    check_source(tfvaegan, source, "the generator checkpoint (tfvaegan_model)")
    backbone = extraction_backbone(weights, init_seed, finetuned)
    generator = load_generator(inversion_model)
    size = generator.image_size
    models, config = load_models(tfvaegan, device)
    data = prepare_features(ds, device)
    rng = np.random.default_rng(seed)
    unseen = ds.unseen_classes
    scored = unseen.size if score_classes is None else min(score_classes, unseen.size)
    classes = np.sort(rng.choice(unseen, size=scored, replace=False))
    shown = np.isin(classes, rng.choice(classes, size=min(num_classes, classes.size), replace=False))
    test_unseen = ds.splits["test_unseen"]
    picks = np.array([rng.choice(test_unseen[ds.labels[test_unseen] == c]) for c in classes])

    real_feats = data.transform(ds.features[picks])
    gen = torch.Generator().manual_seed(seed)  # on the CPU: the same latents, hence the same figure, on any device
    z = randn((classes.size, models.encoder.linear_means.out_features), gen, device)
    attrs = data.class_embeddings[torch.as_tensor(classes, device=device)]
    with torch.no_grad():
        plain = generate(models, z, attrs)
        feedback = generate(models, z, attrs, feedback_weight=config.a2) if config.use_feedback else plain
    inverted = {
        ROWS[1]: invert(generator, real_feats, device),
        ROWS[2]: invert(generator, plain, device),
        ROWS[3]: invert(generator, feedback, device),
    }

    # Image-space scores against every real image of the class (test_unseen images).
    ref_idx = test_unseen[np.isin(ds.labels[test_unseen], classes)]
    reference = load_images([ds.image_paths[i] for i in ref_idx], size)
    scores: dict[str, Any] = {"classes": [ds.class_names[c] for c in classes],
                              "grid_classes": [ds.class_names[c] for c in classes[shown]]}  # fmt: skip
    for row, images in inverted.items():
        s = image_space_scores(
            images, classes, reference, ds.labels[ref_idx], perceptual_net=backbone, device=device, image_size=size
        )
        scores[row] = {"l1_mean": float(s["l1"].mean()), "perceptual_mean": float(s["perceptual"].mean()),
                       "l1_per_class": s["l1"].tolist(), "perceptual_per_class": s["perceptual"].tolist()}
    log.info(
        "inversion scores over %d unseen classes (lower = closer to the class's real images): %s",
        classes.size,
        {row: (round(v["l1_mean"], 4), round(v["perceptual_mean"], 4)) for row, v in scores.items() if row in ROWS},
    )
    position = {int(i): j for j, i in enumerate(ref_idx)}  # every pick is among the references read above
    real_images = reference[[position[int(i)] for i in picks]]
    if classes.size > 1:  # how much each row changes from class to class (the real images' as the scale)
        rows = {ROWS[0]: real_images, **inverted}
        scores["between_class_l1"] = {row: between_class_l1(images, size) for row, images in rows.items()}
        log.info("mean L1 between the images of two classes, per row: %s",
                 {row: round(v, 4) for row, v in scores["between_class_l1"].items()})
    grid = {row: images[torch.as_tensor(shown)] for row, images in inverted.items()}
    return _grid(classes[shown], ds.class_names, real_images[shown], grid, scores), scores


def _grid(
    classes: np.ndarray,
    names: Sequence[str],
    real: np.ndarray,
    inverted: Mapping[str, torch.Tensor],
    scores: Mapping[str, Any],
) -> Figure:
    fig = Figure(figsize=(2.0 * len(ROWS), 1.9 * classes.size + 0.6), layout="constrained")
    axes = fig.subplots(classes.size, len(ROWS), squeeze=False)
    for r, c in enumerate(classes):
        columns = [real[r]] + [inverted[row][r].permute(1, 2, 0).numpy() for row in ROWS[1:]]
        for col, image in enumerate(columns):
            ax = axes[r, col]
            ax.imshow(image)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                title = ROWS[col].replace("_", " ")
                if col > 0:
                    title += f"\nL1 {scores[ROWS[col]]['l1_mean']:.3f}"
                ax.set_title(title, fontsize=8)
            if col == 0:
                ax.set_ylabel(names[c], fontsize=7)
    fig.suptitle(f"unseen classes: real vs inverted features (mean L1 to the class's real images, over "
                 f"{len(scores['classes'])} classes)", fontsize=9)
    return fig
