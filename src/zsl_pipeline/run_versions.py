"""Run-local versions: a run loads only what it saved, or what it was told to load.

Kedro saves every versioned dataset under the run's save version (the session's timestamp) but,
unless ``--load-versions`` names it, loads the *latest* version on disk. With two runs started in
one checkout, the latest is whichever run saved last: a long run that saved its generator
while a short run was going on went on to synthesise, classify and report with the short run's
generator (Kedro's only sign: ``UserWarning: Save version ... did not match load version``).

:class:`RunVersionsHook` fixes every version before the first node runs:

* a versioned dataset the run produces (an output of any node of the filtered pipeline) is loaded
  at this run's save version, so within a run every intermediate load reads what this run saved;
* a versioned dataset the run only reads keeps an explicit ``--load-versions`` entry, else the
  latest version at the start of the run, fixed then (logged), so a run started later cannot
  swap it halfway; none at all stops the run at once, naming the dataset, its folder and the
  environment;
* ``--load-versions`` naming a dataset the run also produces is refused (it would save one
  version and load another);
* Kedro's save/load mismatch warning is turned into an error, in case anything else sets one.

With ``--only-missing-outputs`` the rules apply to the nodes Kedro will run (those with a
missing output, found before any version is pinned): a skipped node's outputs are read like
inputs, at the latest version.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.io.core import AbstractVersionedDataset, Version, VersionNotFoundError

logger = logging.getLogger(__name__)

#: Kedro's consistency warning (``kedro.io.core._CONSISTENCY_WARNING``), made an error.
MISMATCH_WARNING = r"Save version '.*' did not match load version"


def _versioned(catalog: Any, name: str) -> AbstractVersionedDataset | None:
    """The catalog's versioned dataset ``name`` (materialised), or None for anything else."""
    if name.startswith("params:") or name == "parameters" or name not in catalog:
        return None
    dataset = catalog.get(name)
    dataset = getattr(dataset, "_dataset", dataset)  # a CachedDataset's inner dataset
    if isinstance(dataset, AbstractVersionedDataset) and dataset._version is not None:
        return dataset
    return None


def _nodes_that_will_run(pipeline, catalog):
    """The part of ``pipeline`` that ``--only-missing-outputs`` runs (Kedro's own rule)."""
    try:
        from kedro.runner.runner import _build_node_children_map, _determine_nodes_to_run
    except ImportError as error:  # a Kedro without these helpers
        raise ValueError(
            "--only-missing-outputs cannot be combined with run-local versions on this Kedro version"
        ) from error
    from kedro.pipeline import Pipeline

    nodes = _determine_nodes_to_run(
        list(reversed(pipeline.nodes)), catalog, _build_node_children_map(pipeline), logger
    )
    return pipeline.filter(node_names=[n.name for n in nodes]) if nodes else Pipeline([])


def _where(dataset: AbstractVersionedDataset) -> str:
    return str(getattr(dataset, "_filepath", dataset))


class RunVersionsHook:
    """Pins every versioned dataset's load version before a run (see the module's docstring)."""

    @hook_impl(tryfirst=True)
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        warnings.filterwarnings("error", message=MISMATCH_WARNING, category=UserWarning)
        save_version = run_params["run_id"]  # KedroSession.run saves under the session id
        env = run_params.get("env") or "local"
        explicit = dict(run_params.get("load_versions") or {})
        if run_params.get("only_missing_outputs"):
            pipeline = _nodes_that_will_run(pipeline, catalog)
        produced = pipeline.all_outputs()

        both = sorted(name for name in explicit if name in produced)
        if both:
            raise ValueError(
                f"--load-versions names {', '.join(both)}, which this run also produces: it would save "
                "one version and load another. Start the run after the node that makes it "
                "(--from-nodes=<the node that reads it>) to use a pinned version, or leave it out of "
                "--load-versions to use the version this run saves."
            )

        for name in sorted(produced):
            dataset = _versioned(catalog, name)
            if dataset is not None:
                dataset._version = Version(save_version, dataset._version.save)

        missing: list[str] = []
        for name in sorted(pipeline.inputs()):
            dataset = _versioned(catalog, name)
            if dataset is None or name in explicit:
                continue
            try:
                latest = dataset._fetch_latest_load_version()
            except VersionNotFoundError:
                missing.append(f"{name} ({_where(dataset)})")
                continue
            dataset._version = Version(latest, dataset._version.save)
            logger.info("this run reads %s version %s (the latest; --load-versions picks another)", name, latest)
        if missing:
            raise ValueError(
                f"this run reads {', '.join(missing)}, and no earlier run saved a version in environment "
                f"{env!r}. Every environment keeps its outputs under data/<env>/, so outputs of another "
                "environment are never loaded: run the nodes that make them in this environment first "
                "(without --from-nodes), or name an existing version with --load-versions."
            )
