"""The device check: does the project run, correctly and fast, on the accelerator of this host?

Made for a GPU host lent for a few minutes, with no network and perhaps none of the project's
dependencies but Python and torch: it runs the library straight from ``src/`` with the Python
and torch it finds, installs nothing, lists the packages it misses and skips (with a note) the
sections that need them. Sections run most important first, each in its own process with a
time box (``status``: ok, skipped, failed or timeout); the report is rewritten after every
section, so a check cut short still leaves everything it measured:

* ``matmul``: dense matrix-multiply throughput per precision (the yardstick of the others);
* ``gpu_tests``: ``pytest -m gpu`` (the suite's CUDA tests; ``tests/pipelines`` only with Kedro);
* ``tfvaegan_cub_epoch_<precision>``: one TF-VAEGAN epoch with its per-epoch evaluation on data
  of CUB's shapes (7,057 x 2,048 trainval, 1,764 + 2,967 test, 312-d embeddings, 150 + 50
  classes; generated here, features depending on the class), CUB settings (§2.9), at fp32 and
  bf16: wall time, its evaluation's share, peak GPU memory;
* ``methods_iterations``: each generative method's training iterations/s at its CUB widths
  (``benchmarks/methods_speed.py``'s units and rows per epoch; timed over whole epochs after a
  warm-up epoch, FLOPs of one more epoch counted by the torch profiler) and the fraction of the matmul throughput
  at that precision it achieves;
* ``extraction``: images/s of ``extract_features`` (JPEG decoding, preprocessing, ResNet-101)
  against ResNet-101's bare forward at the same batch and precision;
* ``demo_chain`` and ``compare``: ``kedro run --pipelines=tfvaegan`` then a one-seed ``compare``
  on the built-in demo, in a throw-away copy of the project (Kedro and MLflow needed).

``--quick`` runs every section at reduced shapes (minutes on a 2-core CPU), to test the script.
Reports: ``OUT/device_check.json`` and ``OUT/device_check.md``; each section's log under
``OUT/logs/``.

    bash benchmarks/device_check.sh OUT                  # the check, <= 5 min on an H100/H200
    bash benchmarks/device_check.sh --quick OUT          # reduced shapes, <= 10 min on a 2-core CPU
    bash benchmarks/device_check.sh --only matmul,extraction OUT
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS = REPO / "benchmarks"
#: Packages the sections may use (import name -> distribution, for the "missing" list).
PACKAGES = {
    "numpy": "numpy", "scipy": "scipy", "pandas": "pandas", "PIL": "pillow", "torchvision": "torchvision",
    "matplotlib": "matplotlib", "tqdm": "tqdm", "yaml": "pyyaml", "pytest": "pytest", "pydantic": "pydantic",
    "kedro": "kedro", "mlflow": "mlflow",
}
#: The training precisions compared on CUDA (fp32 is the reference's; a CPU runs fp32 only).
CUDA_PRECISIONS = ("fp32", "bf16")
#: CUB's shapes (xlsa17 split) and the reduced ones of ``--quick``.
SHAPES = {
    "full": {"ntrain": 7057, "ntest_seen": 1764, "ntest_unseen": 2967, "feature_dim": 2048, "attr_dim": 312,
             "seen": 150, "unseen": 50, "width": None, "syn_num": None},
    "quick": {"ntrain": 640, "ntest_seen": 160, "ntest_unseen": 240, "feature_dim": 256, "attr_dim": 48,
              "seen": 15, "unseen": 5, "width": 256, "syn_num": 40},
}
#: Parameter groups of the short schedule that the full check's ``compare`` takes (not the demo's data).
COMPARE_SHORTENED = ("compare_runs", "tfvaegan", "clswgan", "filmwgan", "zswgan", "cada_vae", "mlflow")
#: Width fields of the method configs (``--quick`` sets them to ``SHAPES["quick"]["width"]``).
WIDTH_FIELDS = ("encoder_hidden", "ngh", "ndh", "image_encoder_hidden", "image_decoder_hidden",
                "attribute_encoder_hidden", "attribute_decoder_hidden")


# ---- shared helpers (run in the section processes) ------------------------------------------------


def sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def precisions(device) -> tuple[str, ...]:
    """The training precisions this device runs (CPU: fp32 only; bf16 where CUDA supports it)."""
    import torch

    if device.type != "cuda":
        return ("fp32",)
    return tuple(p for p in CUDA_PRECISIONS if p != "bf16" or torch.cuda.is_bf16_supported())


def cub_like(device, shapes: dict[str, Any], seed: int = 0):
    """Preprocessed ``FeatureTensors`` of CUB's shapes whose features depend on the class.

    Features are sigmoid(a_y P + noise) for unit-norm Gaussian class embeddings a and a random
    projection P: the classes differ, so training and evaluation do the work they do on real
    data (the accuracy is reported beside chance as a sanity check, not as a result).
    """
    import torch

    from zsl_pipeline.training.features import FeatureTensors

    g = torch.Generator().manual_seed(seed)
    d, a, seen, unseen = shapes["feature_dim"], shapes["attr_dim"], shapes["seen"], shapes["unseen"]
    emb = torch.nn.functional.normalize(torch.randn(seen + unseen, a, generator=g), dim=1)
    proj = torch.randn(a, d, generator=g) * 3.0

    def draw(n: int, first: int, count: int) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.randint(first, first + count, (n,), generator=g)
        x = torch.sigmoid(emb[y] @ proj + 0.5 * torch.randn(n, d, generator=g))
        return x.to(device), y.to(device)

    train_x, train_y = draw(shapes["ntrain"], 0, seen)
    test_seen_x, test_seen_y = draw(shapes["ntest_seen"], 0, seen)
    test_unseen_x, test_unseen_y = draw(shapes["ntest_unseen"], seen, unseen)
    return FeatureTensors(
        train_x=train_x, train_y=train_y, test_seen_x=test_seen_x, test_seen_y=test_seen_y,
        test_unseen_x=test_unseen_x, test_unseen_y=test_unseen_y, class_embeddings=emb.to(device),
        seen_classes=torch.arange(seen, device=device), unseen_classes=torch.arange(seen, seen + unseen, device=device),
        scaler_min=torch.zeros(d, dtype=torch.float64, device=device),
        scaler_scale=torch.ones(d, dtype=torch.float64, device=device),
        name="CUB-shaped generated data",
    )


def shaped_overrides(shapes: dict[str, Any], config_fields: set[str]) -> dict[str, Any]:
    """The config overrides of reduced shapes (widths, syn_num); none at CUB's shapes."""
    overrides = {}
    if shapes["width"] is not None:
        overrides.update({k: shapes["width"] for k in WIDTH_FIELDS if k in config_fields})
    if shapes["syn_num"] is not None and "syn_num" in config_fields:
        overrides["syn_num"] = shapes["syn_num"]
    return overrides


