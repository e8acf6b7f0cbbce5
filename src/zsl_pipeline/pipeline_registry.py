"""Project pipelines.

``tfvaegan`` is the main job. Its first stages depend on where features come from, which the
run's parameters say (``feature_source``):

* ``images`` (the default, the built-in demo or a user's image dataset): render the demo,
  read the image dataset, (fine-tune the backbone on seen classes when ``finetune.enabled``,)
  extract ResNet-101 features, the TF-VAEGAN stages, then feature-to-image inversion;
* ``xlsa17`` (the benchmark environments ``--env cub|awa2|flo|sun``): the features come from
  the release's ``res101.mat``, so only the TF-VAEGAN stages run and no image is needed.

The other methods run as branches of their own (``--pipeline=clswgan|cada_vae|filmwgan|zswgan|
eszsl``) after the same feature stages, and ``compare`` runs the methods listed in
``compare_methods`` side by side on one set of features.

The run's parameters are handed over by :class:`zsl_pipeline.hooks.FeatureSourceHook` when the
Kedro context is created, which Kedro does before it first reads the pipelines.
"""

from __future__ import annotations

from kedro.pipeline import Pipeline

from zsl_pipeline.methods import ALL_METHODS
from zsl_pipeline.pipelines import data, features, inversion, methods, tfvaegan

FEATURE_SOURCES = ("images", "xlsa17")
_run_settings: dict[str, object] = {"feature_source": "images", "finetune": False, "compare_methods": ALL_METHODS}


def set_run_settings(feature_source: str, finetune: bool, compare_methods: list[str] | tuple[str, ...] = ALL_METHODS) -> bool:
    """Called by the context hook with the run's parameters; True if anything changed."""
    if feature_source not in FEATURE_SOURCES:
        raise ValueError(f"parameter 'feature_source' must be one of {FEATURE_SOURCES}, got {feature_source!r}")
    new = {"feature_source": feature_source, "finetune": bool(finetune), "compare_methods": tuple(compare_methods)}
    changed = new != _run_settings
    _run_settings.update(new)
    return changed


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines."""
    data_stage = data.create_pipeline()
    finetune = bool(_run_settings["finetune"])
    image_stages = features.create_pipeline(finetune_backbone=finetune)
    generative = tfvaegan.create_pipeline()
    from_images = _run_settings["feature_source"] == "images"
    upstream = data_stage + image_stages if from_images else Pipeline([])
    main = upstream + generative
    if from_images:
        main += inversion.create_pipeline(finetune_backbone=finetune)
    registry = {"data": data_stage, "features": data_stage + image_stages, "tfvaegan": main, "__default__": main}
    for name in ALL_METHODS:
        if name != "tfvaegan":  # TF-VAEGAN's own pipeline is `tfvaegan` above
            registry[name] = upstream + methods.create_method_pipeline(name)
    registry["compare"] = upstream + methods.create_compare_pipeline(_run_settings["compare_methods"])
    return registry
