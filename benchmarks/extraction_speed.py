"""Feature extraction throughput against ResNet-101's bare forward, same batch and precision.

Writes ``--images`` JPEGs the size of an AWA2/CUB photo (500 x 375, smooth colour fields with
grain: they compress like photos, unlike uniform noise), then measures

(a) the bare forward: images/s of the backbone on pre-made (B, 3, crop, crop) tensors already on
    the device (what the GPU or CPU could do with decoding for free);
(b) ``extract_features`` end to end: JPEG decoding, resize (short side ``--resize``), centre crop
    ``--crop``, normalisation, the DataLoader (``--num-workers``), the forward, the copy back;

and prints both and their ratio (target >= 0.9: decoding should hide behind the forward). After a
warm-up, (a) then (b) are timed back to back ``--repeats`` times; each pair gives a ratio (both
halves under the same machine load) and the median is reported, with the 1-minute load average
before and after (another process on the machine makes single figures meaningless). The backbone
is random-init (``weights="none"``): speed does not depend on the weights.

    .venv/bin/python benchmarks/extraction_speed.py                      # 48 images, batch 16, CPU
    .venv/bin/python benchmarks/extraction_speed.py --device cuda --images 2048 --batch-size 128 \\
        --num-workers 8 --precision bf16
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
from PIL import Image

from zsl_pipeline.training.device import (
    PRECISIONS,
    check_precision,
    precision_autocast,
    resolve_device,
    tf32_allowed,
)
from zsl_pipeline.vision.backbone import build_backbone
from zsl_pipeline.vision.extraction import ExtractionConfig, extract_features

SIZE = (375, 500)  # height, width: a typical AWA2 / CUB photo


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def write_jpegs(folder: Path, count: int, seed: int = 0) -> list[str]:
    """``count`` photo-like JPEGs (quality 90): upsampled low-resolution colour fields plus grain."""
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(count):
        coarse = Image.fromarray(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)).resize(SIZE[::-1], Image.BICUBIC)
        grain = rng.normal(0, 8, (*SIZE, 3))
        pixels = np.clip(np.asarray(coarse, dtype=np.float64) + grain, 0, 255).astype(np.uint8)
        path = folder / f"image_{i:05d}.jpg"
        Image.fromarray(pixels).save(path, quality=90)
        paths.append(str(path))
    return paths


def timed_pair(
    backbone: torch.nn.Module, paths: list[str], args: argparse.Namespace, device: torch.device
) -> Iterator[tuple[float, float]]:
    """(bare forward, extract_features) images/s, ``--repeats`` times, each pair measured back to
    back so that both see the same machine load."""
    config = ExtractionConfig(
        weights="none", resize=args.resize, crop=args.crop, batch_size=args.batch_size,
        num_workers=args.num_workers, precision=args.precision, channels_last=True,
    )  # fmt: skip
    images = torch.randn(args.batch_size, 3, args.crop, args.crop, device=device)
    images = images.contiguous(memory_format=torch.channels_last)
    batches = math.ceil(len(paths) / args.batch_size)

    def bare() -> None:  # the forward alone on a pre-made batch, as many batches, with the copy back
        with torch.inference_mode(), precision_autocast(device, args.precision), tf32_allowed(args.precision == "tf32"):
            for _ in range(batches):
                backbone(images).float().cpu()

    def pipeline() -> None:  # decoding, preprocessing, DataLoader, forward, copy back
        extract_features(paths, config, device, backbone=backbone, progress=False)

    def rate(run: Callable[[], None], count: int) -> float:
        _sync(device)
        start = time.perf_counter()
        run()
        _sync(device)
        return count / (time.perf_counter() - start)

    extract_features(paths[: args.batch_size], config, device, backbone=backbone, progress=False)  # warm-up
    for _ in range(args.repeats):
        yield rate(bare, batches * args.batch_size), rate(pipeline, len(paths))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=48)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--num-workers", type=int, default=0)
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 or auto")
    parser.add_argument("--resize", type=int, default=256)
    parser.add_argument("--crop", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=3, help="timed (bare, end-to-end) pairs; the median ratio is reported")
    args = parser.parse_args()
    device = resolve_device(args.device)
    check_precision(args.precision, device)

    backbone = build_backbone("none").eval().to(device=device, memory_format=torch.channels_last)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as folder:
        paths = write_jpegs(Path(folder), args.images)
        pairs = list(timed_pair(backbone, paths, args, device))
    ratios = [pipeline / bare for bare, pipeline in pairs]
    result = {
        "device": str(device),
        "torch_threads": torch.get_num_threads(),
        "images": args.images,
        "image_size": f"{SIZE[1]}x{SIZE[0]}",
        "batch_size": args.batch_size,
        "num_workers": args.num_workers,
        "precision": args.precision,
        "resize": args.resize,
        "crop": args.crop,
        "bare_forward_images_per_s": [round(bare, 2) for bare, _ in pairs],
        "extract_features_images_per_s": [round(pipeline, 2) for _, pipeline in pairs],
        "ratio_per_pair": [round(pipeline / bare, 3) for bare, pipeline in pairs],
        "ratio_median": round(statistics.median(ratios), 3),
        "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
