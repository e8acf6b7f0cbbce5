"""Check that a refactoring changed no number: the same demo schedule at two code versions.

Runs the Kedro pipelines ``tfvaegan`` then ``compare`` with a short demo schedule
(``SHORT_SCHEDULE`` below) or the full demo (``--schedule demo``), MLflow off, CPU by default,
once in a ``git worktree`` of ``--base`` and once in a copy of ``--tree`` (tracked and
untracked non-ignored files, so nothing lands in your checkout and ``conf/local`` is left out of
both), one after the other (``--parallel``: at once), with the same interpreter and thread
count. Then it compares, digit for digit, every output under ``data/`` of these kinds:

* ``.json`` (metrics, histories, runs) and ``.csv`` (reports, the demo manifest): floats must be
  repr-equal, CSV cells string-equal;
* ``.pt`` (every checkpoint: ``tfvaegan_model.pt`` and each ``<method>/trained_models.pt`` with
  their ``history``, state dicts, optimiser and RNG states, synthetic features, the fine-tuned
  backbone, inversion) and ``.npz`` (datasets with features): tensors and arrays bitwise
  (same dtype, shape and bytes), everything else as above.

Files are matched by their path under ``data/<env>/`` (or ``data/`` at commits before the
per-environment layout), and a ``source_data`` record present on one side only (the data
fingerprint added with it) is not a difference.
A versioned dataset (``<name>.json/<version>/<name>.json``) is compared at its latest version,
and where a run saved it more than once (``compare`` recomputes the features) the earlier saves
too, matched by order and shown as ``<name>~1`` (the features of both runs of one tree are
also bitwise equal, which checks that a run is reproducible). Not compared: figures (``.png``), Markdown
tables (``.md``, same content as the CSV plus times) and other files. Excluded everywhere, as
wall-clock or memory measurements: dict keys and CSV columns matching ``EXCLUDED`` (today
``seconds``, ``wall_time_s``, ``wall_time_s_mean``, ``train_time_s``, ``peak_memory_mb``,
``peak_memory_mb_max``; any key with a ``time``, ``seconds``, ``memory``, ``elapsed`` or
``duration`` word).

Results differ between machines, thread counts, devices and library versions, so this is a
script to run before and after a change on one machine, not a CI test with stored numbers.
Exit code 0: everything the same; 1: differences (or files in one tree only); 2: a run failed.

    .venv/bin/python benchmarks/regression.py --base HEAD            # working tree against HEAD
    .venv/bin/python benchmarks/regression.py --base main --tree ../other-checkout --keep
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import torch

PIPELINES = ("tfvaegan", "compare")
#: The short demo schedule: a 20-class demo, one epoch or two of everything, one seed.
SHORT_SCHEDULE = {
    "mlflow.enabled": "false",
    "demo.num_classes": "20",
    "demo.num_unseen": "5",
    "demo.images_per_class": "12",
    "finetune.epochs": "1",
    "tfvaegan.nepoch": "2",
    "tfvaegan.eval_every": "1",
    "tfvaegan.syn_num": "50",
    "inversion.epochs": "1",
    "compare_runs.seeds": "[0]",  # Kedro splits --params on every comma: one-element lists only
    "clswgan.nepoch": "2",
    "filmwgan.nepoch": "2",
    "zswgan.nepoch": "2",
    "cada_vae.nepoch": "2",
}
#: ``--schedule``: ``short`` (minutes), or ``demo``: what ``make run`` and ``kedro run
#: --pipelines=compare`` run (the demo's own settings, tracking off).
SCHEDULES = {"short": SHORT_SCHEDULE, "demo": {"mlflow.enabled": "false"}}
#: Keys (and CSV columns) holding wall-clock or memory measurements, not results.
EXCLUDED = re.compile(r"(^|_)(time|seconds|memory|elapsed|duration)(_|$)")
#: A Kedro layer folder (``06_models``); anything else directly under ``data/`` is an environment.
LAYER = re.compile(r"^\d\d_")
#: Bookkeeping keys a side may lack (added by a newer version, no number): ``source_data``.
METADATA_ONLY = {"source_data"}
COMPARED_SUFFIXES = (".json", ".csv", ".pt", ".npz")


def fail(message: str) -> NoReturn:
    """Stop with exit code 2 (a run could not be made, as opposed to 1: numbers differ)."""
    print(message, file=sys.stderr)
    raise SystemExit(2)


def git(repo: Path, *args: str) -> str:
    """Output of ``git -C repo args`` (raises on failure)."""
    done = subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True)
    return done.stdout.strip()


def copy_tree(tree: Path, dest: Path) -> None:
    """Copy the tracked and untracked non-ignored files of ``tree`` to ``dest``."""
    listed = git(tree, "ls-files", "-co", "--exclude-standard", "-z")
    for name in filter(None, listed.split("\0")):
        source = tree / name
        if source.is_file() or source.is_symlink():  # skips tracked files deleted in the tree
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name, follow_symlinks=False)


def run_pipelines(copy: Path, python: str, threads: int, schedule: dict[str, str], logs: Path) -> float:
    """Run every pipeline of ``PIPELINES`` in ``copy`` with the ``schedule`` parameters; the wall
    time in seconds (exit 2 on failure)."""
    env = {**os.environ, "PYTHONPATH": str(copy / "src"), "OMP_NUM_THREADS": str(threads),
           "MKL_NUM_THREADS": str(threads), "KEDRO_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "1"}
    probe = [python, "-c", "import zsl_pipeline; print(zsl_pipeline.__file__)"]
    found = subprocess.run(probe, cwd=copy, env=env, check=True, capture_output=True, text=True).stdout
    if not Path(found.strip()).resolve().is_relative_to((copy / "src").resolve()):
        fail(f"{copy}: imports zsl_pipeline from {found.strip()}, not from its own src/")
    params = ",".join(f"{key}={value}" for key, value in schedule.items())
    start = time.perf_counter()
    for pipeline in PIPELINES:
        log = logs / f"{copy.name}-{pipeline}.log"
        step = time.perf_counter()
        with log.open("w") as out:
            command = [python, "-m", "kedro", "run", f"--pipelines={pipeline}", "--params", params]
            result = subprocess.run(command, cwd=copy, env=env, stdout=out, stderr=subprocess.STDOUT)
        seconds = time.perf_counter() - step
        print(f"  {copy.name}: kedro run --pipelines={pipeline}: {seconds:.0f} s", flush=True)
        if result.returncode != 0:
            print("".join(log.read_text().splitlines(keepends=True)[-40:]))
            fail(f"{copy.name}: {pipeline} failed (exit {result.returncode}); log {log} (--keep keeps it)")
    return time.perf_counter() - start


def collect_outputs(data: Path) -> dict[str, Path]:
    """Compared files under ``data`` by logical name (versions: ``name`` latest, ``name~1`` ...)."""
    versions: dict[str, list[tuple[str, Path]]] = {}
    for path in data.rglob("*"):
        if not path.is_file() or path.suffix not in COMPARED_SUFFIXES:
            continue
        rel = path.relative_to(data)
        if rel.parts and not LAYER.match(rel.parts[0]):  # data/<env>/<layer>/... since issue 12
            rel = Path(*rel.parts[1:])
        versioned = len(rel.parts) >= 3 and rel.parts[-3] == rel.name
        name = str(rel.parent.parent) if versioned else str(rel)
        versions.setdefault(name, []).append((rel.parts[-2] if versioned else "", path))
    outputs = {}
    for name, saved in versions.items():
        for age, (_, path) in enumerate(sorted(saved, reverse=True)):  # Kedro versions sort by time
            outputs[name if age == 0 else f"{name}~{age}"] = path
    return outputs


def load(path: Path) -> Any:
    """A compared file as Python objects (CSV: a list of {column: cell string} rows)."""
    if path.suffix == ".json":
        return json.loads(path.read_text())
    if path.suffix == ".csv":
        with path.open(newline="") as f:
            return list(csv.DictReader(f))
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as arrays:
            return dict(arrays)
    return torch.load(path, map_location="cpu", weights_only=True)


def same_bits(a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray) -> bool:
    """Same dtype and shape, and equal values (``torch.equal``) or else identical bytes (NaN = NaN)."""
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    if isinstance(a, np.ndarray):
        return bool(np.array_equal(a, b)) or a.tobytes() == b.tobytes()
    return torch.equal(a, b) or torch.equal(a.contiguous().reshape(-1).view(torch.uint8),
                                            b.contiguous().reshape(-1).view(torch.uint8))


def describe(value: Any) -> str:
    """A short text for a value in the report."""
    if isinstance(value, (torch.Tensor, np.ndarray)):
        return f"{type(value).__name__}({value.dtype}, shape {tuple(value.shape)})"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def tensor_diff(a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray) -> str:
    """How two tensors or arrays differ (dtype or shape; else count and largest difference)."""
    if a.dtype != b.dtype or a.shape != b.shape:
        return f"{describe(a)} != {describe(b)}"
    if isinstance(a, np.ndarray) and a.dtype.kind not in "biuf":  # e.g. class names
        return f"{int((a != b).sum())} of {a.size} elements differ ({a.dtype})"
    a, b = torch.as_tensor(a), torch.as_tensor(b)
    differ = (a != b) & ~(a.isnan() & b.isnan()) if a.is_floating_point() else a != b
    largest = 0.0
    if differ.any() and a.dtype != torch.bool:
        largest = (a.double() - b.double()).abs()[differ].max().item()
    return f"{int(differ.sum())} of {a.numel()} elements differ ({a.dtype}), max |diff| {largest!r}"


def differences(a: Any, b: Any, path: str, found: list[str]) -> None:
    """Append to ``found`` a line per differing leaf of ``a`` and ``b`` (excluded keys skipped)."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b), key=str):
            where = f"{path}.{key}" if path else str(key)
            if EXCLUDED.search(str(key)):
                continue
            if (key not in a or key not in b) and key in METADATA_ONLY:
                continue
            if key not in a or key not in b:
                found.append(f"{where}: only in {'base' if key in a else 'tree'}")
            else:
                differences(a[key], b[key], where, found)
    elif isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b):
            found.append(f"{path}: length {len(a)} != {len(b)}")
        for index, (x, y) in enumerate(zip(a, b)):
            differences(x, y, f"{path}[{index}]", found)
    elif isinstance(a, (torch.Tensor, np.ndarray)) and type(a) is type(b):
        if not same_bits(a, b):
            found.append(f"{path}: {tensor_diff(a, b)}")
    elif type(a) is not type(b) or repr(a) != repr(b):
        found.append(f"{path}: base {describe(a)} != tree {describe(b)}")


