"""The project's config loader: Kedro's ``OmegaConfigLoader`` plus the ``${run_env:}`` resolver.

``${run_env:}`` is the Kedro environment of the run (``--env``; ``local`` by default), so
``conf/base/catalog.yml`` keeps every output of an environment under ``data/<env>/``: a
``--env cub`` run and a demo run in one checkout never read each other's models or tensors.

OmegaConf resolvers are process-global; like Kedro's own ``runtime_params`` resolver, this one is
registered again, bound to this loader, each time a configuration is read.
"""

from __future__ import annotations

from typing import Any

from kedro.config import OmegaConfigLoader
from omegaconf import OmegaConf

RUN_ENV_RESOLVER = "run_env"


class ProjectConfigLoader(OmegaConfigLoader):
    """``OmegaConfigLoader`` whose configuration may name the run's environment: ``${run_env:}``."""

    @property
    def run_env(self) -> str:
        """The environment this loader reads on top of ``base`` (``--env``, else the default)."""
        return str(self.env or self.default_run_env)

    def __getitem__(self, key: str) -> dict[str, Any]:
        register = getattr(OmegaConf, "register_resolver", None) or OmegaConf.register_new_resolver
        register(RUN_ENV_RESOLVER, lambda: self.run_env, replace=True)
        return super().__getitem__(key)
