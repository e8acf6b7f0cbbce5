"""Datasets in memory: the zero-shot contract, xlsa17 files, image datasets, the demo renderer.

Never imports kedro or mlflow (see architecture.md).
"""

from .contract import DatasetValidationError, ZeroShotDataset, validate
from .xlsa17 import read_xlsa17, write_xlsa17

__all__ = ["DatasetValidationError", "ZeroShotDataset", "read_xlsa17", "validate", "write_xlsa17"]
