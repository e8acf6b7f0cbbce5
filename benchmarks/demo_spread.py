"""The demo's numbers as a newcomer gets them: the whole chain (fine-tuning included) over
several seeds, reported as mean ± sample std and min–max, never as one run.

Seed k offsets every seed of the chain by k (``finetune.seed``, ``extraction.init_seed`` of the
random-init backbone, ``tfvaegan.seed``), so k = 0 is the configured demo, and runs
``kedro run --pipelines=tfvaegan --to-nodes=evaluate`` (inversion is left out: it does not feed
the numbers) with MLflow off, one seed after another. Each run writes a new version of the
demo's outputs under data/local/ (the latest version is the last seed's), and the torch thread
count of the runs is the one given (it changes the numbers in the last bits, which fine-tuning
from random weights amplifies).

    .venv/bin/python benchmarks/demo_spread.py --seeds 0 1 2 --threads 2 --out demo_spread.json
    .venv/bin/python benchmarks/demo_spread.py --seeds 0 1 --params tfvaegan.encoded_noise=true
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
REPORTING = ROOT / "data" / "local" / "08_reporting"
#: (label, path in tfvaegan_metrics.json) of every reported number.
NUMBERS = {
    f"{row} {name}": (row, key)
    for row in ("final", "best_on_test", "eszsl")
    for name, key in (("ZSL T1", "zsl_t1"), ("u", "gzsl_u"), ("s", "gzsl_s"), ("H", "gzsl_h"))
}
NUMBERS["syn/real spread"] = ("generator", "spread_ratio")
NUMBERS["nearest syn. mean"] = ("generator", "nearest_synthetic_mean_accuracy")
TFVAEGAN_SEED = 3483  # conf/base/parameters_tfvaegan.yml


def latest_metrics() -> dict:
    versions = sorted((REPORTING / "tfvaegan_metrics.json").glob("*/tfvaegan_metrics.json"))
    return json.loads(versions[-1].read_text())


def run_seed(k: int, threads: int | None, extra: list[str]) -> tuple[dict, float]:
    params = [f"finetune.seed={k}", f"extraction.init_seed={k}", f"tfvaegan.seed={TFVAEGAN_SEED + k}",
              "mlflow.enabled=false", *extra]  # fmt: skip
    env = dict(os.environ, KEDRO_DISABLE_TELEMETRY="true")
    if threads:
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    command = [str(Path(sys.executable).with_name("kedro")), "run", "--pipelines=tfvaegan", "--to-nodes=evaluate"]
    command += ["--params", ",".join(params)]  # Kedro splits on commas: no value may contain one
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    return latest_metrics(), time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=None, help="torch threads of the runs (default: torch's)")
    parser.add_argument("--params", nargs="*", default=[], help="extra key=value parameters for every run")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    runs = []
    for k in args.seeds:
        metrics, seconds = run_seed(k, args.threads, args.params)
        values = {label: 100 * float(metrics[row][key]) if key != "spread_ratio" else float(metrics[row][key])
                  for label, (row, key) in NUMBERS.items()}  # fmt: skip
        runs.append({"seed": k, "seconds": seconds, **values})
        print(json.dumps(runs[-1]), flush=True)
    print(f"\n{len(runs)} seeds {args.seeds}, threads {args.threads or 'torch default'}, params {args.params}\n")
    print("| number | mean ± std | min – max |")
    print("|---|---:|---:|")
    for label in NUMBERS:
        x = np.array([r[label] for r in runs])
        std = f" ± {x.std(ddof=1):.{2 if label == 'syn/real spread' else 1}f}" if x.size > 1 else ""
        digits = 2 if label == "syn/real spread" else 1
        print(f"| {label} | {x.mean():.{digits}f}{std} | {x.min():.{digits}f} – {x.max():.{digits}f} |")
    print(f"\nwall time per run: {np.mean([r['seconds'] for r in runs]):.0f} s")
    if args.out:
        args.out.write_text(json.dumps(runs, indent=2))


if __name__ == "__main__":
    main()
