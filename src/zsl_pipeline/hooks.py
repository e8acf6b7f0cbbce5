"""MLflow tracking of each ``kedro run``: one MLflow run per pipeline run.

Works offline with a local SQLite store by default (``sqlite:///mlflow.db`` in the project
root; no server). Configured by the ``mlflow`` parameters (``conf/base/parameters_tracking.yml``)
and switched off with ``--params mlflow.enabled=false``.

What is logged, by the names of node outputs (so nodes stay free of tracking code):

* all parameters, flattened (``tfvaegan.lr`` ...), and tags for dataset, device and git commit;
* every training epoch as it finishes (the library's epoch channel, ``training.events``): the
  epoch's losses, λ, factors and evaluation metrics as ``<stage>.<name>`` at step ``epoch``
  (``tfvaegan_train.d_loss``, ``clswgan_train.seed0.g_adv``, ``finetune.loss`` ...), so a long
  run shows its curves while it runs and a crashed run keeps the epochs it finished;
* ``<name>_metrics`` outputs (nested dicts; numbers kept) as final metrics ``<name>.<key>``;
* ``*_history`` outputs (``{"epoch": [...], "<name>": [...]}``) as metric histories, one
  step per epoch, but for the epochs this run already streamed (so: the classifier histories,
  and the epochs a resumed TF-VAEGAN run finished before it was restarted);
* every loaded catalog input: its load version as the tag ``input_version.<dataset>`` (versioned
  datasets), and a zero-shot dataset as an MLflow dataset input (name, source file, digest of
  its arrays);
* system metrics (CPU, memory, GPU utilisation and memory) with ``mlflow.system_metrics``
  (``auto``: on when CUDA is present);
* a node that raises: the run ends ``FAILED``, with the exception as the tag ``error`` and its
  traceback as the artifact ``error.txt``;
* ``<method>_runs`` outputs (one record per seed, from the method branches) as a nested MLflow
  run per method and seed, with that run's metrics;
* matplotlib figures as PNG artifacts;
* ``skipped_images`` (images left out by ``images.skip_unreadable``) as the metric
  ``skipped_images`` and, when any, the list as the artifact ``skipped_images.json``;
* the ``*_model`` outputs named in ``mlflow.log_models`` (checkpoint dicts) as ``.pt``
  artifacts (by default the TF-VAEGAN networks and classifiers; the 500 MB fine-tuned backbone
  stays in the catalog only).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import logging
import math
import re
import subprocess
import tempfile
import traceback
import warnings
from pathlib import Path
from typing import Any, Mapping

from kedro.framework.hooks import hook_impl
from pydantic import BaseModel

logger = logging.getLogger(__name__)

#: MLflow rejects a parameter value longer than this many characters.
MAX_PARAM_LENGTH = 6000
#: ... and a tag value longer than this.
MAX_TAG_LENGTH = 5000


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
        self._run_id: str | None = None
        self._catalog = None
        self._streamed: dict[str, set[int]] = {}  # stage -> the epochs logged live
        self._inputs_seen: set[str] = set()  # datasets already tagged / logged as inputs
        self._listening = contextlib.ExitStack()
        self._system_metrics = False

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
        import torch

        system_metrics = system_metrics_enabled(settings.get("system_metrics", "auto"), torch.cuda.is_available())
        if system_metrics:  # an environment variable of this process: unset again when the run ends
            mlflow.set_system_metrics_sampling_interval(float(settings.get("system_metrics_interval_s", 10)))
        self._system_metrics = system_metrics
        run = mlflow.start_run(
            run_name=run_params.get("pipeline_names", [None])[0] or "__default__", log_system_metrics=system_metrics
        )
        self._active = True
        self._run_id = run.info.run_id
        self._catalog = catalog
        self._streamed = {}
        self._inputs_seen = set()
        self._log_models = set(settings.get("log_models", []))
        from zsl_pipeline.training.events import epoch_listener

        self._listening.enter_context(epoch_listener(self._log_epoch))
        flat = {k: str(v)[:MAX_PARAM_LENGTH] for k, v in flatten(params).items()}
        mlflow.log_params(flat)
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

    def _log_epoch(self, stage: str, epoch: int, values: Mapping[str, float]) -> None:
        """The epoch listener: one ``log_metrics`` call per finished epoch, to the pipeline's run."""
        if not self._active or not values:
            return
        try:
            import mlflow

            metrics = {_metric_name(f"{stage}.{key}"): value for key, value in values.items()}
            mlflow.log_metrics(metrics, step=epoch, run_id=self._run_id)
            self._streamed.setdefault(stage, set()).add(epoch)
        except Exception as exc:  # tracking must never take training down
            logger.warning("MLflow logging of %s epoch %d failed: %s", stage, epoch, exc)

    @hook_impl
    def after_dataset_loaded(self, dataset_name: str, data: Any) -> None:
        if not self._active or dataset_name in self._inputs_seen or _is_parameters(dataset_name):
            return
        self._inputs_seen.add(dataset_name)
        try:
            self._log_input(dataset_name, data)
        except Exception as exc:  # tracking must never take a run down
            logger.warning("MLflow logging of input %s failed: %s", dataset_name, exc)

    def _log_input(self, dataset_name: str, data: Any) -> None:
        """Tag the load version of a versioned input; log a zero-shot dataset as a dataset input."""
        import mlflow

        dataset = _catalog_dataset(self._catalog, dataset_name)
        version = dataset.resolve_load_version() if hasattr(dataset, "resolve_load_version") else None
        if version:
            mlflow.set_tag(_metric_name(f"input_version.{dataset_name}"), version)
        from zsl_pipeline.data.contract import ZeroShotDataset

        if isinstance(data, ZeroShotDataset):
            source = _load_path(dataset) or dataset_name
            features = data.features if data.features is not None else data.class_embeddings[data.labels]
            with warnings.catch_warnings():  # a local path "can be interpreted in multiple ways": it is local
                warnings.simplefilter("ignore", UserWarning)
                inputs = mlflow.data.from_numpy(
                    features, targets=data.labels, source=str(source), name=data.name, digest=dataset_digest(data)
                )
            mlflow.log_input(
                inputs,
                context="training",
                tags={"catalog_entry": dataset_name, **({"version": version} if version else {})},
            )

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
                prefix = short[: -len("_history")]
                # epochs streamed live are not logged twice; the rest (a stage that does not stream,
                # the epochs a resumed run finished before it was restarted) are logged now
                self._log_history(value, prefix=prefix, skip_steps=self._streamed.get(prefix, set()))
            elif short.endswith("_runs") and isinstance(value, list):
                self._log_nested_runs(value)
            elif isinstance(value, Figure):
                mlflow.log_figure(value, f"figures/{name.replace('.', '/')}.png")
            elif short == "skipped_images" and isinstance(value, list):
                mlflow.log_metric("skipped_images", len(value))
                if value:
                    mlflow.log_dict(value, "skipped_images.json")
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
                numbers = {k: v for k, v in record.items() if k in ("final", "best_on_test", "retrieval", "generator")}
                numbers.update(wall_time_s=record.get("wall_time_s"), peak_memory_mb=record.get("peak_memory_mb"))
                mlflow.log_metrics({_metric_name(k): float(v) for k, v in flatten(numbers).items() if _is_number(v)})

    @staticmethod
    def _log_history(history: dict[str, Any], prefix: str, skip_steps: set[int] = frozenset()) -> None:
        import mlflow

        steps = history.get("epoch")
        for key, values in history.items():
            if key == "epoch" or not isinstance(values, list):
                continue
            for i, v in enumerate(values):
                step = int(steps[i]) if steps is not None and i < len(steps) else i
                if _is_number(v) and step not in skip_steps:
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
    def on_pipeline_error(self, error: Exception) -> None:
        if self._active:
            import mlflow

            try:
                mlflow.set_tag("error", f"{type(error).__name__}: {error}"[:MAX_TAG_LENGTH])
                text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
                mlflow.log_text(text, "error.txt")
            except Exception as exc:  # the run still ends FAILED
                logger.warning("MLflow logging of the error failed: %s", exc)
        self._end("FAILED")

    def _end(self, status: str) -> None:
        self._listening.close()
        if self._active:
            import mlflow

            # the pipeline's run, even if a nested run was left open by a failure
            while mlflow.active_run() is not None and mlflow.active_run().info.run_id != self._run_id:
                mlflow.end_run(status=status)
            mlflow.end_run(status=status)
            if self._system_metrics:
                mlflow.set_system_metrics_sampling_interval(None)
            self._active = False
            self._catalog = None


