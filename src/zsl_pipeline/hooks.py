"""MLflow tracking of each ``kedro run``: one MLflow run per pipeline run.

Works offline with a local SQLite store by default (``sqlite:///mlflow.db`` in the project
root; no server). Configured by the ``mlflow`` parameters (``conf/base/parameters_tracking.yml``)
and switched off with ``--params mlflow.enabled=false``.

What is logged, by the names of node outputs (so nodes stay free of tracking code):

* all parameters, flattened (``tfvaegan.lr`` ...), and tags for dataset, device and git commit;
* ``<name>_metrics`` outputs (nested dicts; numbers kept) as final metrics ``<name>.<key>``;
* ``*_history`` outputs (``{"epoch": [...], "<name>": [...]}``) as metric histories, one
  step per epoch;
* ``<method>_runs`` outputs (one record per seed, from the method branches) as a nested MLflow
  run per method and seed, with that run's metrics;
* matplotlib figures as PNG artifacts;
* the ``*_model`` outputs named in ``mlflow.log_models`` (checkpoint dicts) as ``.pt``
  artifacts (by default the TF-VAEGAN networks and classifiers; the 500 MB fine-tuned backbone
  stays in the catalog only).
"""

from __future__ import annotations

import logging
import math
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Mapping

from kedro.framework.hooks import hook_impl
from pydantic import BaseModel

logger = logging.getLogger(__name__)

#: MLflow rejects a parameter value longer than this many characters.
MAX_PARAM_LENGTH = 6000


