"""Run any generative method on a dataset: seeds, few-shot splits, both classifier protocols,
zero-shot retrieval, wall time and peak memory.

Two stages, so either can be rerun alone from the catalog: :func:`train_runs` (one trained
model per seed) and :func:`evaluate_runs` (one metrics record per seed). With a checkpoint
folder, :func:`train_runs` keeps the seeds it finished in a resume file (:func:`runs_resume_path`),
so a killed run started again trains only the seeds it had not finished.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import resource
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping

import torch
from matplotlib.figure import Figure

from zsl_pipeline.data.contract import ZeroShotDataset
from zsl_pipeline.data.fingerprint import SOURCE_KEY, check_source, dataset_fingerprint, source_data, stamped
from zsl_pipeline.evaluation.diagnostics import generator_diagnostics, projection_figure
from zsl_pipeline.evaluation.metrics import report_names
from zsl_pipeline.evaluation.protocols import fit_protocols
from zsl_pipeline.evaluation.retrieval import zero_shot_retrieval
from zsl_pipeline.methods.base import Method, method_code_version, method_package
from zsl_pipeline.methods.fewshot import choose_unseen_shots
from zsl_pipeline.training.epoch_resume import EpochCheckpoint, epoch_checkpoint
from zsl_pipeline.training.events import epoch_scope
from zsl_pipeline.training.features import FeatureTensors, prepare_features
from zsl_pipeline.training.progress import EpochProgressBar
from zsl_pipeline.training.resume import load_resume, save_resume
from zsl_pipeline.training.streams import eval_stream

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunSettings:
    """How a method is run (the ``runs`` parameters).

    ``seeds``: one run per seed (each overrides the method's ``seed``); None = one run with
    the method's configured seed (the reference's). ``n_shots``: real test_unseen images per
    unseen class moved into training (0 = zero-shot). ``retrieval_k``: k of precision@k (the
    released retrieval code uses 5).
    """

    seeds: tuple[int, ...] | None = None
    n_shots: int = 0
    retrieval_k: int = 5

    def __post_init__(self) -> None:
        if self.seeds is not None:
            if not self.seeds:
                raise ValueError("RunSettings.seeds: must be a non-empty list of integers or null (got [])")
            object.__setattr__(self, "seeds", tuple(self.seeds))
        if self.n_shots < 0:
            raise ValueError(f"RunSettings.n_shots: must be >= 0 (got {self.n_shots})")
        if self.retrieval_k < 1:
            raise ValueError(f"RunSettings.retrieval_k: must be >= 1 (got {self.retrieval_k})")


def peak_memory_mb(device: torch.device) -> float:
    """Peak memory so far: CUDA allocations on a GPU, else the process's peak resident set
    size (cumulative over the process, so a later method never reads lower than an earlier one)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def _reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def prepared_data(method: Method, ds: ZeroShotDataset, n_shots: int, seed: int, device: torch.device) -> FeatureTensors:
    """The method's preprocessing of ``ds``, with ``n_shots`` unseen-class shots moved by ``seed``."""
    shots = choose_unseen_shots(ds, n_shots, seed)
    return prepare_features(ds, device, l2_normalise_embeddings=method.l2_normalise_embeddings, unseen_shots=shots)


def runs_resume_path(
    folder: str | Path, method: Method, ds: ZeroShotDataset, config: Any, *, settings: RunSettings, device: torch.device
) -> Path:
    """Where :func:`train_runs` keeps the seeds it finished: named by the method, the data
    (fingerprint) and a hash of what shapes each seed's result (the config but its seed,
    ``n_shots`` and the device type). The seeds themselves are not part of it: a run with more
    or fewer seeds reuses the finished ones it shares."""
    settings_key = {
        "config": {k: v for k, v in config.to_dict().items() if k != "seed"},
        "n_shots": settings.n_shots,
        "device": device.type,
    }
    key = hashlib.sha256(json.dumps(settings_key, sort_keys=True, default=str).encode()).hexdigest()[:12]
    return Path(folder) / f"{method.name}_runs_{ds.name}_{dataset_fingerprint(ds)}_{key}.pt"


