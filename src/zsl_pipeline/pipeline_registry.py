"""Project pipelines.

``tfvaegan`` is the main job. Its first stages depend on where features come from, which the
run's parameters say (``feature_source``):

* ``images`` (the default, the built-in demo or a user's image dataset): render the demo,
  read the image dataset, (fine-tune the backbone on seen classes when ``finetune.enabled``,)
  extract ResNet-101 features, the TF-VAEGAN stages, then feature-to-image inversion;
* ``xlsa17`` (the benchmark environments ``--env cub|awa2|flo|sun``): the features come from
  the release's ``res101.mat``, so only the TF-VAEGAN stages run and no image is needed.

The run's parameters are handed over by :class:`zsl_pipeline.hooks.FeatureSourceHook` when the
Kedro context is created, which Kedro does before it first reads the pipelines.
"""

from __future__ import annotations

from kedro.pipeline import Pipeline

from zsl_pipeline.pipelines import data, features, inversion, tfvaegan

FEATURE_SOURCES = ("images", "xlsa17")
_run_settings: dict[str, object] = {"feature_source": "images", "finetune": False}


def set_run_settings(feature_source: str, finetune: bool) -> bool:
    """Called by the context hook with the run's parameters; True if anything changed."""
    if feature_source not in FEATURE_SOURCES:
        raise ValueError(f"parameter 'feature_source' must be one of {FEATURE_SOURCES}, got {feature_source!r}")
    new = {"feature_source": feature_source, "finetune": bool(finetune)}
    changed = new != _run_settings
    _run_settings.update(new)
    return changed


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines."""
    data_stage = data.create_pipeline()
    finetune = bool(_run_settings["finetune"])
    image_stages = features.create_pipeline(finetune_backbone=finetune)
    generative = tfvaegan.create_pipeline()
    if _run_settings["feature_source"] == "xlsa17":
        main = generative
    else:
        main = data_stage + image_stages + generative + inversion.create_pipeline(finetune_backbone=finetune)
    return {"data": data_stage, "features": data_stage + image_stages, "tfvaegan": main, "__default__": main}