def matmul_tflops(device, precision: str, size: int, seconds: float = 1.0) -> float:
    """Measured TFLOP/s of a square (size x size) matmul at ``precision`` for about ``seconds``."""
    import torch

    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision, torch.float32)
    a = torch.randn(size, size, device=device).to(dtype)
    b = torch.randn(size, size, device=device).to(dtype)
    before = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"  # torch alone: runs without the library
    try:
        a @ b  # warm-up (cuBLAS handle, kernel selection)
        sync(device)
        repeats, start = 0, time.perf_counter()
        while repeats < 3 or time.perf_counter() - start < seconds:
            a @ b
            repeats += 1
            if repeats % 10 == 0 or device.type != "cuda":
                sync(device)
        sync(device)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = before
    return 2 * size**3 * repeats / (time.perf_counter() - start) / 1e12


# ---- sections -------------------------------------------------------------------------------------
# Each takes (device, quick, out_dir) and returns {"results": {...}, "note": "..."}; a raised
# ``Skip`` marks it skipped (with its message as the note).


class Skip(Exception):
    """The section cannot run here (no CUDA, a missing package): not a failure."""


def section_matmul(device, quick: bool, out: Path) -> dict[str, Any]:
    size = (4096 if quick else 8192) if device.type == "cuda" else (1024 if quick else 2048)
    names = ("fp32", "tf32", "bf16", "fp16") if device.type == "cuda" else ("fp32",)
    results = {p: matmul_tflops(device, p, size, seconds=0.5 if quick else 1.0) for p in names}
    note = f"{size}x{size} matmul" + ("" if device.type == "cuda" else "; CPU: fp32 only")
    return {"results": {"matmul_tflops": results}, "note": note}


