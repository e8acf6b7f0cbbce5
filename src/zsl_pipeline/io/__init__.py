"""Custom Kedro datasets (the only package besides pipelines/ and hooks.py that imports kedro)."""

from .datasets import TorchDataset, Xlsa17Dataset, ZeroShotDatasetIO

__all__ = ["TorchDataset", "Xlsa17Dataset", "ZeroShotDatasetIO"]
