"""Kedro project settings."""

from kedro.config import OmegaConfigLoader

from zsl_pipeline.context import ProjectContext
from zsl_pipeline.hooks import MlflowHook, PrecisionCheckHook

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    # `--env cub` (awa2, flo, sun) replaces `local` with a benchmark's published settings.
    "default_run_env": "local",
}
# Registers the pipelines of each run's own --env/--params (see pipeline_registry).
CONTEXT_CLASS = ProjectContext
HOOKS = (PrecisionCheckHook(), MlflowHook())
