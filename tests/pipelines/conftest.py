"""Run Kedro pipelines of the real project in a temporary working directory."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Callable

import pytest
from kedro.framework.project import configure_project
from kedro.framework.session import KedroSession

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """A copy of the project's conf/ and pyproject.toml in ``tmp_path``, the working directory.

    Catalog paths are relative, so a run there reads and writes only under ``tmp_path``.
    """
    shutil.copytree(REPO_ROOT / "conf", tmp_path / "conf")
    (tmp_path / "pyproject.toml").write_text((REPO_ROOT / "pyproject.toml").read_text())
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KEDRO_DISABLE_TELEMETRY", "true")
    configure_project("zsl_pipeline")
    return tmp_path


@pytest.fixture
def run_pipeline(project) -> Callable[..., dict[str, Any]]:
    """``run_pipeline(name, env=None, params={...}, track=False, **run_kwargs)`` in ``project``.

    MLflow tracking is off unless ``track=True`` (it costs seconds per run to set up the store).
    """

    def run(
        name: str, env: str | None = None, params: dict[str, Any] | None = None, track: bool = False, **kwargs
    ) -> dict[str, Any]:
        params = {"mlflow": {"enabled": track}, **(params or {})}
        with KedroSession.create(project_path=project, env=env, runtime_params=params) as session:
            return session.run(pipeline_names=[name], **kwargs)

    return run
