"""Shared fixtures: tiny generated zero-shot datasets and the real xlsa17 split files."""

from __future__ import annotations

from pathlib import Path

import pytest

from toy_data import make_toy_dataset
from zsl_pipeline.data.contract import ZeroShotDataset

REPO_ROOT = Path(__file__).resolve().parents[1]
#: The real split files, present on the project's machines beside the repository, absent in a
#: user's clone: tests that need them skip.
SHARED_XLSA17 = REPO_ROOT.parent / "shared" / "xlsa17"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip ``gpu``-marked tests on machines without CUDA (torch is imported only if there are any)."""
    gpu_items = [item for item in items if item.get_closest_marker("gpu") is not None]
    if not gpu_items:
        return
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA (torch.cuda.is_available() is False)")
    for item in gpu_items:
        item.add_marker(skip)


@pytest.fixture
def shared_xlsa17() -> Path:
    if not (SHARED_XLSA17 / "CUB" / "att_splits.mat").is_file():
        pytest.skip(f"real xlsa17 split files not found at {SHARED_XLSA17}")
    return SHARED_XLSA17


@pytest.fixture
def toy_dataset() -> ZeroShotDataset:
    return make_toy_dataset()