def system_metrics_enabled(setting: Any, cuda_available: bool) -> bool:
    """``mlflow.system_metrics``: ``auto`` (on when CUDA is present), ``true`` or ``false``.

    Off, with a warning, when psutil (which MLflow's system metrics need) is not installed.
    """
    value = str(setting).lower()
    if value not in ("auto", "true", "false"):
        raise ValueError(f"parameter 'mlflow.system_metrics': auto, true or false (got {setting!r})")
    wanted = cuda_available if value == "auto" else value == "true"
    if wanted and importlib.util.find_spec("psutil") is None:
        logger.warning("MLflow system metrics are off: psutil is not installed")
        return False
    if wanted and cuda_available and importlib.util.find_spec("pynvml") is None:
        logger.warning("MLflow system metrics without GPU: nvidia-ml-py (pynvml) is not installed")
    return wanted


def dataset_digest(data: Any) -> str:
    """A content digest of a zero-shot dataset (features, labels, class embeddings, splits, image
    paths): the hex SHA-256 of their bytes, first 16 characters. One pass over the arrays."""
    import numpy as np

    sha = hashlib.sha256()
    parts = [("labels", data.labels), ("class_embeddings", data.class_embeddings)]
    if data.features is not None:
        parts.append(("features", data.features))
    parts += [(f"split.{name}", data.splits[name]) for name in sorted(data.splits)]
    for name, array in parts:
        array = np.ascontiguousarray(array)
        sha.update(f"{name}:{array.dtype.str}:{array.shape}".encode())
        sha.update(memoryview(array).cast("B"))
    if data.image_paths is not None:
        sha.update("\n".join(data.image_paths).encode())
    return sha.hexdigest()[:16]


def _is_parameters(name: str) -> bool:
    return name == "parameters" or name.startswith("params:")


def _catalog_dataset(catalog: Any, name: str) -> Any:
    """The catalog's dataset object for ``name`` (None when the catalog cannot say)."""
    if catalog is None:
        return None
    getter = getattr(catalog, "get", None)
    try:
        return getter(name) if getter is not None else catalog._get_dataset(name)  # Kedro 1.x, then 0.19
    except Exception:
        return None


def _load_path(dataset: Any) -> str | None:
    """The file (or folder) a dataset loaded, where it says: a versioned dataset's load path,
    else its ``_filepath`` or ``_path``."""
    try:
        return str(dataset._get_load_path())
    except Exception:
        pass
    for attribute in ("_filepath", "_path"):
        value = getattr(dataset, attribute, None)
        if value is not None:
            return str(value)
    return None


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