def section_gpu_tests(device, quick: bool, out: Path) -> dict[str, Any]:
    importlib.import_module("pytest")
    # A test module that cannot import here (a missing package) must not stop the others.
    command = [sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider",
               "--continue-on-collection-errors", "tests"]
    missing = [name for name in ("kedro", "mlflow", "pydantic") if not importable(name)]
    if missing:
        command.append("--ignore=tests/pipelines")
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    (out / "logs" / "gpu_tests.pytest.log").write_text(done.stdout + done.stderr)
    summary = (done.stdout.strip().splitlines() or ["(no output)"])[-1].strip("= ")
    note = f"pytest -m gpu: {summary}" + (f"; tests/pipelines left out (no {', '.join(missing)})" if missing else "")
    # The short summary (-ra) names a module that could not be imported ("ERROR tests/x.py") apart
    # from a test that failed or errored ("FAILED tests/x.py::test", "ERROR tests/x.py::test").
    summary_lines = [line for line in done.stdout.splitlines() if line.startswith(("FAILED ", "ERROR "))]
    unimportable = [line.split()[1] for line in summary_lines if "::" not in line.split()[1]]
    if unimportable:
        note += f"; {len(unimportable)} test module(s) do not import here (logs/gpu_tests.pytest.log)"
    if len(summary_lines) > len(unimportable) or done.returncode not in (0, 1, 5):  # 5: nothing collected
        raise RuntimeError(note)
    if device.type != "cuda":
        raise Skip(f"no CUDA: {note}")
    return {"results": {"gpu_tests": summary}, "note": note}


def tfvaegan_epoch(precision: str) -> Callable[[Any, bool, Path], dict[str, Any]]:
    def section(device, quick: bool, out: Path) -> dict[str, Any]:
        import torch

        from zsl_pipeline.methods.tfvaegan.config import TFVAEGANConfig
        from zsl_pipeline.methods.tfvaegan.evaluate import make_epoch_evaluator
        from zsl_pipeline.methods.tfvaegan.loop import train_tfvaegan

        if precision not in precisions(device):
            raise Skip(f"{precision} needs a CUDA device that supports it (this one: {device})")
        shapes = SHAPES["quick" if quick else "full"]
        fields = set(TFVAEGANConfig.__dataclass_fields__)
        config = TFVAEGANConfig(nepoch=1, eval_every=1, checkpoint_every=0, precision=precision,
                                **shaped_overrides(shapes, fields))  # CUB settings otherwise (§2.9)
        data = cub_like(device, shapes)
        warm = cub_like(device, {**shapes, "ntrain": 2 * config.batch_size, "ntest_seen": 64, "ntest_unseen": 64})
        train_tfvaegan(warm, TFVAEGANConfig(**{**config.to_dict(), "syn_num": 8, "classifier_epochs": 1}), device)

        evaluation_s = 0.0
        evaluate = make_epoch_evaluator(data, config, device)

        def timed_evaluation(epoch, stats, models):
            nonlocal evaluation_s
            sync(device)
            start = time.perf_counter()
            metrics = evaluate(epoch, stats, models)
            sync(device)
            evaluation_s += time.perf_counter() - start
            return metrics

        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        sync(device)
        start = time.perf_counter()
        result = train_tfvaegan(data, config, device, callback=timed_evaluation)
        sync(device)
        seconds = time.perf_counter() - start
        last = result.history[-1]
        peak = torch.cuda.max_memory_allocated(device) / 1e9 if device.type == "cuda" else None
        results = {
            "tfvaegan_cub_epoch_s": {precision: seconds},
            "tfvaegan_cub_epoch_eval_s": {precision: evaluation_s},
            "peak_gpu_memory_gb": {precision: peak},
            "tfvaegan_cub_epoch_metrics": {precision: {k: last[k] for k in sorted(last) if k.startswith("final_")}},
        }
        chance = 100.0 / shapes["unseen"]
        note = (f"{seconds:.1f} s ({evaluation_s:.1f} s evaluation); ZSL {100 * last['final_zsl_accuracy']:.1f} % "
                f"(chance {chance:.1f} %), H {100 * last['final_harmonic_mean']:.1f} %")
        return {"results": results, "note": note}

    return section


