"""Resume files: which code wrote them, and whether a run may continue from them.

A resume file (a training checkpoint, or the runner's finished seeds) is named by a hash of the
data and the settings; the code that wrote it is recorded inside it (:data:`CODE_VERSION_KEY`,
from :func:`code_version`). :func:`load_resume` returns a file only when this code wrote it: a
file of other code is not resumed (a warning names both code versions) and the run starts
fresh, overwriting it at its first save. :func:`check_unfinished` refuses a checkpoint that has
already trained as many epochs as the run asks for (e.g. after ``nepoch`` was lowered).
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import os
from functools import cache
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any, Mapping

from zsl_pipeline.training.checkpoint import load_checkpoint, save_checkpoint

log = logging.getLogger(__name__)

#: The key of the code version in a resume file.
CODE_VERSION_KEY = "code_version"


def package_version() -> str:
    """``zsl_pipeline.__version__``, or the installed distribution's version without it."""
    import zsl_pipeline

    version = getattr(zsl_pipeline, "__version__", None)
    if version:
        return str(version)
    try:
        return metadata.version("zsl_pipeline")
    except metadata.PackageNotFoundError:
        return "unknown"


def _source_files(module: ModuleType) -> list[tuple[str, Path]]:
    """(relative name, path) of the ``.py`` files of a package (recursively) or of a module."""
    paths = getattr(module, "__path__", None)
    if paths is None:
        path = Path(module.__file__ or "")
        return [(path.name, path)]
    files = []
    for root in map(Path, paths):
        files += [(p.relative_to(root).as_posix(), p) for p in root.rglob("*.py")]
    return sorted(files)


@cache
def _sources_digest(names: tuple[str, ...]) -> str:
    h = hashlib.sha256()
    for name in names:
        module = importlib.import_module(name)
        for relative, path in _source_files(module):
            h.update(f"{name}/{relative}\0".encode())
            h.update(path.read_bytes().replace(b"\r\n", b"\n"))  # a Windows checkout hashes the same
            h.update(b"\0")
    return h.hexdigest()[:12]


def code_version(*packages: ModuleType | str) -> str:
    """``<package version>+<hash>``: the package version and a short SHA-256 of the source files
    of ``packages`` (modules or packages, by object or dotted name).

    The hash reads file contents in the order of their relative paths (not mtimes or absolute
    paths), so the same sources give the same version on every machine. Computed once per process.
    """
    names = tuple(p if isinstance(p, str) else p.__name__ for p in packages)
    return f"{package_version()}+{_sources_digest(names)}"


def load_resume(path: str | os.PathLike, code: str, what: str = "checkpoint") -> dict[str, Any] | None:
    """The resume file at ``path`` when it exists and was written by code version ``code``;
    otherwise None (a file of other code is not resumed: a warning says which versions, and the
    run starts fresh and overwrites it)."""
    path = Path(path)
    if not path.is_file():
        return None
    state = load_checkpoint(path)
    saved = state.get(CODE_VERSION_KEY)
    if saved != code:
        log.warning(
            "not resuming from %s %s: it was written by code version %s, this is %s; starting fresh "
            "(the file will be overwritten)",
            what,
            path,
            saved or "unknown (before code versions were recorded)",
            code,
        )
        return None
    return state


def with_code_version(state: Mapping[str, Any], code: str) -> dict[str, Any]:
    """A copy of ``state`` that records the code version ``code`` (:data:`CODE_VERSION_KEY`)."""
    return {**state, CODE_VERSION_KEY: code}


def save_resume(state: Mapping[str, Any], path: str | os.PathLike, code: str) -> None:
    """Write ``state`` with the code version ``code`` (atomically, :func:`save_checkpoint`)."""
    save_checkpoint(with_code_version(state, code), path)


def check_unfinished(epochs_completed: int, nepoch: int, where: str = "the checkpoint") -> None:
    """Raise ValueError when ``where`` has ``epochs_completed >= nepoch``: there is nothing left
    to train, and resuming would report a run of ``nepoch`` epochs that did not take place."""
    if epochs_completed >= nepoch:
        raise ValueError(
            f"cannot resume from {where}: it has {epochs_completed} epochs completed, at or past "
            f"nepoch={nepoch} (was nepoch lowered?). Raise nepoch above {epochs_completed} to continue "
            f"training, or delete the file to train {nepoch} epochs from scratch"
        )
