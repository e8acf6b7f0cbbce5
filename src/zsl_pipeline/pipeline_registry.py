"""Project pipelines."""

from __future__ import annotations

from kedro.pipeline import Pipeline

from zsl_pipeline.pipelines import data


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines.

    ``data`` renders the built-in demo dataset and reads it into the data contract.
    ``tfvaegan`` is the main job; until the generative stages land it is the data stage.
    """
    data_pipeline = data.create_pipeline()
    return {
        "data": data_pipeline,
        "tfvaegan": data_pipeline,
        "__default__": data_pipeline,
    }
