"""Project pipelines.

``tfvaegan`` is the main job. Its first stages depend on where features come from, which the
run's parameters say (``feature_source``):

* ``images`` (the default): read the image dataset (``image_source``: the built-in demo, rendered
  first; a user's manifest; or a benchmark's image release, the ``<dataset>_images``
  environments), (fine-tune the backbone on seen classes when ``finetune.enabled``,) extract
  ResNet-101 features, the TF-VAEGAN stages, then feature-to-image inversion;
* ``xlsa17`` (the benchmark environments ``--env cub|awa2|flo|sun``): the features come from
  the release's ``res101.mat``, so only the TF-VAEGAN stages run and no image is needed.

The other methods run as branches of their own (``--pipelines=clswgan|cada_vae|filmwgan|zswgan|
eszsl``) after the same feature stages, and ``compare`` runs the methods listed in
``compare_methods`` side by side on one set of features.

How the shape reaches the registry: Kedro calls ``register_pipelines()`` without arguments, so
it returns the pipelines of the default shape (:class:`PipelineShape`: the demo's). Every
Kedro context of this project (:class:`zsl_pipeline.context.ProjectContext`, created by
``kedro run``, ``kedro viz`` and a notebook alike, whatever hooks are on) reads its own
configuration (``--env`` and ``--params`` included) and registers the pipelines of that shape
with :func:`build_pipelines`, so the DAG that runs is the DAG that is drawn.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from kedro.pipeline import Pipeline

from zsl_pipeline.methods import ALL_METHODS
from zsl_pipeline.pipelines import data, features, inversion, methods, tfvaegan

FEATURE_SOURCES = ("images", "xlsa17")


@dataclass(frozen=True)
class PipelineShape:
    """What decides which nodes the pipelines have: the parameters ``feature_source``,
    ``image_source``, ``finetune.enabled`` and ``compare_methods``."""

    feature_source: str = "images"
    image_source: str = "demo"
    finetune: bool = True
    compare_methods: tuple[str, ...] = ALL_METHODS

    def __post_init__(self) -> None:
        if self.feature_source not in FEATURE_SOURCES:
            raise ValueError(f"parameter 'feature_source' must be one of {FEATURE_SOURCES}, got {self.feature_source!r}")
        if self.image_source not in data.IMAGE_SOURCES:
            raise ValueError(f"parameter 'image_source' must be one of {data.IMAGE_SOURCES}, got {self.image_source!r}")
        if not isinstance(self.finetune, bool):
            raise ValueError(f"parameter 'finetune.enabled' must be true or false, got {self.finetune!r}")
        unknown = [m for m in self.compare_methods if m not in ALL_METHODS]
        if unknown or not self.compare_methods:
            raise ValueError(
                f"parameter 'compare_methods' must list methods among {ALL_METHODS}, got {list(self.compare_methods)}"
            )

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> "PipelineShape":
        """The shape a run's parameters ask for (the default where a parameter is absent)."""
        default = cls()
        finetune = params.get("finetune") or {}
        return cls(
            feature_source=params.get("feature_source", default.feature_source),
            image_source=params.get("image_source", default.image_source),
            finetune=finetune.get("enabled", default.finetune),
            compare_methods=tuple(params.get("compare_methods", default.compare_methods)),
        )


def build_pipelines(shape: PipelineShape) -> dict[str, Pipeline]:
    """Every pipeline of the project for ``shape``."""
    data_stage = data.create_pipeline(shape.image_source)
    image_stages = features.create_pipeline(finetune=shape.finetune)
    from_images = shape.feature_source == "images"
    upstream = data_stage + image_stages if from_images else Pipeline([])
    main = upstream + tfvaegan.create_pipeline()
    if from_images:
        main += inversion.create_pipeline(finetune=shape.finetune)
    registry = {"data": data_stage, "features": data_stage + image_stages, "tfvaegan": main, "__default__": main}
    for name in ALL_METHODS:
        if name != "tfvaegan":  # TF-VAEGAN's own pipeline is `tfvaegan` above
            registry[name] = upstream + methods.create_method_pipeline(name)
    registry["compare"] = upstream + methods.create_compare_pipeline(shape.compare_methods)
    return registry


def register_pipelines() -> dict[str, Pipeline]:
    """The pipelines of the default shape; a project context replaces them with its own."""
    return build_pipelines(PipelineShape())
