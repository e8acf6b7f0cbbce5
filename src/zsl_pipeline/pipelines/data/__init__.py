"""The data stage."""

from .pipeline import IMAGE_SOURCES, create_pipeline

__all__ = ["IMAGE_SOURCES", "create_pipeline"]