def compare_outputs(base: Path, tree: Path, max_diffs: int) -> bool:
    """Print the per-file report for ``base/data`` against ``tree/data``; True if all the same."""
    left, right = collect_outputs(base / "data"), collect_outputs(tree / "data")
    all_same = True
    for name in sorted(set(left) | set(right)):
        if name not in left or name not in right:
            print(f"{name}: only in {'base' if name in left else 'tree'}")
            all_same = False
            continue
        found: list[str] = []
        differences(load(left[name]), load(right[name]), "", found)
        print(f"{name}: {'same' if not found else f'{len(found)} differences'}")
        for line in found[:max_diffs]:
            print(f"    {line}")
        if len(found) > max_diffs:
            print(f"    ... and {len(found) - max_diffs} more")
        all_same = all_same and not found
    return all_same


def main() -> int:
    """Parse the arguments, run both versions, compare, clean up; the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="HEAD", help="commit-ish to compare against (default HEAD)")
    parser.add_argument("--tree", type=Path, default=Path(__file__).resolve().parents[1],
                        help="working tree to check (default: the repository holding this script)")
    parser.add_argument("--threads", type=int, default=1, help="OMP/MKL threads of both runs (default 1)")
    parser.add_argument("--device", default="cpu", help="the runs' `device` parameter (default cpu)")
    parser.add_argument("--python", default=sys.executable, help="interpreter with the project's packages")
    parser.add_argument("--workdir", type=Path, help="where the two copies go (default: a new temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the copies, their data/ and the logs")
    parser.add_argument("--max-diffs", type=int, default=10, help="differences shown per file (default 10)")
    parser.add_argument("--schedule", choices=sorted(SCHEDULES), default="short",
                        help="short (default, minutes) or demo (the full demo of `make run` and compare)")
    parser.add_argument("--parallel", action="store_true",
                        help="run both copies at once (use with --threads 1 on a 2-core machine)")
    args = parser.parse_args()
    tree = args.tree.resolve()
    commit = git(tree, "rev-parse", "--verify", f"{args.base}^{{commit}}")
    workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="zsl-regression-"))).resolve()
    base_copy, tree_copy = workdir / "base", workdir / "tree"
    if base_copy.exists() or tree_copy.exists():
        fail(f"{workdir} already holds base/ or tree/: remove them or choose another --workdir")
    start = time.perf_counter()
    print(f"base {args.base} = {commit}\ntree {tree}\nworkdir {workdir}")
    print(f"schedule {args.schedule}, threads {args.threads}, device {args.device}, python {args.python}")
    try:
        git(tree, "worktree", "add", "--detach", str(base_copy), commit)
        tree_copy.mkdir(parents=True)
        copy_tree(tree, tree_copy)
        schedule = {**SCHEDULES[args.schedule], "device": args.device}

        def run(copy: Path) -> None:
            seconds = run_pipelines(copy, args.python, args.threads, schedule, workdir)
            print(f"{copy.name}: both pipelines in {seconds:.0f} s", flush=True)

        with ThreadPoolExecutor(max_workers=2 if args.parallel else 1) as pool:
            list(pool.map(run, (base_copy, tree_copy)))
        all_same = compare_outputs(base_copy, tree_copy, args.max_diffs)
    finally:
        if not args.keep:
            if base_copy.exists():
                git(tree, "worktree", "remove", "--force", str(base_copy))
            shutil.rmtree(tree_copy if args.workdir else workdir, ignore_errors=True)
    verdict = "ALL SAME" if all_same else "DIFFERENCES FOUND"
    print(f"\n{verdict}; wall time {time.perf_counter() - start:.0f} s")
    return 0 if all_same else 1


if __name__ == "__main__":
    sys.exit(main())