def section_floor(device, quick: bool, out: Path) -> dict[str, Any]:
    """benchmarks/tfvaegan_speed.py: s per generator iteration of each pass against its floor."""
    sys.path.insert(0, str(BENCHMARKS))
    from tfvaegan_speed import measure

    shapes = SHAPES["quick" if quick else "full"]
    widths = {k: shapes["width"] for k in ("encoder_hidden", "ngh", "ndh")} if shapes["width"] else {}
    report = measure(device, "fp32", 2 if quick else 20, False, **widths)
    passes = {key: report[key] for key in ("plain_pass", "feedback_pass")}
    note = ", ".join(f"{key} {v['s_per_iter'] * 1e3:.1f} ms/iteration = {v['floor_ratio']:.2f}x its matmul floor "
                     f"({v['floor_ratio_with_optimizer']:.2f}x with Adam's)" for key, v in passes.items())
    return {"results": {"tfvaegan_floor_fp32": passes}, "note": note}


def section_methods(device, quick: bool, out: Path) -> dict[str, Any]:
    import dataclasses

    sys.path.insert(0, str(BENCHMARKS))
    from methods_speed import ROWS, iterations_per_epoch
    from torch.profiler import ProfilerActivity, profile

    from zsl_pipeline.methods import GENERATIVE_METHODS, get_method

    shapes = SHAPES["quick" if quick else "full"]
    peaks = read_section(out, "matmul").get("matmul_tflops", {})
    data = cub_like(device, shapes)
    timed_epochs = 2 if quick else 4
    rates: dict[str, dict[str, float]] = {}
    fractions: dict[str, dict[str, float | None]] = {}
    for name in GENERATIVE_METHODS:
        for precision in precisions(device):
            method = get_method(name)
            base = {**cub_params(name), "precision": precision}
            base.update(shaped_overrides(shapes, set(method.config_from_params(base).to_dict())))
            config = method.config_from_params({**base, "nepoch": 1 + timed_epochs + 1})
            n = ROWS[name]
            subset = dataclasses.replace(data, train_x=data.train_x[:n], train_y=data.train_y[:n])
            iters = iterations_per_epoch(name, config, n)
            stamps: list[float] = []
            activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
            profiler = profile(activities=activities, with_flops=True)

            def on_epoch(done: int, total: int) -> None:
                sync(device)
                stamps.append(time.perf_counter())
                if done == total - 1:
                    profiler.start()  # counts the last epoch's FLOPs (forward, backward, penalty)
                elif done == total:
                    profiler.stop()

            # One run: epoch 1 (after set-up: init, f-CLSWGAN's classifier pre-training) warms up,
            # the next ``timed_epochs`` are timed, the last is counted (counting slows it down).
            method.train(subset, config, device, on_epoch)
            rate = timed_epochs * iters / (stamps[timed_epochs] - stamps[0])
            flops = sum(event.flops or 0 for event in profiler.key_averages())
            rates.setdefault(name, {})[precision] = rate
            peak = peaks.get(precision)
            fractions.setdefault(name, {})[precision] = rate * flops / iters / (peak * 1e12) if peak else None
    note = ", ".join(f"{name} {by['fp32']:.3g}/s" for name, by in rates.items())
    return {"results": {"methods_iterations_per_s": rates, "methods_matmul_fraction": fractions},
            "note": f"fp32 iterations/s ({timed_epochs} timed epochs of {', '.join(f'{k} {v}' for k, v in ROWS.items())} rows): {note}"}


