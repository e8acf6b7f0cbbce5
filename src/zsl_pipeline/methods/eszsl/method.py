"""ESZSL in the comparison: one deterministic record in the shape of the generative methods' runs."""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any

import torch

from zsl_pipeline.data.contract import ZeroShotDataset
from zsl_pipeline.data.fingerprint import SOURCE_KEY, source_data
from zsl_pipeline.evaluation.metrics import report_names
from zsl_pipeline.methods.eszsl.closed_form import run_eszsl
from zsl_pipeline.methods.runner import peak_memory_mb


def eszsl_records(ds: ZeroShotDataset) -> list[dict[str, Any]]:
    """The ESZSL baseline as comparison records (deterministic: one record, seed ``None``)."""
    start = time.perf_counter()
    result = run_eszsl(ds)
    return [
        {
            "method": "eszsl",
            "seed": None,
            "n_shots": 0,
            "precision": "fp64",  # the closed form is solved in float64
            # no test-selected variant: γ and λ are chosen on the val classes
            "final": report_names(asdict(result)),
            "selection": {"gamma": result.gamma, "lambda": result.lam, "selected_on": result.selected_on},
            "wall_time_s": time.perf_counter() - start,
            "peak_memory_mb": peak_memory_mb(torch.device("cpu")),
            SOURCE_KEY: source_data(ds),
        }
    ]
