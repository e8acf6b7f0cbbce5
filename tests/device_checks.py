"""Helpers for the device tests: where the tensors of a (saved) object live."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import torch


def tensor_devices(obj: Any) -> set[str]:
    """The device types of every tensor in a nested structure of dicts, lists and tuples."""
    if isinstance(obj, torch.Tensor):
        return {obj.device.type}
    if isinstance(obj, Mapping):
        return set().union(*(tensor_devices(v) for v in obj.values()))
    if isinstance(obj, (list, tuple)):
        return set().union(*(tensor_devices(v) for v in obj))
    return set()


def saved_devices(path: str | Path) -> set[str]:
    """The device types of the tensors of a ``torch.save`` file as stored: loaded WITHOUT
    ``map_location``, as a user on a machine without a GPU would, so a CUDA tensor in the file
    either fails to load there or shows up as ``cuda`` here."""
    return tensor_devices(torch.load(path, weights_only=True))