def section_extraction(device, quick: bool, out: Path) -> dict[str, Any]:
    import numpy as np
    import torch
    from PIL import Image

    from zsl_pipeline.training.device import precision_autocast, tf32_allowed
    from zsl_pipeline.vision.backbone import build_backbone
    from zsl_pipeline.vision.extraction import ExtractionConfig, extract_features

    count, size, resize, crop, batch = (32, (96, 128), 72, 64, 16) if quick else (512, (375, 500), 256, 224, 64)
    workers = min(8, os.cpu_count() or 1) if device.type == "cuda" else 0
    rng = np.random.default_rng(0)
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for i in range(count):  # JPEGs the size of a CUB image, decoded as a real run decodes them
            path = Path(folder) / f"image_{i:05d}.jpg"
            Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(path, quality=90)
            paths.append(path)
        backbone = build_backbone("none").to(device=device, memory_format=torch.channels_last)
        for precision in (("fp32", "bf16", "fp16") if device.type == "cuda" else ("fp32",)):
            config = ExtractionConfig(weights="none", resize=resize, crop=crop, batch_size=batch,
                                      num_workers=workers, precision=precision)
            extract_features(paths[:batch], config, device, backbone=backbone, progress=False)  # warm-up
            sync(device)
            start = time.perf_counter()
            extract_features(paths, config, device, backbone=backbone, progress=False)
            sync(device)
            pipeline = count / (time.perf_counter() - start)
            images = torch.randn(batch, 3, crop, crop, device=device).contiguous(memory_format=torch.channels_last)
            batches = max(3, math.ceil(count / batch))
            with torch.inference_mode(), precision_autocast(device, precision), tf32_allowed(precision == "tf32"):
                backbone(images)
                sync(device)
                start = time.perf_counter()
                for _ in range(batches):
                    backbone(images)
                sync(device)
            bare = batches * batch / (time.perf_counter() - start)
            results[precision] = {"extract_features": pipeline, "bare_forward": bare, "ratio": pipeline / bare}
    note = ", ".join(f"{p}: {r['extract_features']:.0f} img/s = {r['ratio']:.0%} of the bare forward"
                     for p, r in results.items())
    return {"results": {"extraction_images_per_s": results}, "note": f"{count} {size[1]}x{size[0]} JPEGs, "
            f"batch {batch}, {workers} workers; {note}"}


