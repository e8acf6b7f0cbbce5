"""Which data a saved model or tensor came from, and the check that it is the data at hand.

Every generator checkpoint, synthetic feature set, classifier set, method run and report input
that a stage saves carries ``source_data = {"dataset": <name>, "fingerprint": <hash>}``
(:func:`source_data`). A stage that loads one checks it against the dataset it is given
(:func:`check_source`): another dataset's, or another version's, outputs stop the run with a
message naming both, instead of failing on a shape (``IndexError: Target 184 is out of bounds``)
or, with compatible shapes, mixing them silently.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any, Mapping

import numpy as np

from zsl_pipeline.data.contract import ZeroShotDataset

log = logging.getLogger(__name__)

#: The key of the record in a saved object (a checkpoint envelope, synthetic features, ...).
SOURCE_KEY = "source_data"


def dataset_fingerprint(ds: ZeroShotDataset) -> str:
    """A short hash of the features, labels, embeddings and splits."""
    h = hashlib.sha256()
    for array in (ds.features, ds.labels, ds.class_embeddings, *(ds.splits[k] for k in sorted(ds.splits))):
        if array is not None:
            h.update(np.ascontiguousarray(array).tobytes())
    return h.hexdigest()[:16]


def source_data(ds: ZeroShotDataset) -> dict[str, str]:
    """``{"dataset": ds.name, "fingerprint": dataset_fingerprint(ds)}``."""
    return {"dataset": str(ds.name), "fingerprint": dataset_fingerprint(ds)}


def stamped(obj: Mapping[str, Any], source: Mapping[str, str]) -> dict[str, Any]:
    """A copy of ``obj`` with ``source`` (from :func:`source_data`) under :data:`SOURCE_KEY`."""
    return {**obj, SOURCE_KEY: dict(source)}


def unstamped(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``obj`` without its :data:`SOURCE_KEY` record."""
    return {k: v for k, v in obj.items() if k != SOURCE_KEY}


def describe(source: Mapping[str, str]) -> str:
    return f"dataset {source.get('dataset')!r} (fingerprint {source.get('fingerprint')})"


def check_source(saved: Mapping[str, Any], current: Mapping[str, str], what: str) -> None:
    """Raise ValueError unless ``saved`` (a loaded object, named ``what``: its catalog entry) was
    made from the data ``current`` describes (:func:`source_data` of the dataset at hand).

    An object saved before this record existed is let through with a warning.
    """
    source = saved.get(SOURCE_KEY) if isinstance(saved, Mapping) else None
    if source is None:
        log.warning("%s has no record of the data it was made from (saved before fingerprints); "
                    "it cannot be checked against %s", what, describe(current))
        return
    if source.get("fingerprint") != current.get("fingerprint"):
        raise ValueError(
            f"{what} was made from {describe(source)}, but this run's data is {describe(current)}. "
            "Rerun the nodes that make it on this data (e.g. without --from-nodes), or name a "
            "version made from this data with --load-versions."
        )


def check_same_source(records: list[Mapping[str, Any]]) -> None:
    """Raise ValueError unless every comparison record (``<method>_runs``) that names its data
    names the same data; the message names the first two methods that differ and their data."""
    first = None
    for record in records:
        source = record.get(SOURCE_KEY)
        if source is None:
            continue
        if first is None:
            first = (record.get("method"), source)
        elif source.get("fingerprint") != first[1].get("fingerprint"):
            raise ValueError(
                f"the comparison reads runs made from different data: {first[0]}_runs from "
                f"{describe(first[1])}, {record.get('method')}_runs from {describe(source)}. Rerun "
                "the branches on one dataset, or name matching versions with --load-versions."
            )
