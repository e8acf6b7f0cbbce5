"""`kedro viz build` draws the DAG that `kedro run` runs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_kedro_viz_build_succeeds(tmp_path):
    shutil.copytree(REPO_ROOT / "conf", tmp_path / "conf")
    shutil.copy(REPO_ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(REPO_ROOT / "src", tmp_path / "src", ignore=shutil.ignore_patterns("__pycache__"))
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "PYTHONPATH": str(tmp_path / "src")}
    result = subprocess.run(
        [str(Path(sys.executable).parent / "kedro"), "viz", "build"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    main = json.loads((tmp_path / "build" / "api" / "main").read_text())
    node_names = {n["name"] for n in main["nodes"] if n["type"] == "task"}
    # the DAG `kedro run` runs with the same configuration (the demo fine-tunes the backbone)
    assert {"render_demo_dataset", "read_image_dataset", "finetune_backbone", "invert_features"} <= node_names
    compare = json.loads((tmp_path / "build" / "api" / "pipelines" / "compare").read_text())
    branches = {n["name"] for n in compare["nodes"] if n["type"] == "modularPipeline"}
    assert branches == {"tfvaegan", "clswgan", "cada_vae", "filmwgan", "zswgan", "eszsl"}  # one per method