def kedro_section(pipeline: str) -> Callable[[Any, bool, Path], dict[str, Any]]:
    def section(device, quick: bool, out: Path) -> dict[str, Any]:
        for name in ("kedro", "mlflow", "pydantic", "yaml"):
            importlib.import_module(name)
        sys.path.insert(0, str(BENCHMARKS))
        from regression import SHORT_SCHEDULE, copy_tree

        project = out / "project"
        if pipeline == "tfvaegan" or not project.is_dir():
            shutil.rmtree(project, ignore_errors=True)
            project.mkdir(parents=True)
            copy_tree(REPO, project)
        # --quick: the short schedule throughout; else the demo's own schedule, and a compare
        # with the short schedule's method epochs and one seed (the same demo data as the chain).
        if quick:
            schedule = dict(SHORT_SCHEDULE)
        elif pipeline == "compare":
            schedule = {k: v for k, v in SHORT_SCHEDULE.items() if k.split(".")[0] in COMPARE_SHORTENED}
        else:
            schedule = {}
        schedule["device"] = device.type
        params = ",".join(f"{k}={v}" for k, v in schedule.items())
        env = {**os.environ, "PYTHONPATH": str(project / "src"), "KEDRO_DISABLE_TELEMETRY": "true",
               "DO_NOT_TRACK": "1"}
        command = [sys.executable, "-m", "kedro", "run", f"--pipelines={pipeline}", "--params", params]
        cached = pipeline == "compare" and any((project / "data" / "local" / "04_feature").glob("zsl_dataset.npz/*"))
        if cached:
            command.append("--from-inputs=zsl_dataset")  # the chain's features, from the catalog
        log = out / "logs" / f"kedro_{pipeline}.log"
        start = time.perf_counter()
        with log.open("w") as stream:
            done = subprocess.run(command, cwd=project, env=env, stdout=stream, stderr=subprocess.STDOUT)
        seconds = time.perf_counter() - start
        if done.returncode != 0:
            tail = log.read_text().strip().splitlines()[-1:] or [""]
            raise RuntimeError(f"kedro run --pipelines={pipeline} failed (exit {done.returncode}): {tail[0]}")
        name = "tfvaegan_metrics.json" if pipeline == "tfvaegan" else "comparison_metrics.json"
        found = sorted((project / "data" / "local" / "08_reporting").rglob(name), key=lambda p: p.stat().st_mtime)
        metrics = json.loads(found[-1].read_text()) if found else {}
        how = ["short schedule" if quick or pipeline == "compare" else "demo schedule", f"device {device.type}"]
        how += ["from the chain's cached features"] if cached else []
        return {"results": {f"kedro_{pipeline}": {"seconds": seconds, "metrics": metrics}},
                "note": f"kedro run --pipelines={pipeline} ({', '.join(how)}): {seconds:.0f} s"}

    return section


@dataclass(frozen=True)
class Section:
    name: str
    run: Callable[[Any, bool, Path], dict[str, Any]]
    #: Time box in seconds: (full check on a GPU, --quick on a CPU).
    box: tuple[int, int]


SECTIONS = (
    Section("matmul", section_matmul, (30, 30)),
    Section("gpu_tests", section_gpu_tests, (90, 120)),
    Section("tfvaegan_cub_epoch_fp32", tfvaegan_epoch("fp32"), (60, 90)),
    Section("tfvaegan_cub_epoch_bf16", tfvaegan_epoch("bf16"), (45, 30)),
    Section("tfvaegan_floor", section_floor, (60, 60)),
    Section("methods_iterations", section_methods, (60, 150)),
    Section("extraction", section_extraction, (45, 90)),
    Section("demo_chain", kedro_section("tfvaegan"), (100, 240)),
    Section("compare", kedro_section("compare"), (60, 180)),
)


# ---- running the sections and writing the report -------------------------------------------------


def importable(name: str) -> bool:
    try:
        importlib.import_module(name)
    except Exception:  # noqa: BLE001 - a broken install counts as missing
        return False
    return True


def cub_params(name: str) -> dict[str, Any]:
    """A method's CUB parameters from ``conf/cub`` (method defaults when PyYAML is missing)."""
    path = REPO / "conf" / "cub" / f"parameters_{name}.yml"
    if not importable("yaml") or not path.is_file():
        return {}
    import yaml

    return dict(yaml.safe_load(path.read_text())[name])


def read_section(out: Path, name: str) -> dict[str, Any]:
    path = out / "sections" / f"{name}.json"
    return json.loads(path.read_text()).get("results", {}) if path.is_file() else {}


def run_section(name: str, out: Path, quick: bool, device_name: str) -> None:
    """The section process: run one section, write ``OUT/sections/<name>.json`` (none if it raised)."""
    import torch

    device = torch.device(device_name)
    torch.manual_seed(0)
    section = next(s for s in SECTIONS if s.name == name)
    try:
        record = {"status": "ok", **section.run(device, quick, out)}
    except Skip as err:
        record = {"status": "skipped", "note": str(err)}
    except ImportError as err:  # a package missing (or broken) on this host
        record = {"status": "skipped", "note": f"needs {err.name or 'a package'}, which does not import here: {err}"}
    (out / "sections" / f"{name}.json").write_text(json.dumps(record, indent=1, default=str))


