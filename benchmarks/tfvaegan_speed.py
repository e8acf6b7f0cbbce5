"""TF-VAEGAN training speed at the CUB configuration on the current device.

Reports generator iterations per second (one iteration = 5 critic steps + 1 generator step,
methods_spec.md §2.5) for the no-feedback and the feedback pass, the FLOPs one iteration does
(matrix-multiply FLOPs of every forward, backward and double-backward op, counted by the
torch profiler), the device's measured dense matrix-multiply throughput,
and the fraction of that throughput training achieves.

    .venv/bin/python benchmarks/tfvaegan_speed.py                # auto device
    .venv/bin/python benchmarks/tfvaegan_speed.py --device cpu --iters 3

Data are random tensors of CUB's shapes (7057 x 2048 features, 200 x 312 embeddings): speed
does not depend on their values.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from torch.profiler import ProfilerActivity, profile

from zsl_pipeline.methods.tfvaegan.config import TFVAEGANConfig
from zsl_pipeline.methods.tfvaegan.loop import build_training_state
from zsl_pipeline.methods.tfvaegan.steps import critic_phase, generator_step
from zsl_pipeline.training.device import TRAINING_PRECISIONS, check_precision, resolve_device, tf32_allowed
from zsl_pipeline.training.features import FeatureTensors

CUB = {"ntrain": 7057, "feature_dim": 2048, "attr_dim": 312, "classes": 200, "seen": 150}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_throughput(device: torch.device, size: int, repeats: int) -> float:
    """Measured FLOP/s of a square fp32 matmul (the reference's precision; tf32/bf16 rates are not measured)."""
    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    a @ b  # warm-up
    _sync(device)
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    _sync(device)
    return 2 * size**3 * repeats / (time.perf_counter() - start)


def fake_cub(device: torch.device) -> FeatureTensors:
    g = torch.Generator().manual_seed(0)
    n, d, a = CUB["ntrain"], CUB["feature_dim"], CUB["attr_dim"]
    emb = torch.nn.functional.normalize(torch.rand(CUB["classes"], a, generator=g), dim=1)
    empty = torch.empty(0, d)
    return FeatureTensors(
        train_x=torch.rand(n, d, generator=g).to(device),
        train_y=torch.randint(0, CUB["seen"], (n,), generator=g).to(device),
        test_seen_x=empty.to(device),
        test_seen_y=torch.empty(0, dtype=torch.long, device=device),
        test_unseen_x=empty.to(device),
        test_unseen_y=torch.empty(0, dtype=torch.long, device=device),
        class_embeddings=emb.to(device),
        seen_classes=torch.arange(CUB["seen"], device=device),
        unseen_classes=torch.arange(CUB["seen"], CUB["classes"], device=device),
        scaler_min=torch.zeros(d, dtype=torch.float64, device=device),
        scaler_scale=torch.ones(d, dtype=torch.float64, device=device),
        name="CUB-shaped random data",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--iters", type=int, default=None, help="timed iterations per pass (default: 20 GPU, 3 CPU)")
    parser.add_argument("--precision", default="fp32", choices=TRAINING_PRECISIONS,
                        help="fp32 (default, the reference's); tf32 or bf16 on CUDA")
    args = parser.parse_args()
    device = resolve_device(args.device)
    iters = args.iters or (20 if device.type == "cuda" else 3)
    config = TFVAEGANConfig(precision=args.precision)  # CUB defaults, §2.9
    check_precision(config.precision, device)
    data = fake_cub(device)
    models, optimizers, rng = build_training_state(
        config, feature_dim=data.feature_dim, attr_dim=data.attr_dim, device=device
    )
    lam = torch.tensor(config.lambda1, dtype=torch.float64, device=device)

    def iteration(feedback_on: bool) -> None:
        nonlocal lam
        with tf32_allowed(config.precision == "tf32"):
            one_iteration(feedback_on)

    def one_iteration(feedback_on: bool) -> None:
        nonlocal lam
        x, a, _, lam = critic_phase(
            models, optimizers, data, config=config, feedback_on=feedback_on, lam=lam, rng=rng,
            precision=config.precision,
        )
        generator_step(
            models, optimizers, x, a, config=config, feedback_on=feedback_on, rng=rng, precision=config.precision
        )

    report = {"device": str(device), "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
              "precision": config.precision, "threads": torch.get_num_threads()}
    for feedback_on in (False, True):
        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
        with profile(activities=activities, with_flops=True) as prof:
            iteration(feedback_on)
        flops = sum(event.flops or 0 for event in prof.key_averages())
        iteration(feedback_on)  # warm-up
        _sync(device)
        start = time.perf_counter()
        for _ in range(iters):
            iteration(feedback_on)
        _sync(device)
        rate = iters / (time.perf_counter() - start)
        key = "feedback_pass" if feedback_on else "plain_pass"
        report[key] = {"generator_iters_per_s": rate, "gflop_per_iter": flops / 1e9, "achieved_tflops": rate * flops / 1e12}
    peak = matmul_throughput(device, size=4096 if device.type == "cuda" else 2048, repeats=50 if device.type == "cuda" else 5)
    report["matmul_tflops"] = peak / 1e12
    for key in ("plain_pass", "feedback_pass"):
        report[key]["fraction_of_matmul"] = report[key]["achieved_tflops"] * 1e12 / peak
    iters_per_epoch = 2 * config.generator_iterations(CUB["ntrain"])
    mean_rate = 2 / (1 / report["plain_pass"]["generator_iters_per_s"] + 1 / report["feedback_pass"]["generator_iters_per_s"])
    report["seconds_per_cub_epoch_without_eval"] = iters_per_epoch / mean_rate
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
