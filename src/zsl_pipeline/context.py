"""The project's Kedro context: it registers the pipelines of its own configuration."""

from __future__ import annotations

from typing import Any

from kedro.framework.context import KedroContext
from kedro.framework.project import pipelines

from zsl_pipeline.pipeline_registry import PipelineShape, build_pipelines


class ProjectContext(KedroContext):
    """A Kedro context that, once created, registers the pipelines of the shape its parameters
    ask for (``feature_source``, ``image_source``, ``finetune.enabled``, ``compare_methods``; ``--env`` and
    ``--params`` included), so ``kedro run`` and ``kedro viz`` draw the same DAG.

    The raw parameters are read from the config loader: ``self.params`` would validate them
    against the pipelines, which are not built yet.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        shape = PipelineShape.from_params(self.config_loader["parameters"])
        pipelines.update(build_pipelines(shape))
