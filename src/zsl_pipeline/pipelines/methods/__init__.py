"""One branch per zero-shot method (train → evaluate) and the ``compare`` report over them."""

from .pipeline import create_compare_pipeline, create_method_pipeline

__all__ = ["create_compare_pipeline", "create_method_pipeline"]
