"""The device check (benchmarks/device_check.sh) runs on a CPU machine and reports what it must."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "benchmarks" / "device_check.sh"
#: The keys the report promises (the GPU-readiness issue's list).
REPORT_KEYS = {
    "device", "torch_version", "python_version", "sections", "tfvaegan_cub_epoch_s", "peak_gpu_memory_gb",
    "matmul_tflops", "methods_iterations_per_s",
}


def run_check(out: Path, *args: str, pythonpath: str | None = None) -> dict:
    env = {**os.environ, "PYTHON": sys.executable}
    env.pop("PYTHONPATH", None)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    done = subprocess.run(["bash", str(SCRIPT), *args, str(out)], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (out / "device_check.md").is_file()
    return json.loads((out / "device_check.json").read_text())


def by_name(report: dict) -> dict[str, dict]:
    return {s["name"]: s for s in report["sections"]}


@pytest.mark.slow
def test_the_quick_check_runs_every_section_on_a_cpu_and_reports_the_keys(tmp_path):
    report = run_check(tmp_path, "--quick")
    assert REPORT_KEYS <= report.keys()
    sections = by_name(report)
    assert list(sections) == [
        "matmul", "gpu_tests", "tfvaegan_cub_epoch_fp32", "tfvaegan_cub_epoch_bf16", "tfvaegan_floor",
        "methods_iterations",
        "extraction", "demo_chain", "compare",
    ]
    for section in sections.values():
        assert {"name", "status", "seconds", "note"} <= section.keys()
    # Without CUDA: the gpu tests and bf16 are skipped, saying why; everything else ran.
    assert sections["gpu_tests"]["status"] == "skipped" and "no CUDA" in sections["gpu_tests"]["note"]
    assert sections["tfvaegan_cub_epoch_bf16"]["status"] == "skipped"
    ran = set(sections) - {"gpu_tests", "tfvaegan_cub_epoch_bf16"}
    assert {sections[name]["status"] for name in ran} == {"ok"}, report["sections"]
    assert report["matmul_tflops"]["fp32"] > 0
    assert report["tfvaegan_cub_epoch_s"]["fp32"] > 0 and report["peak_gpu_memory_gb"] == {"fp32": None}
    for key in ("plain_pass", "feedback_pass"):  # measured against its floor (> 1: the floor is a lower bound)
        assert report["tfvaegan_floor_fp32"][key]["floor_ratio"] > 1
        assert report["tfvaegan_floor_fp32"][key]["optimizer_floor_s"] > 0
    assert set(report["methods_iterations_per_s"]) == {"tfvaegan", "clswgan", "zswgan", "filmwgan", "cada_vae"}
    assert all(0 < f["fp32"] < 1 for f in report["methods_matmul_fraction"].values())
    assert report["extraction_images_per_s"]["fp32"]["extract_features"] > 0
    assert report["kedro_tfvaegan"]["metrics"] and report["kedro_compare"]["metrics"]
    assert report["total_seconds"] < 600  # the --quick promise on a 2-core CPU
    markdown = (tmp_path / "device_check.md").read_text()
    assert "| methods_iterations | ok |" in markdown and "| feedback_pass |" in markdown and "| cada_vae |" in markdown
    assert not (tmp_path / "project").exists()  # the demo's throw-away copy is gone


def hide(folder: Path, *names: str) -> str:
    """A PYTHONPATH entry on which importing any of ``names`` fails as for a package not installed."""
    folder.mkdir()
    for name in names:
        (folder / f"{name}.py").write_text(f"raise ModuleNotFoundError('hidden by the test', name={name!r})\n")
    return str(folder)


def test_without_kedro_and_mlflow_their_sections_are_skipped_and_the_rest_runs(tmp_path):
    hidden = hide(tmp_path / "hide", "kedro", "mlflow")
    report = run_check(tmp_path / "out", "--quick", "--only", "matmul,gpu_tests,demo_chain,compare",
                       pythonpath=hidden)
    assert {"kedro", "mlflow"} <= set(report["missing_packages"])
    sections = by_name(report)
    for name in ("demo_chain", "compare"):
        assert sections[name]["status"] == "skipped" and "kedro" in sections[name]["note"]
    assert sections["matmul"]["status"] == "ok" and report["matmul_tflops"]["fp32"] > 0
    assert "tests/pipelines left out (no kedro, mlflow)" in sections["gpu_tests"]["note"]


def test_with_torch_alone_the_matmul_runs_and_every_other_section_says_what_it_misses(tmp_path):
    others = ("numpy", "scipy", "pandas", "PIL", "torchvision", "matplotlib", "tqdm", "yaml", "pytest",
              "pydantic", "kedro", "mlflow")
    report = run_check(tmp_path / "out", "--quick", pythonpath=hide(tmp_path / "hide", *others))
    assert set(report["missing_packages"]) == {"numpy", "scipy", "pandas", "pillow", "torchvision", "matplotlib",
                                               "tqdm", "pyyaml", "pytest", "pydantic", "kedro", "mlflow"}
    sections = by_name(report)
    assert sections.pop("matmul")["status"] == "ok" and report["matmul_tflops"]["fp32"] > 0
    for section in sections.values():
        assert section["status"] == "skipped" and "does not import here" in section["note"], section


def test_a_section_past_its_time_box_is_stopped_and_reported(tmp_path):
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import device_check
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    for sub in ("sections", "logs"):
        (tmp_path / sub).mkdir()
    args = argparse.Namespace(quick=True)
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    record = device_check.run_child("methods_iterations", tmp_path, args, "cpu", box=1.0, env=env)
    assert record["status"] == "timeout" and "1 s time box" in record["note"]
    assert not (tmp_path / "sections" / "methods_iterations.json").exists()


def test_an_unknown_section_is_refused_naming_the_valid_ones(tmp_path):
    done = subprocess.run(["bash", str(SCRIPT), "--only", "matmul,warp", str(tmp_path)],
                          env={**os.environ, "PYTHON": sys.executable}, capture_output=True, text=True)
    assert done.returncode == 2
    assert "unknown section(s) ['warp']" in done.stderr and "tfvaegan_cub_epoch_fp32" in done.stderr
    assert not any(tmp_path.iterdir())  # nothing written
