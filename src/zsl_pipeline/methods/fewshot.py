"""Few-shot (G)ZSL: k real images per unseen class move from test_unseen into training."""

from __future__ import annotations

import numpy as np

from zsl_pipeline.data.contract import ZeroShotDataset


def choose_unseen_shots(ds: ZeroShotDataset, n_shots: int, seed: int) -> np.ndarray:
    """Positions in ``ds``'s test_unseen split of ``n_shots`` rows per unseen class, by ``seed``.

    Hand them to ``prepare_features(..., unseen_shots=...)``, which moves those rows into
    training and out of the test set before anything is fitted, so none of them is ever
    evaluated. Sorted; empty for ``n_shots = 0``. A class with no more than ``n_shots`` test
    images is an error (nothing of it would be left to evaluate).
    """
    if n_shots < 0:
        raise ValueError(f"n_shots must be >= 0, got {n_shots}")
    if n_shots == 0:
        return np.empty(0, dtype=np.int64)
    y = ds.split_labels("test_unseen")
    classes, counts = np.unique(y, return_counts=True)
    if bool((counts <= n_shots).any()):
        raise ValueError(
            f"n_shots={n_shots} would leave no test image for unseen class(es) "
            f"{classes[counts <= n_shots].tolist()} of '{ds.name}' (test_unseen counts {counts[counts <= n_shots].tolist()})"
        )
    keys = np.random.default_rng(seed).random(y.shape[0])
    order = np.lexsort((keys, y))  # by class, then random key
    sorted_y = y[order]
    rank = np.arange(y.shape[0]) - np.searchsorted(sorted_y, sorted_y, side="left")
    return np.sort(order[rank < n_shots])