def train_runs(
    method: Method,
    ds: ZeroShotDataset,
    config: Any,
    settings: RunSettings,
    device: torch.device,
    *,
    show_progress: bool = True,
    checkpoint_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Train ``method`` (settings ``config``, the method's config object) once per seed. Returns
    ``{"method", "n_shots", "runs": {seed: {...}}}`` where each run holds the checkpoint, its
    wall time and peak memory. The result and every checkpoint carry ``source_data`` (the data
    they were trained on).

    With ``checkpoint_dir``, each finished seed is added to a resume file there
    (:func:`runs_resume_path`, with the code version of the method's sources); a run started
    again with the same data, settings and code loads the finished seeds instead of training them
    again (a file of other code is not used: a warning, and every seed is trained). The file is
    removed once every seed is done. Each seed trains inside an epoch checkpoint of its own
    (``<resume file>_seed<k>.pt``, :mod:`zsl_pipeline.training.epoch_resume`), so a seed killed
    mid-training continues after its last saved epoch (its ``train_time_s`` then counts only the
    epochs trained in this run).
    """
    source = source_data(ds)
    seeds = settings.seeds if settings.seeds is not None else (int(config.seed),)
    path = code = None
    finished: dict[str, Any] = {}
    if checkpoint_dir is not None:
        path = runs_resume_path(checkpoint_dir, method, ds, config, settings=settings, device=device)
        path.parent.mkdir(parents=True, exist_ok=True)
        code = method_code_version(method_package(method))
        state = load_resume(path, code, what=f"{method.name}'s finished seeds")
        if state is not None and state.get("method") == method.name:
            finished = dict(state["runs"])
    runs: dict[str, Any] = {}
    for seed in seeds:
        if str(seed) in finished:
            runs[str(seed)] = finished[str(seed)]
            log.info("%s seed %d: finished by an earlier run, loaded from %s (not trained again)", method.name, seed, path)
            continue
        seeded = dataclasses.replace(config, seed=seed)
        data = prepared_data(method, ds, settings.n_shots, seed, device)
        _reset_peak(device)
        start = time.perf_counter()
        epoch_file = EpochCheckpoint(path.with_name(f"{path.stem}_seed{seed}.pt"), code) if path and code else None
        with (
            EpochProgressBar(seeded.nepoch, f"{method.name} seed {seed}", enabled=show_progress) as bar,
            epoch_scope(f"seed{seed}"),  # live epochs: <stage>.seed<k>
            epoch_checkpoint(epoch_file),  # the seed's per-epoch resume file (loops that support it)
        ):
            checkpoint = method.train(data, seeded, device, lambda done, total: bar.advance_to(done))
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        runs[str(seed)] = {
            "checkpoint": stamped(checkpoint, source),
            "train_time_s": time.perf_counter() - start,
            "peak_memory_mb": peak_memory_mb(device),
        }
        log.info("%s seed %d trained in %.1f s", method.name, seed, runs[str(seed)]["train_time_s"])
        if path is not None:
            finished[str(seed)] = runs[str(seed)]
            save_resume({"method": method.name, "runs": finished}, path, code)
        if epoch_file is not None:
            epoch_file.remove()
    if path is not None and path.is_file():
        path.unlink()
    return stamped({"method": method.name, "n_shots": settings.n_shots, "runs": runs}, source)


def evaluate_runs(
    method: Method, ds: ZeroShotDataset, trained: Mapping[str, Any], settings: RunSettings, device: torch.device
) -> list[dict[str, Any]]:
    """One record per trained seed: both protocols, retrieval, the generator's diagnostics
    (``generator``: ``evaluation.diagnostics``), time and memory (fractions in [0, 1]).

    ``final`` is each classifier's last epoch; ``best_on_test`` the best classifier epoch ON
    THE TEST SET (the reference protocols' selection; optimistic). Uses the trained runs'
    ``n_shots``, so the evaluation always matches the training split. The models must have been
    trained on ``ds`` (``source_data``, checked); every record names the data it came from.
    """
    if trained["method"] != method.name:
        raise ValueError(f"trained models are {trained['method']!r}, not {method.name!r}")
    source = source_data(ds)
    check_source(trained, source, f"the trained {method.name} models ({method.name}.trained_models)")
    n_shots = int(trained["n_shots"])
    records = []
    for seed_key, run in trained["runs"].items():
        seed = int(seed_key)
        _reset_peak(device)
        start = time.perf_counter()
        config, data, sets, gen = _seed_sets(method, ds, run["checkpoint"], n_shots, seed, device=device)
        gzsl_config, zsl_config = method.classifier_configs(config)
        result = fit_protocols(sets, data, gzsl_config, zsl_config, gen)
        queries, seen_x, unseen_x = sets.retrieval_sets()
        retrieval = zero_shot_retrieval(
            queries,
            sets.synthetic_y,
            test_seen_x=seen_x,
            test_seen_y=data.test_seen_y,
            test_unseen_x=unseen_x,
            test_unseen_y=data.test_unseen_y,
            unseen_classes=data.unseen_classes,
            k=settings.retrieval_k,
        )
        generator = generator_diagnostics(queries, sets.synthetic_y, unseen_x, data.test_unseen_y, data.unseen_classes)
        records.append(
            {
                "method": method.name,
                "seed": seed,
                "n_shots": n_shots,
                "precision": getattr(config, "precision", "fp32"),
                "final": report_names(asdict(result.final)),
                "best_on_test": report_names(asdict(result.best_on_test)),
                "retrieval": {
                    split: {k: retrieval[split][k] for k in ("map", "precision_at_k", "k")} for split in ("zsr", "gzsr")
                },
                "generator": generator,
                "wall_time_s": float(run["train_time_s"]) + time.perf_counter() - start,
                "peak_memory_mb": max(float(run["peak_memory_mb"]), peak_memory_mb(device)),
                "classifier_history": result.history,
                SOURCE_KEY: dict(source),
            }
        )
    return records


def _seed_sets(
    method: Method, ds: ZeroShotDataset, checkpoint: Mapping[str, Any], n_shots: int, seed: int, *, device: torch.device
) -> tuple[Any, FeatureTensors, Any, torch.Generator]:
    """A trained seed's config, data, classifier sets (synthesis included) and the evaluation
    stream after synthesis: the same for every call (the stream is the seed's)."""
    config = method.config_from_params(checkpoint["config"])
    data = prepared_data(method, ds, n_shots, seed, device)
    gen = eval_stream(seed, device, noise_device=getattr(config, "noise_device", "device"))
    return config, data, method.classifier_sets(checkpoint, data, device, gen), gen


def generator_figure(
    method: Method, ds: ZeroShotDataset, trained: Mapping[str, Any], device: torch.device
) -> Figure:
    """Real test_unseen and synthetic features of the first trained seed in two dimensions
    (``evaluation.diagnostics``), in the space of its retrieval (the classifiers' space, or the
    features for TF-VAEGAN); the synthesis is the evaluation's own (same stream)."""
    check_source(trained, source_data(ds), f"the trained {method.name} models ({method.name}.trained_models)")
    seed_key, run = next(iter(trained["runs"].items()))
    _, data, sets, _ = _seed_sets(method, ds, run["checkpoint"], int(trained["n_shots"]), int(seed_key), device=device)
    queries, _, unseen_x = sets.retrieval_sets()
    title = f"{method.name} on {ds.name} (seed {seed_key})"
    return projection_figure(queries, sets.synthetic_y, unseen_x, data.test_unseen_y, class_names=ds.class_names,
                             title=title)

