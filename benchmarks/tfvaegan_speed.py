"""TF-VAEGAN training speed at the CUB configuration, against the hardware's floor, per pass.

Runs the real training loop (``train_tfvaegan``) on random data of CUB's shapes (2048-d
features, 312-d embeddings, 150 seen classes; speed does not depend on the values) for a few
generator iterations of each pass (one iteration = 5 critic steps + 1 generator step,
methods_spec.md §2.5), and reports for the no-feedback pass and the feedback pass:

* ``s_per_iter``: measured seconds per generator iteration (warm-up and recorded iterations
  excluded);
* ``matmul_floor_s``: the floor of the iteration's matrix products: every product the iteration
  runs (forward, backward and the penalty's gradient) is recorded with its shapes and memory
  layout, and replayed alone on this device until its time is stable; the floor is the sum of
  those times, i.e. the iteration's FLOPs at this device's rate for each product's shape;
* ``optimizer_floor_s``: the optimiser steps (Adam, bound by memory bandwidth) replayed alone
  the same way;
* ``floor_ratio``: s_per_iter ÷ matmul_floor_s, and ``floor_ratio_with_optimizer``:
  s_per_iter ÷ (matmul + optimizer floors);
* ``matmul_in_training_s``, ``optimizer_in_training_s``: the same products and steps as they
  ran inside the recorded iteration (profiler self time), so the gap to the floor splits into
  products slower in training than alone, and everything else;
* the iteration's GFLOP and ``seconds_per_cub_epoch_without_eval`` (CUB's 7,057 rows: 111
  iterations per pass).

    .venv/bin/python benchmarks/tfvaegan_speed.py --device cpu --threads 1
    .venv/bin/python benchmarks/tfvaegan_speed.py --device cuda --iters 20 --shapes

``--shapes`` adds the per-product table (shape, layout, calls, GFLOP, rate, floor ms).
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from typing import Any

import torch
from torch.profiler import ProfilerActivity, profile
from torch.utils._python_dispatch import TorchDispatchMode

from zsl_pipeline.methods.tfvaegan.config import TFVAEGANConfig
from zsl_pipeline.methods.tfvaegan.loop import train_tfvaegan
from zsl_pipeline.training.device import TRAINING_PRECISIONS, check_precision, resolve_device
from zsl_pipeline.training.events import iteration_listener
from zsl_pipeline.training.features import FeatureTensors

CUB = {"ntrain": 7057, "feature_dim": 2048, "attr_dim": 312, "classes": 200, "seen": 150}
ATEN = torch.ops.aten
MATMULS = (ATEN.mm.default, ATEN.addmm.default, ATEN.bmm.default, ATEN.baddbmm.default)
OPTIMIZERS = tuple(getattr(ATEN, name).default for name in ("_fused_adam_", "_fused_adamw_") if hasattr(ATEN, name))
#: Per-iteration ops that are not matrix products but have a floor of their own: the optimiser
#: steps (foreach/single-tensor Adam are many small ops: only the fused kernel is replayed).


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _spec(value: Any) -> Any:
    """A hashable description of an op argument: tensors by shape, strides and dtype."""
    if isinstance(value, torch.Tensor):
        return ("tensor", tuple(value.shape), tuple(value.stride()), value.dtype)
    if isinstance(value, (list, tuple)):
        return ("seq", tuple(_spec(v) for v in value))
    return ("value", value)


def _materialise(spec: Any, device: torch.device) -> Any:
    """Fresh tensors of a recorded layout, uniform in [0, 1) (non-negative: valid Adam moments)."""
    kind, body = spec[0], spec[1:]
    if kind == "tensor":
        shape, stride, dtype = body
        size = 1 + sum((s - 1) * st for s, st in zip(shape, stride)) if all(shape) else 0
        return torch.rand(size, device=device).to(dtype).as_strided(shape, stride)
    if kind == "seq":
        return [_materialise(v, device) for v in body[0]]
    return body[0]


class OpRecorder(TorchDispatchMode):
    """Counts every matrix product and fused optimiser step, by op and argument layout."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: Counter = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in MATMULS or func in OPTIMIZERS:
            self.calls[(func, _spec(list(args)), _spec(sorted(kwargs.items())))] += 1
        return func(*args, **kwargs)


