"""Custom Kedro datasets (the only package besides pipelines/ and hooks.py that imports kedro)."""

from .datasets import TextDataset, TorchDataset, Xlsa17Dataset, ZeroShotDatasetIO

__all__ = ["TextDataset", "TorchDataset", "Xlsa17Dataset", "ZeroShotDatasetIO"]
