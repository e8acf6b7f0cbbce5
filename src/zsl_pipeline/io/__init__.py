"""Custom Kedro datasets (the only package besides pipelines/ and hooks.py that imports kedro)."""

from .datasets import TableDataset, TextDataset, TorchDataset, Xlsa17Dataset, ZeroShotDatasetIO

__all__ = ["TableDataset", "TextDataset", "TorchDataset", "Xlsa17Dataset", "ZeroShotDatasetIO"]