def matmul_flops(func, args_spec) -> int:
    """2·m·k·n (times the batch for bmm) of a recorded product."""
    shapes = [s[1] for s in args_spec[1] if s[0] == "tensor"]
    a, b = shapes[-2], shapes[-1]
    return 2 * a[-2] * a[-1] * b[-1] * (a[0] if len(a) == 3 else 1)


def replay_seconds(func, args_spec, kwargs_spec, device: torch.device, window_s: float = 0.1) -> float:
    """Seconds per call of ``func`` on fresh tensors of the recorded layout, alone on the device
    (the best of three timing windows of at least ``window_s`` each)."""
    args = _materialise(args_spec, device)
    kwargs = dict(_materialise(kwargs_spec, device))
    func(*args, **kwargs)  # warm-up
    best = float("inf")
    for _ in range(3):
        _sync(device)
        reps, start = 0, time.perf_counter()
        while reps < 3 or time.perf_counter() - start < window_s:
            func(*args, **kwargs)
            reps += 1
            if reps % 3 == 0:
                _sync(device)
        best = min(best, (time.perf_counter() - start) / reps)
    return best


def floors(recorder: OpRecorder, device: torch.device) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """The matmul and optimiser floors of one recorded iteration, and the per-product table."""
    total = {"matmul_floor_s": 0.0, "optimizer_floor_s": 0.0, "gflop_per_iter": 0.0}
    rows = []
    for (func, args_spec, kwargs_spec), calls in recorder.calls.items():
        seconds = calls * replay_seconds(func, args_spec, kwargs_spec, device)
        if func in OPTIMIZERS:
            total["optimizer_floor_s"] += seconds
            continue
        flops = calls * matmul_flops(func, args_spec)
        total["matmul_floor_s"] += seconds
        total["gflop_per_iter"] += flops / 1e9
        tensors = [s for s in args_spec[1] if s[0] == "tensor"][-2:]
        layout = " @ ".join(f"{'x'.join(map(str, s[1]))}{'ᵀ' if s[2][0] == 1 and s[1][-1] > 1 else ''}" for s in tensors)
        rows.append({"op": func.__name__.split(".")[0], "product": layout, "calls": calls, "gflop": flops / 1e9,
                     "gflop_per_s": flops / seconds / 1e9, "floor_ms": 1e3 * seconds})
    rows.sort(key=lambda row: -row["floor_ms"])
    return total, rows


def in_training(prof: profile, device: torch.device) -> dict[str, float]:
    """Kernel time of the recorded iteration's matrix products and optimiser steps, as they ran
    inside training (profiler self time: CPU time on a CPU, device time on CUDA)."""
    matmuls = {f"aten::{func.__name__.split('.')[0]}" for func in MATMULS}
    optimizers = {f"aten::{func.__name__.split('.')[0]}" for func in OPTIMIZERS}
    sums = {"matmul_in_training_s": 0.0, "optimizer_in_training_s": 0.0}
    for event in prof.key_averages():
        if device.type == "cuda":
            micros = getattr(event, "self_device_time_total", None)
            micros = getattr(event, "self_cuda_time_total", 0.0) if micros is None else micros
        else:
            micros = event.self_cpu_time_total
        if event.key in matmuls:
            sums["matmul_in_training_s"] += micros / 1e6
        elif event.key in optimizers:
            sums["optimizer_in_training_s"] += micros / 1e6
    return sums


