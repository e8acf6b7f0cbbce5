"""Kedro project settings."""

from kedro.config import OmegaConfigLoader

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    # `--env cub` (awa2, flo, sun) replaces `local` with a benchmark's published settings.
    "default_run_env": "local",
}

from zsl_pipeline.hooks import FeatureSourceHook, MlflowHook  # noqa: E402

HOOKS = (FeatureSourceHook(), MlflowHook())
