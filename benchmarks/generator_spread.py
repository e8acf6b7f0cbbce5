"""How far apart a generator's synthetic classes are, against the real ones, on the demo's
features, for a grid of settings: the evidence for what makes TF-VAEGAN's synthetic class means
squeeze together on the demo (issue: "generator diagnostics").

Trains each variant with the method runner on a ``zsl_dataset`` (the demo's latest extraction
by default: run ``make run`` first), evaluates it as the pipelines do, and prints per variant
the generator diagnostics (``evaluation.diagnostics``) and the final-protocol accuracies.

    .venv/bin/python benchmarks/generator_spread.py                                  # TF-VAEGAN variants
    .venv/bin/python benchmarks/generator_spread.py --variants demo reference_rates --seeds 0 1 2
    .venv/bin/python benchmarks/generator_spread.py --method clswgan --variants demo

Variants (overrides of the method's demo block in conf/base/parameters_<method>.yml):
``demo`` (as configured), ``reference_rates`` (CUB's learning rates: lr 1e-4, feed_lr 1e-5),
``reference_widths`` (4096-wide networks, the reference's), ``reference`` (both),
``no_feedback`` (use_feedback false), ``prior_noise`` (encoded_noise false, the demo's setting
since 2026-12-01), ``encoded_noise`` (encoded_noise true: CUB's, AWA2's and SUN's, the demo's before).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import yaml

from zsl_pipeline.io import ZeroShotDatasetIO
from zsl_pipeline.methods import get_method
from zsl_pipeline.methods.runner import RunSettings, evaluate_runs, train_runs
from zsl_pipeline.training.device import resolve_device

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = {
    "demo": {},
    "reference_rates": {"lr": 1e-4, "feed_lr": 1e-5},
    "reference_widths": {"encoder_hidden": 4096, "ngh": 4096, "ndh": 4096},
    "reference": {"lr": 1e-4, "feed_lr": 1e-5, "encoder_hidden": 4096, "ngh": 4096, "ndh": 4096},
    "no_feedback": {"use_feedback": False},
    "prior_noise": {"encoded_noise": False},
    "encoded_noise": {"encoded_noise": True},
}
SHOWN = ("spread_ratio", "within_class_ratio", "nearest_synthetic_mean_accuracy", "nearest_real_mean_accuracy",
         "class_distance_relative")  # fmt: skip


def latest_demo_features() -> Path:
    versions = sorted((ROOT / "data/local/04_feature/zsl_dataset.npz").glob("*/zsl_dataset.npz"))
    if not versions:
        raise SystemExit("no demo features: run `make run` first (or pass --features)")
    return versions[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--method", default="tfvaegan")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--nepoch", type=int, default=None, help="override the demo's number of epochs")
    parser.add_argument("--features", type=Path, default=None, help="a zsl_dataset .npz (default: the demo's latest)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", type=Path, default=None, help="write the rows as JSON here too")
    args = parser.parse_args()

    path = args.features or latest_demo_features()
    ds = ZeroShotDatasetIO(filepath=str(path)).load()
    method, device = get_method(args.method), resolve_device(args.device)
    demo = yaml.safe_load((ROOT / "conf/base" / f"parameters_{args.method}.yml").read_text())[args.method]
    settings = RunSettings(seeds=tuple(args.seeds))
    rows = []
    for name in args.variants:
        overrides = {**VARIANTS[name], **({"nepoch": args.nepoch} if args.nepoch else {})}
        config = method.config_from_params({**demo, **overrides})
        start = time.perf_counter()
        trained = train_runs(method, ds, config, settings, device, show_progress=False)
        for record in evaluate_runs(method, ds, trained, settings, device):
            row = {"variant": name, "seed": record["seed"], **{k: record["generator"][k] for k in SHOWN},
                   "zsl_t1": record["final"]["zsl_t1"], "gzsl_h": record["final"]["gzsl_h"],
                   "seconds": time.perf_counter() - start}  # fmt: skip
            rows.append(row)
            print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}), flush=True)
    print(f"\nfeatures: {path}\n")
    print("| variant | seed | syn/real spread | within-class ratio | nearest syn. mean | nearest real mean | "
          "W2 / real spread | ZSL T1 | H |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['variant']} | {r['seed']} | {r['spread_ratio']:.2f} | {r['within_class_ratio']:.2f} | "
              f"{100 * r['nearest_synthetic_mean_accuracy']:.1f} | {100 * r['nearest_real_mean_accuracy']:.1f} | "
              f"{r['class_distance_relative']:.2f} | {100 * r['zsl_t1']:.1f} | {100 * r['gzsl_h']:.1f} |")
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
