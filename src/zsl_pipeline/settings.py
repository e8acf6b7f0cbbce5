"""Kedro project settings."""

from zsl_pipeline.config_loader import ProjectConfigLoader
from zsl_pipeline.context import ProjectContext
from zsl_pipeline.hooks import MlflowHook, PrecisionCheckHook
from zsl_pipeline.run_versions import RunVersionsHook

# OmegaConfigLoader plus ${run_env:}: every environment keeps its outputs under data/<env>/.
CONFIG_LOADER_CLASS = ProjectConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    # `--env cub` (awa2, flo, sun) replaces `local` with a benchmark's published settings.
    "default_run_env": "local",
    # `--env cub_images` (sun_images, awa2_images, flo_images): the benchmark's settings, then
    # what every image release shares, then the dataset's image release (config_loader)
    "env_layers": {f"{d}_images": (d, "image_release") for d in ("cub", "sun", "awa2", "flo")},
    "layer_only": ("image_release",),
}
# Registers the pipelines of each run's own --env/--params (see pipeline_registry).
CONTEXT_CLASS = ProjectContext
# RunVersionsHook: within a run every load reads what that run saved (run_versions.py).
HOOKS = (RunVersionsHook(), PrecisionCheckHook(), MlflowHook())
