"""Zero-shot retrieval: class-mean synthetic queries, precision@k and full-ranking mAP (methods_spec_part2.md §7.9).

One query per unseen class (the mean of its synthetic features, §7.9.1), the database ranked by
Euclidean distance to it. Two metrics on the same ranking, labelled apart:

* ``precision_at_k`` — the released code's "Mean ZSR / GZSR acc": the fraction of the k nearest
  database items whose label is the query class, averaged over query classes (§7.9.1; the
  published ``test.py`` calls it with k = 5, the functions' own default being 10).
* ``map`` — standard IR mean average precision over the FULL ranking (§7.9.2; not in the released
  code): AP_c = (1/R_c) Σ_{r: item r relevant} P@r, mAP = mean of AP_c over classes with R_c > 0.

Device tensors in, plain Python floats / lists out.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

#: The published code's k (``test.py`` lines 18-21 call ``run_zsr`` / ``run_gzsr`` with k = 5).
DEFAULT_K = 5
#: Upper bound on query-rows × database-rows held at once during ranking (≈ 50 bytes each).
MAX_RANK_ELEMENTS = 1 << 22


def class_queries(synthetic_x: Tensor, synthetic_y: Tensor, classes: Tensor) -> Tensor:
    """One query per class in ``classes``: the mean of that class's synthetic features (§7.9.1).

    Vectorised (``index_add_`` + ``bincount``); samples whose label is not in ``classes`` are
    ignored. Returns (len(classes), D) in ``synthetic_x``'s dtype and device. Raises ValueError if
    a class has no synthetic sample (one host sync).
    """
    if synthetic_x.ndim != 2 or synthetic_y.shape != synthetic_x.shape[:1]:
        raise ValueError(f"need features (M, D) and labels (M,), got {tuple(synthetic_x.shape)} and "
                         f"{tuple(synthetic_y.shape)}")
    device = synthetic_x.device
    labels = synthetic_y.to(device=device, dtype=torch.long)
    classes = classes.to(device=device, dtype=torch.long)
    size = int(max(int(labels.max()) if labels.numel() else 0, int(classes.max()) if classes.numel() else 0)) + 1
    slot = torch.full((size,), -1, dtype=torch.long, device=device)  # global class id -> row of the query
    slot[classes] = torch.arange(classes.numel(), device=device)
    row = slot[labels]
    keep = row >= 0
    row = row[keep]
    sums = torch.zeros((classes.numel(), synthetic_x.shape[1]), dtype=torch.float64, device=device)
    sums.index_add_(0, row, synthetic_x[keep].to(torch.float64))
    counts = torch.bincount(row, minlength=classes.numel())
    if bool((counts == 0).any()):
        missing = classes[counts == 0].tolist()
        raise ValueError(f"no synthetic features for classes {missing}")
    return (sums / counts.unsqueeze(1)).to(synthetic_x.dtype)


def retrieval_metrics(
    queries: Tensor,
    query_classes: Tensor,
    database_x: Tensor,
    database_y: Tensor,
    *,
    k: int = DEFAULT_K,
    max_elements: int = MAX_RANK_ELEMENTS,
) -> dict[str, Any]:
    """Precision@k and full-ranking mAP of ``queries`` (one row per class in ``query_classes``).

    Each query ranks the whole database by Euclidean distance (``torch.cdist`` without the
    matmul shortcut, so equal points give exactly equal distances); ties keep database order
    (stable sort). Queries are processed in chunks of at most ``max_elements`` query × database
    entries, which bounds memory and leaves the result unchanged.

    * per-class precision@k = (#relevant among the k nearest) / k; ``precision_at_k`` is its mean
      over ALL query classes (a class absent from the database scores 0, as in the released code).
    * per-class AP over the full ranking (§7.9.2), NaN for a class with no relevant item (R_c = 0);
      ``map`` is the mean over classes with R_c > 0 (NaN if there are none).

    Returns {"precision_at_k", "map", "k", "per_class_ap", "per_class_precision", "classes"} with
    plain floats / ints / lists, per-class entries in ``query_classes`` order.
    """
    if queries.ndim != 2 or database_x.ndim != 2 or queries.shape[1] != database_x.shape[1]:
        raise ValueError(f"need queries (C, D) and database (N, D), got {tuple(queries.shape)} and "
                         f"{tuple(database_x.shape)}")
    if query_classes.shape != queries.shape[:1] or database_y.shape != database_x.shape[:1]:
        raise ValueError("need one class per query row and one label per database row")
    n_db = database_x.shape[0]
    if not 1 <= k <= n_db:
        raise ValueError(f"k = {k} must lie in [1, database size = {n_db}]")
    device = queries.device
    dtype = torch.promote_types(queries.dtype, database_x.dtype)
    if not dtype.is_floating_point:
        dtype = torch.float32
    database = database_x.to(device=device, dtype=dtype)
    db_labels = database_y.to(device=device, dtype=torch.long)
    q_classes = query_classes.to(device=device, dtype=torch.long)
    ranks = torch.arange(1, n_db + 1, device=device, dtype=torch.float64)  # 1-based rank r

    chunk = max(1, max_elements // n_db)
    precision, ap = [], []
    for start in range(0, queries.shape[0], chunk):
        q = queries[start:start + chunk].to(dtype)
        dist = torch.cdist(q, database, compute_mode="donot_use_mm_for_euclid_dist")  # (c, N)
        order = torch.sort(dist, dim=1, stable=True).indices
        relevant = db_labels[order] == q_classes[start:start + chunk].unsqueeze(1)  # (c, N) in rank order
        precision.append(relevant[:, :k].sum(1).to(torch.float64) / k)
        hits = relevant.cumsum(1).to(torch.float64)  # relevant items within the first r
        n_relevant = relevant.sum(1).to(torch.float64)  # R_c
        ap_sum = torch.where(relevant, hits / ranks, 0.0).sum(1)  # Σ_{r relevant} P@r
        ap.append(ap_sum / n_relevant)  # 0/0 = NaN marks R_c = 0
    per_class_precision = torch.cat(precision)
    per_class_ap = torch.cat(ap)
    return {
        "precision_at_k": float(per_class_precision.mean()),
        "map": float(torch.nanmean(per_class_ap)),
        "k": int(k),
        "per_class_ap": per_class_ap.tolist(),
        "per_class_precision": per_class_precision.tolist(),
        "classes": q_classes.tolist(),
    }


def zero_shot_retrieval(
    synthetic_x: Tensor,
    synthetic_y: Tensor,
    *,
    test_seen_x: Tensor,
    test_seen_y: Tensor,
    test_unseen_x: Tensor,
    test_unseen_y: Tensor,
    unseen_classes: Tensor,
    k: int = DEFAULT_K,
) -> dict[str, dict[str, Any]]:
    """ZSR and GZSR retrieval with one class-mean synthetic query per unseen class (§7.9).

    * ZSR: the database is test-unseen only.
    * GZSR: the database is test-seen followed by test-unseen, i.e. all TEST images (ties keep that
      order). The released code's GZSR database also contains the trainval images (§7.9.1); the
      project leaves them out so that no training image is ever retrieved. R_c is unchanged (an
      unseen class's images are all in test-unseen); the seen images act as distractors.

    k defaults to 5, the value the published ``test.py`` passes (the released functions default
    to 10). The features must be in the space the classifiers see (MinMax-scaled in the reference).
    Returns {"zsr": retrieval_metrics(...), "gzsr": retrieval_metrics(...)}.
    """
    queries = class_queries(synthetic_x, synthetic_y, unseen_classes)
    device = queries.device
    unseen_x = test_unseen_x.to(device)
    unseen_y = test_unseen_y.to(device)
    all_x = torch.cat([test_seen_x.to(device=device, dtype=unseen_x.dtype), unseen_x])
    all_y = torch.cat([test_seen_y.to(device=device, dtype=unseen_y.dtype), unseen_y])
    return {
        "zsr": retrieval_metrics(queries, unseen_classes, unseen_x, unseen_y, k=k),
        "gzsr": retrieval_metrics(queries, unseen_classes, all_x, all_y, k=k),
    }