def merge(report: dict[str, Any], results: dict[str, Any]) -> None:
    """Add a section's results: dict values keyed by precision/method merge into existing ones."""
    for key, value in results.items():
        if isinstance(value, dict) and isinstance(report.get(key), dict):
            report[key].update(value)
        else:
            report[key] = value


def write_report(report: dict[str, Any], out: Path) -> None:
    (out / "device_check.json").write_text(json.dumps(report, indent=1, default=str) + "\n")
    lines = [
        f"# Device check{' (--quick: reduced shapes)' if report['quick'] else ''}",
        "",
        f"{report['device']} · torch {report['torch_version']} · Python {report['python_version']} · "
        f"started {report['started_at']} · {report['total_seconds']:.0f} s",
        "",
        f"Missing packages: {', '.join(report['missing_packages']) or 'none'}",
        "",
        "| section | status | seconds | note |",
        "|---|---|---:|---|",
    ]
    lines += [f"| {s['name']} | {s['status']} | {s['seconds']:.1f} | {s['note'].replace('|', '/')} |"
              for s in report["sections"]]
    figures = [("matmul TFLOP/s", report["matmul_tflops"]),
               ("TF-VAEGAN CUB-shaped epoch + evaluation (s)", report["tfvaegan_cub_epoch_s"]),
               ("of which evaluation (s)", report.get("tfvaegan_cub_epoch_eval_s", {})),
               ("peak GPU memory of that epoch (GB)", report["peak_gpu_memory_gb"])]
    lines += ["", "| figure | " + " | ".join(("fp32", "tf32", "bf16", "fp16")) + " |", "|---|---:|---:|---:|---:|"]
    for label, by_precision in figures:
        lines.append(f"| {label} | " + " | ".join(fmt(by_precision.get(p)) for p in ("fp32", "tf32", "bf16", "fp16")) + " |")
    floor = report.get("tfvaegan_floor_fp32") or {}
    if floor:
        lines += ["", "| TF-VAEGAN CUB-shaped fp32 pass | s/iteration | matmul floor (s) | Adam floor (s) | x matmul floor | "
                  "x both floors |", "|---|---:|---:|---:|---:|---:|"]
        lines += [f"| {key} | {fmt(v['s_per_iter'])} | {fmt(v['matmul_floor_s'])} | {fmt(v['optimizer_floor_s'])} | "
                  f"{fmt(v['floor_ratio'])} | {fmt(v['floor_ratio_with_optimizer'])} |" for key, v in floor.items()]
    if report["methods_iterations_per_s"]:
        lines += ["", "| method | iterations/s fp32 | of matmul fp32 | iterations/s bf16 | of matmul bf16 |",
                  "|---|---:|---:|---:|---:|"]
        fractions = report.get("methods_matmul_fraction", {})
        for name, rates in report["methods_iterations_per_s"].items():
            frac = fractions.get(name, {})
            lines.append(f"| {name} | {fmt(rates.get('fp32'))} | {pct(frac.get('fp32'))} | "
                         f"{fmt(rates.get('bf16'))} | {pct(frac.get('bf16'))} |")
    (out / "device_check.md").write_text("\n".join(lines) + "\n")


def fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.3g}"


def pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def environment(device_name: str) -> tuple[dict[str, Any], str]:
    """The report's header fields, and the device the sections use (torch alone: the library
    may not import here)."""
    import torch

    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if device_name == "auto" else device_name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit(f"device_check: --device {device_name}, but torch {torch.__version__} sees no CUDA device")
    if device.type == "cuda":
        described = f"{torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda})"
    else:
        described = f"{device.type} ({platform.machine()}, {torch.get_num_threads()} threads)"
    return {"device": described, "device_type": device.type, "torch_version": torch.__version__}, str(device)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder for device_check.json, device_check.md and logs/")
    parser.add_argument("--quick", action="store_true", help="reduced shapes: tests the script on a CPU")
    parser.add_argument("--only", default=None, help="comma-separated section names (default: all)")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cuda, cuda:1, cpu")
    parser.add_argument("--budget", type=float, default=None, help="seconds for the whole check (300; --quick 600)")
    parser.add_argument("--section", default=None, help=argparse.SUPPRESS)  # internal: one section's process
    args = parser.parse_args()
    out: Path = args.out.resolve()
    if args.section:
        run_section(args.section, out, args.quick, args.device)
        return 0

    names = [s.name for s in SECTIONS]
    wanted = names if args.only is None else [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = sorted(set(wanted) - set(names))
    if unknown:
        parser.error(f"unknown section(s) {unknown}; sections are: {', '.join(names)}")
    for sub in ("sections", "logs"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    started, budget = time.perf_counter(), args.budget or (600.0 if args.quick else 300.0)
    missing = sorted(dist for name, dist in PACKAGES.items() if not importable(name))
    report: dict[str, Any] = {
        "device": None, "torch_version": None, "python_version": platform.python_version(), "quick": args.quick,
        "started_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "missing_packages": missing, "sections": [], "total_seconds": 0.0, "matmul_tflops": {},
        "tfvaegan_cub_epoch_s": {}, "peak_gpu_memory_gb": {}, "methods_iterations_per_s": {},
    }
    try:
        header, device = environment(args.device)
    except ModuleNotFoundError as err:
        report["missing_packages"] = sorted({*missing, err.name})
        header, device = {"device": f"unknown: {err.name} is not installed"}, None
    report.update(header)
    print(f"device check: {report['device']}, Python {report['python_version']}, torch {report['torch_version']}; "
          f"missing: {', '.join(missing) or 'none'}", flush=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")]))}
    for section in (s for s in SECTIONS if s.name in wanted):
        left = budget - (time.perf_counter() - started)
        box = min(section.box[1 if args.quick else 0], left)
        start = time.perf_counter()
        if device is None:
            record = {"status": "skipped", "note": "torch is not installed"}
        elif box < 5:
            record = {"status": "skipped", "note": f"the check's {budget:.0f} s budget is spent"}
        else:
            record = run_child(section.name, out, args, device, box=box, env=env)
        entry = {"name": section.name, "status": record["status"], "seconds": time.perf_counter() - start,
                 "note": record.get("note", "")}
        report["sections"].append(entry)
        merge(report, record.get("results", {}))
        report["total_seconds"] = time.perf_counter() - started
        write_report(report, out)
        print(f"  {entry['name']}: {entry['status']} in {entry['seconds']:.0f} s — {entry['note']}", flush=True)
    shutil.rmtree(out / "project", ignore_errors=True)
    print(f"report: {out / 'device_check.md'}")
    return 1 if any(s["status"] == "failed" for s in report["sections"]) else 0


def run_child(name: str, out: Path, args: argparse.Namespace, device: str, *, box: float, env: dict) -> dict:
    """Run section ``name`` in its own process for at most ``box`` seconds; its record."""
    result_file = out / "sections" / f"{name}.json"
    result_file.unlink(missing_ok=True)
    command = [sys.executable, str(Path(__file__).resolve()), str(out), "--section", name, "--device", device]
    command += ["--quick"] if args.quick else []
    log = out / "logs" / f"{name}.log"
    with log.open("w") as stream:
        child = subprocess.Popen(command, cwd=REPO, env=env, stdout=stream, stderr=subprocess.STDOUT,
                                 start_new_session=True)
        try:
            child.wait(timeout=box)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, 9)  # the section and anything it started (Kedro, pytest)
            child.wait()
            return {"status": "timeout", "note": f"stopped after its {box:.0f} s time box; log {log.name}"}
    if result_file.is_file():
        return json.loads(result_file.read_text())
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    return {"status": "failed", "note": (lines[-1] if lines else f"exit {child.returncode}") + f" (log {log.name})"}


if __name__ == "__main__":
    sys.exit(main())
