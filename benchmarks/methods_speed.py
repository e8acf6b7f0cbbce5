"""Training speed of every generative method at its CUB setting on the current device.

For each method, trains on CUB-shaped random data (2048-d features, 312-d embeddings, the
method's CUB widths from ``conf/cub/parameters_<method>.yml``) for one and for two epochs and
takes the difference, so set-up (network init, f-CLSWGAN's classifier pre-training) cancels
out. Reports training iterations per second (method's own unit: a WGAN generator iteration = 5
critic steps + 1 generator step; a CADA-VAE iteration = one batch of 50; a TF-VAEGAN iteration
as in ``tfvaegan_speed.py``, both passes averaged), the matrix-multiply FLOPs of one iteration
(torch profiler, same difference) and the fraction of the device's measured dense fp32 matmul
throughput that training achieves — the figure ``tfvaegan_speed.py`` gives for TF-VAEGAN.

    .venv/bin/python benchmarks/methods_speed.py                       # every method, auto device
    .venv/bin/python benchmarks/methods_speed.py --methods clswgan cada_vae --device cpu
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import torch
from tfvaegan_speed import CUB, fake_cub, matmul_throughput
from torch.profiler import ProfilerActivity, profile

from zsl_pipeline.methods import GENERATIVE_METHODS, get_method
from zsl_pipeline.training.device import resolve_device

CONF = Path(__file__).resolve().parents[1] / "conf" / "cub"
#: Training rows per method: a few iterations per epoch (speed does not depend on the count).
ROWS = {"tfvaegan": 128, "clswgan": 192, "zswgan": 192, "filmwgan": 192, "cada_vae": 500}


def cub_config(name: str, nepoch: int):
    import yaml  # here, not at the top: the device check imports this module where PyYAML may be missing

    method = get_method(name)
    params = yaml.safe_load((CONF / f"parameters_{name}.yml").read_text())[name]
    base = method.config_from_params(params).to_dict()
    return method.config_from_params({**base, "nepoch": nepoch})


def iterations_per_epoch(name: str, config, ntrain: int) -> int:
    if name == "cada_vae":
        return config.iterations_per_epoch(ntrain)
    if name == "tfvaegan":
        return config.feedback_loop * config.generator_iterations(ntrain)
    return config.generator_iterations(ntrain)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_once(name: str, nepoch: int, data, device: torch.device, flops: bool) -> tuple[float, float]:
    """(seconds, matmul FLOPs if ``flops``) of ``train`` with ``nepoch`` epochs."""
    method, config = get_method(name), cub_config(name, nepoch)
    if not flops:
        _sync(device)
        start = time.perf_counter()
        method.train(data, config, device, None)
        _sync(device)
        return time.perf_counter() - start, 0.0
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities, with_flops=True) as prof:
        method.train(data, config, device, None)
    return 0.0, float(sum(event.flops or 0 for event in prof.key_averages()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--methods", nargs="+", default=list(GENERATIVE_METHODS), choices=GENERATIVE_METHODS)
    args = parser.parse_args()
    device = resolve_device(args.device)
    full = fake_cub(device)
    peak = matmul_throughput(device, size=4096 if device.type == "cuda" else 2048, repeats=50 if device.type == "cuda" else 5)
    report = {"device": str(device), "threads": torch.get_num_threads(), "matmul_tflops": peak / 1e12, "methods": {}}
    for name in args.methods:
        n = ROWS[name]
        data = dataclasses.replace(full, train_x=full.train_x[:n], train_y=full.train_y[:n])
        iters = iterations_per_epoch(name, cub_config(name, 1), n)
        run_once(name, 1, data, device, flops=False)  # warm-up
        seconds = run_once(name, 2, data, device, False)[0] - run_once(name, 1, data, device, False)[0]
        flops = run_once(name, 2, data, device, True)[1] - run_once(name, 1, data, device, True)[1]
        rate = iters / seconds
        achieved = rate * flops / iters
        report["methods"][name] = {
            "iters_per_s": rate,
            "gflop_per_iter": flops / iters / 1e9,
            "achieved_tflops": achieved / 1e12,
            "fraction_of_matmul": achieved / peak,
            "seconds_per_cub_epoch": iterations_per_epoch(name, cub_config(name, 1), CUB["ntrain"]) / rate,
        }
        print(name, json.dumps(report["methods"][name]), flush=True)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
