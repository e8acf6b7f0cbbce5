"""notebooks/quickstart.ipynb runs against the outputs of a real (tiny) pipeline run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from toy_data import make_toy_dataset
from zsl_pipeline.data import write_xlsa17

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "quickstart.ipynb"
TINY = {"nepoch": 1, "syn_num": 8, "encoder_hidden": 16, "ngh": 16, "ndh": 16, "classifier_epochs": 2}


@pytest.mark.slow
def test_quickstart_cells_run_on_catalog_outputs(run_pipeline, tmp_path, monkeypatch):
    write_xlsa17(make_toy_dataset(per_class=20), tmp_path / "data" / "01_raw" / "xlsa17" / "CUB")
    run_pipeline("tfvaegan", env="cub", params={"tfvaegan": TINY})
    monkeypatch.setenv("KEDRO_ENV", "cub")
    src = Path(__file__).resolve().parents[2] / "src"
    shutil.copytree(src, tmp_path / "src", ignore=shutil.ignore_patterns("__pycache__"))  # bootstrap needs it
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    namespace: dict = {}
    for cell in cells:
        if cell["cell_type"] == "code":
            exec("".join(cell["source"]), namespace)  # noqa: S102 (the project's own notebook)
    assert namespace["synthetic"]["features"].shape == (3 * 10, 16)
    assert len(namespace["hardest"]) == 3  # the toy dataset has 3 unseen classes
    assert set(namespace["metrics"]["final"]) == {"zsl_t1", "gzsl_u", "gzsl_s", "gzsl_h"}
