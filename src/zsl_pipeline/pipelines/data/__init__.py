"""The data stage."""

from .pipeline import create_demo_pipeline, create_pipeline

__all__ = ["create_demo_pipeline", "create_pipeline"]