def cub_shaped(device: torch.device, ntrain: int) -> FeatureTensors:
    g = torch.Generator().manual_seed(0)
    d, a = CUB["feature_dim"], CUB["attr_dim"]
    emb = torch.nn.functional.normalize(torch.rand(CUB["classes"], a, generator=g), dim=1)
    empty = torch.empty(0, d)
    return FeatureTensors(
        train_x=torch.rand(ntrain, d, generator=g).to(device),
        train_y=torch.randint(0, CUB["seen"], (ntrain,), generator=g).to(device),
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


def fake_cub(device: torch.device) -> FeatureTensors:
    """CUB's full trainval shape (7,057 rows), for methods_speed.py."""
    return cub_shaped(device, CUB["ntrain"])


def matmul_throughput(device: torch.device, size: int, repeats: int) -> float:
    """Measured FLOP/s of a square fp32 matmul (methods_speed.py's yardstick)."""
    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    a @ b  # warm-up
    _sync(device)
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    _sync(device)
    return 2 * size**3 * repeats / (time.perf_counter() - start)


def measure(device: torch.device, precision: str, iters: int, shapes: bool, **overrides: Any) -> dict[str, Any]:
    """One epoch of ``2 + iters`` iterations per pass: iteration 1 warms up, 2 is recorded,
    the rest are timed. ``overrides``: config fields (the device check's ``--quick`` narrows the widths)."""
    per_pass = 2 + iters
    config = TFVAEGANConfig(nepoch=1, eval_every=1, checkpoint_every=0, precision=precision, **overrides)  # CUB, §2.9
    check_precision(config.precision, device)
    data = cub_shaped(device, per_pass * config.batch_size)
    stamps: dict[int, float] = {}
    recorders = [OpRecorder(), OpRecorder()]
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    profilers = [profile(activities=activities), profile(activities=activities)]
    active: list[int] = []

    def on_iteration(done: int, total: int) -> None:
        _sync(device)
        stamps[done] = time.perf_counter()
        if active:  # the recorded iteration just finished
            index = active.pop()
            recorders[index].__exit__(None, None, None)
            profilers[index].stop()
        position = (done - 1) % per_pass + 1  # 1-based within the pass that just ran
        if position == 1 and done < total:  # the next iteration is a pass's 2nd: record it
            active.append((done - 1) // per_pass)
            profilers[active[-1]].start()
            recorders[active[-1]].__enter__()

    with iteration_listener(on_iteration):
        train_tfvaegan(data, config, device)
    report: dict[str, Any] = {}
    for index, key in enumerate(("plain_pass", "feedback_pass")):
        first, last = index * per_pass + 2, (index + 1) * per_pass
        seconds = (stamps[last] - stamps[first]) / (last - first)
        total, rows = floors(recorders[index], device)
        report[key] = {
            "s_per_iter": seconds,
            **total,
            "achieved_gflop_per_s": total["gflop_per_iter"] / seconds,
            "floor_ratio": seconds / total["matmul_floor_s"],
            "floor_ratio_with_optimizer": seconds / (total["matmul_floor_s"] + total["optimizer_floor_s"]),
            **in_training(profilers[index], device),
        }
        if shapes:
            report[key]["products"] = rows
    iters_per_epoch = config.generator_iterations(CUB["ntrain"])
    report["seconds_per_cub_epoch_without_eval"] = iters_per_epoch * sum(
        report[key]["s_per_iter"] for key in ("plain_pass", "feedback_pass")
    )
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--iters", type=int, default=None, help="timed iterations per pass (default: 20 GPU, 3 CPU)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")
    parser.add_argument("--precision", default="fp32", choices=TRAINING_PRECISIONS,
                        help="fp32 (default, the reference's); tf32 or bf16 on CUDA")
    parser.add_argument("--shapes", action="store_true", help="add the per-product table")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    iters = args.iters or (20 if device.type == "cuda" else 3)
    report = {
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "precision": args.precision,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "timed_iters_per_pass": iters,
        **measure(device, args.precision, iters, args.shapes),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
