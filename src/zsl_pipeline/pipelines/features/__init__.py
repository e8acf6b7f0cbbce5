"""The image stages (fine-tuning, feature extraction)."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