def flatten(params: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``; a validated parameter model counts as its dict."""
    flat: dict[str, Any] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, BaseModel):
            value = value.model_dump()
        if isinstance(value, Mapping):
            flat.update(flatten(value, prefix=f"{name}."))
        else:
            flat[name] = value
    return flat


def git_commit(cwd: Path) -> str:
    """The checked-out commit, or ``unknown`` outside a git repository."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10, check=True
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


class PrecisionCheckHook:
    """Refuses, before the first node runs, a ``precision`` parameter the run's device cannot do
    (anything but fp32 on a CPU, bf16 on a GPU without it), naming the parameter."""

    @hook_impl(tryfirst=True)
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        from zsl_pipeline.training.device import check_precision, resolve_device  # torch: not at CLI start

        params = catalog.load("parameters")
        device = resolve_device(params.get("device", "auto"))
        for name, value in params.items():
            precision = getattr(value, "precision", None)  # validated parameter models only
            if precision is None:
                continue
            try:
                check_precision(precision, device)
            except ValueError as error:
                raise ValueError(f"parameter '{name}.precision': {error}") from None


class MlflowHook:
    """Opens an MLflow run before a pipeline run and closes it after, logging node outputs."""

    def __init__(self) -> None:
        self._active = False
        self._log_models: set[str] = set()
        self._project_path = Path.cwd()

    @hook_impl
    def after_context_created(self, context) -> None:
        self._project_path = Path(context.project_path)

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        params = catalog.load("parameters")
        settings = params.get("mlflow", {})
        if not settings.get("enabled", True):
            logger.info("MLflow tracking is off (mlflow.enabled=false)")
            return
        import mlflow

        uri = _absolute_sqlite_uri(settings.get("tracking_uri", "sqlite:///mlflow.db"), self._project_path)
        mlflow.set_tracking_uri(uri)
        mlflow.set_experiment(settings.get("experiment", "zsl_pipeline"))
        run = mlflow.start_run(run_name=run_params.get("pipeline_names", [None])[0] or "__default__")
        self._active = True
        self._log_models = set(settings.get("log_models", []))
        flat = {k: str(v)[:MAX_PARAM_LENGTH] for k, v in flatten(params).items()}
        mlflow.log_params(flat)
        import torch

        device = params.get("device", "auto")
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        mlflow.set_tags(
            {
                "dataset": params.get("dataset_name", "unknown"),
                "precision": getattr(params.get("tfvaegan"), "precision", "fp32"),
                "device": device,
                "git_commit": git_commit(self._project_path),
                "kedro_env": str(run_params.get("env") or "local"),
                "pipeline": ",".join(run_params.get("pipeline_names") or ["__default__"]),
            }
        )
        logger.info("MLflow run %s in %s (open with: mlflow ui --backend-store-uri %s)", run.info.run_id, uri, uri)

    @hook_impl
    def after_node_run(self, node, outputs: dict[str, Any]) -> None:
        if not self._active:
            return
        try:
            self._log_outputs(outputs)
        except Exception as exc:  # tracking must never take a finished node's results down
            logger.warning("MLflow logging of %s failed: %s", getattr(node, "name", node), exc)

    def _log_outputs(self, outputs: dict[str, Any]) -> None:
        import mlflow
        from matplotlib.figure import Figure

        for name, value in outputs.items():
            short = name.split(".")[-1]
            if short.endswith("_metrics") and isinstance(value, dict):
                prefix = short[: -len("_metrics")]
                mlflow.log_metrics(
                    {_metric_name(k): float(v) for k, v in flatten(value, f"{prefix}.").items() if _is_number(v)}
                )
            elif short.endswith("_history") and isinstance(value, dict):
                self._log_history(value, prefix=short[: -len("_history")])
            elif short.endswith("_runs") and isinstance(value, list):
                self._log_nested_runs(value)
            elif isinstance(value, Figure):
                mlflow.log_figure(value, f"figures/{name.replace('.', '/')}.png")
            elif short.endswith("_model") and short in self._log_models and isinstance(value, dict):
                self._log_checkpoint(short, value)

    @staticmethod
    def _log_nested_runs(records: list[dict[str, Any]]) -> None:
        """One nested run per (method, seed) record, named ``<method>-seed<seed>``."""
        import mlflow

        for record in records:
            name = f"{record['method']}-seed{record['seed']}"
            with mlflow.start_run(run_name=name, nested=True):
                mlflow.set_tags({"method": record["method"], "seed": str(record["seed"])})
                mlflow.log_params({"n_shots": record.get("n_shots", 0)})
                numbers = {k: v for k, v in record.items() if k in ("final", "best_on_test", "retrieval")}
                numbers.update(wall_time_s=record.get("wall_time_s"), peak_memory_mb=record.get("peak_memory_mb"))
                mlflow.log_metrics({_metric_name(k): float(v) for k, v in flatten(numbers).items() if _is_number(v)})

    @staticmethod
    def _log_history(history: dict[str, Any], prefix: str) -> None:
        import mlflow

        steps = history.get("epoch")
        for key, values in history.items():
            if key == "epoch" or not isinstance(values, list):
                continue
            for i, v in enumerate(values):
                if _is_number(v):
                    step = int(steps[i]) if steps is not None and i < len(steps) else i
                    mlflow.log_metric(_metric_name(f"{prefix}.{key}"), float(v), step=step)

    @staticmethod
    def _log_checkpoint(name: str, checkpoint: dict[str, Any]) -> None:
        import mlflow
        import torch

        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"{name}.pt"
            torch.save(checkpoint, path)
            mlflow.log_artifact(str(path), artifact_path="models")

    @hook_impl
    def after_pipeline_run(self) -> None:
        self._end("FINISHED")

    @hook_impl
    def on_pipeline_error(self) -> None:
        self._end("FAILED")

    def _end(self, status: str) -> None:
        if self._active:
            import mlflow

            mlflow.end_run(status=status)
            self._active = False


def _absolute_sqlite_uri(uri: str, root: Path) -> str:
    """A relative ``sqlite:///file.db`` is relative to the project root, not the shell's cwd."""
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri[len(prefix) :].startswith("/"):
        return prefix + str((root / uri[len(prefix) :]).resolve())
    return uri


def _metric_name(name: str) -> str:
    """MLflow accepts alphanumerics and ``_-. :/`` in names; anything else becomes ``_``."""
    return re.sub(r"[^\w\-. :/]", "_", name)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
