"""The project's config loader: Kedro's ``OmegaConfigLoader`` plus ``${run_env:}`` and layered
environments.

``${run_env:}`` is the Kedro environment of the run (``--env``; ``local`` by default), so
``conf/base/catalog.yml`` keeps every output of an environment under ``data/<env>/``: a
``--env cub`` run and a demo run in one checkout never read each other's models or tensors.

Layered environments (``env_layers``, set in ``settings.py``): an environment may be read on top
of other configuration folders instead of on ``base`` alone. ``cub_images`` is
``base → cub → image_release → cub_images``: the published CUB settings of every method come
from ``conf/cub`` (written once), what every image release shares (ImageNet weights, 224-px
crops, fine-tuning) from ``conf/image_release``, and only the dataset's own values from
``conf/cub_images``. Layers merge as Kedro merges ``base`` and an environment (destructively:
a top-level key of a later layer replaces the earlier one whole), and ``--params`` overrides are
merged into the result: ``--params finetune.epochs=1`` changes one value of whichever layer's
``finetune`` block is in force (Kedro's own base/env merge would replace that block by the
fragment ``{epochs: 1}`` wherever the environment's files do not define it; every environment
is read this way, a plain one being a layer on ``base``). A folder that only exists to be
layered (``layer_only``) cannot be run as an environment.

OmegaConf resolvers are process-global; like Kedro's own ``runtime_params`` resolver, this one is
registered again, bound to this loader, each time a configuration is read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml
from kedro.config import OmegaConfigLoader
from omegaconf import OmegaConf

RUN_ENV_RESOLVER = "run_env"


class ProjectConfigLoader(OmegaConfigLoader):
    """``OmegaConfigLoader`` whose configuration may name the run's environment (``${run_env:}``)
    and whose environments may be layered on others (module docstring)."""

    def __init__(
        self,
        conf_source: str,
        *args: Any,
        env_layers: Mapping[str, Iterable[str]] | None = None,
        layer_only: Iterable[str] = (),
        **kwargs: Any,
    ):
        # set before Kedro's constructor, which already reads a key (globals)
        self.env_layers = {env: tuple(layers) for env, layers in (env_layers or {}).items()}
        self.layer_only = frozenset(layer_only)
        super().__init__(conf_source, *args, **kwargs)

    @property
    def run_env(self) -> str:
        """The environment this loader reads on top of ``base`` (``--env``, else the default)."""
        return str(self.env or self.default_run_env)

    def __getitem__(self, key: str) -> dict[str, Any]:
        run_env = self.run_env
        if run_env in self.layer_only:
            users = sorted(env for env, layers in self.env_layers.items() if run_env in layers)
            raise ValueError(
                f"conf/{run_env} is not an environment of its own: it holds what {users} share; "
                f"run one of those (--env {users[0] if users else '...'})"
            )
        register = getattr(OmegaConf, "register_resolver", None) or OmegaConf.register_new_resolver
        register(RUN_ENV_RESOLVER, lambda: run_env, replace=True)
        if key in self or key == "globals" or key not in self.config_patterns or run_env == self.base_env:
            return super().__getitem__(key)
        # base alone (Kedro's own reading: resolvers, file patterns), then each layer on top
        env, self.env = self.env, self.base_env
        try:
            merged = dict(super().__getitem__(key))
        finally:
            self.env = env
        processed: set = set()
        patterns = self.config_patterns[key]
        for layer in (*self.env_layers.get(run_env, ()), run_env):
            folder = Path(self.conf_source) / layer
            config = self.load_and_merge_dir_config(
                str(folder), patterns, key, processed, read_environment_variables=key == "credentials"
            )
            if key == "parameters":
                # Kedro merges the runtime parameters (--params) into every layer's files, so a
                # layer would also carry each overridden block as a fragment ({epochs: 1}) and
                # replace the whole block of an earlier layer with it: keep only the blocks the
                # layer's files define (each with the overrides merged in).
                defined = _top_level_keys(folder, patterns)
                config = {k: v for k, v in config.items() if k in defined}
            merged.update(config)
        return merged


def _top_level_keys(folder: Path, patterns: Iterable[str]) -> set[str]:
    """The top-level keys of the configuration files in ``folder`` matching ``patterns``."""
    keys: set[str] = set()
    files = {path for pattern in patterns for path in folder.glob(pattern)}
    for path in files:
        if path.is_file() and path.suffix in (".yml", ".yaml", ".json") and not path.name.startswith("."):
            content = yaml.safe_load(path.read_text())
            keys.update(content or {})
    return keys
