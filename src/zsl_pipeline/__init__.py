"""zsl_pipeline: zero-shot learning (TF-VAEGAN and friends) as a Kedro project."""

__version__ = "0.1.0"
