"""The torch/torchvision names the library uses, and the torch 2.11 manifest they are checked against.

The library is every module of ``src/zsl_pipeline`` except the Kedro, MLflow and pydantic layer
(NOT_LIBRARY). It runs on Python 3.11-3.12 with torch >= 2.11 and torchvision >= 0.26;
``tests/test_compat.py`` checks that on the pinned stack, against ``torch_2_11_api.json``, which
this script writes. The manifest holds, as torch 2.11.0 and torchvision 0.26.0 have them:

- ``members``: the members of every namespace (module, class or object) that a torch or
  torchvision name used by the library passes through (``torch``, ``torch.nn``,
  ``torch.nn.functional``, ``torch.backends.cuda.matmul``, ...; public names and the private ones
  the library uses), and those of the classes in CLASSES, whose attributes the library reaches
  through variables (``x.unflatten(...)``, ``model.requires_grad_(...)``);
- ``signatures``: for each of those members that ``inspect.signature`` can read, the keyword
  arguments it accepts (``"**"``: any).

Regenerate it when test_compat asks for it, after checking that the name it reports exists in
torch 2.11.0 / torchvision 0.26.0 (a throwaway venv; torch's PyPI wheel pulls ~3 GB of nvidia-*
libraries, which it needs even to import on a CPU):

    python3.12 -m venv /tmp/torch211
    /tmp/torch211/bin/pip install torch==2.11.0 torchvision==0.26.0
    /tmp/torch211/bin/python tests/compat/torch_api.py

The script reads the library's sources (it does not import the library) and refuses to write a
manifest under another torch/torchvision, or when a name the library uses does not exist there.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGE = REPO_ROOT / "src" / "zsl_pipeline"
MANIFEST = Path(__file__).with_name("torch_2_11_api.json")
#: The Kedro/MLflow/pydantic layer; everything else below src/zsl_pipeline is the library.
NOT_LIBRARY = ("pipelines", "io", "hooks.py", "run_versions.py", "config_loader.py", "context.py", "settings.py",
               "pipeline_registry.py", "__main__.py")
TORCH_ROOTS = ("torch", "torchvision")
#: The oldest releases the library supports: the manifest is written under these.
FLOOR = {"torch": "2.11", "torchvision": "0.26"}
#: Classes whose members the library uses on variables; their 2.11 members are all recorded.
CLASSES = (
    "torch.Tensor",
    "torch.nn.Module",
    "torch.optim.Optimizer",
    "torch.Generator",
    "torch.dtype",
    "torch.device",
    "torch.utils.data.DataLoader",
)
REGENERATE = (
    "If it does exist in torch 2.11.0 / torchvision 0.26.0, regenerate the manifest in a throwaway "
    "venv with them: see the docstring of tests/compat/torch_api.py "
    "(`/tmp/torch211/bin/python tests/compat/torch_api.py`). If it does not, the library must do "
    "without it: it runs on torch >= 2.11."
)


@dataclass(frozen=True)
class Use:
    """One use of a name in a library file."""

    #: For a torch use the resolved dotted name (``torch.nn.functional.one_hot``); for an
    #: attribute use the attribute alone (``unflatten`` of ``x.unflatten``).
    name: str
    #: ``src/zsl_pipeline/losses.py:30``
    where: str
    #: The keyword arguments, when the name is called.
    keywords: tuple[str, ...] = ()


def library_files() -> list[Path]:
    """Every library module (the package without the Kedro, MLflow and pydantic layer)."""
    return sorted(
        path for path in PACKAGE.rglob("*.py") if path.relative_to(PACKAGE).parts[0] not in NOT_LIBRARY
    )


def _where(path: Path, node: ast.AST) -> str:
    return f"{path.relative_to(REPO_ROOT)}:{node.lineno}"


def _aliases(tree: ast.Module, roots: tuple[str, ...]) -> dict[str, str]:
    """Local name -> dotted name for every import from a module under ``roots``, wherever it is."""
    aliases = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                if top in roots:
                    aliases[alias.asname or top] = alias.name if alias.asname else top
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] in roots:
                for alias in node.names:
                    aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return aliases


def _dotted(node: ast.AST, aliases: dict[str, str]) -> str | None:
    """``F.one_hot`` -> ``torch.nn.functional.one_hot`` when ``F`` is an alias, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name) and node.id in aliases:
        return ".".join([aliases[node.id], *reversed(parts)])
    return None


def _keywords(call: ast.Call | None) -> tuple[str, ...]:
    return tuple(k.arg for k in call.keywords if k.arg is not None) if call is not None else ()


def parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def dotted_uses(path: Path, roots: tuple[str, ...] = TORCH_ROOTS) -> list[Use]:
    """Every name from a module under ``roots`` that ``path`` uses, resolved through its imports.

    The imports themselves (``import torch.nn.functional as F``, ``from torch import nn``), the
    longest attribute chain rooted at an imported name (``torch.backends.cuda.matmul.allow_tf32``,
    ``nn.modules.batchnorm._BatchNorm``) and calls of a bare imported name (``DataLoader(...)``),
    with their keyword arguments. A local variable named like an import would be read as that
    import; the library has none.
    """
    tree = parse(path)
    aliases = _aliases(tree, roots)
    uses = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            uses += [Use(a.name, _where(path, node)) for a in node.names if a.name.split(".")[0] in roots]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] in roots:
                uses += [Use(f"{node.module}.{a.name}", _where(path, node)) for a in node.names]
    calls = {id(n.func): n for n in ast.walk(tree) if isinstance(n, ast.Call)}
    inner = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    for node in ast.walk(tree):
        if id(node) in inner or not isinstance(node, (ast.Attribute, ast.Name)):
            continue
        if isinstance(node, ast.Name) and id(node) not in calls:
            continue  # a bare imported name: its import is the use
        name = _dotted(node, aliases)
        if name is not None:
            uses.append(Use(name, _where(path, node), _keywords(calls.get(id(node)))))
    return uses


def attribute_uses(path: Path) -> list[Use]:
    """Every ``x.name`` in ``path`` that is not part of a torch/torchvision dotted name."""
    tree = parse(path)
    aliases = _aliases(tree, TORCH_ROOTS)
    calls = {id(n.func): n for n in ast.walk(tree) if isinstance(n, ast.Call)}
    return [
        Use(node.attr, _where(path, node), _keywords(calls.get(id(node))))
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and _dotted(node, aliases) is None
    ]


def keyword_names(obj: object) -> list[str] | None:
    """The keyword arguments ``obj`` accepts (``"**"``: any), or None when it has no readable signature."""
    try:
        signature = inspect.signature(obj)
    except (TypeError, ValueError):
        return None
    params = signature.parameters.values()
    names = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    return names + ["**"] if any(p.kind == p.VAR_KEYWORD for p in params) else names


def resolve(name: str) -> object:
    """The object a dotted name stands for, importing submodules on the way; AttributeError if absent."""
    parts = name.split(".")
    obj = importlib.import_module(parts[0])
    for i, part in enumerate(parts[1:], start=2):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            try:
                obj = importlib.import_module(".".join(parts[:i]))
            except ImportError:
                raise AttributeError(f"{'.'.join(parts[: i - 1])} has no {part!r}") from None
    return obj


def build_manifest() -> dict:
    """The manifest for the installed torch and torchvision (which must be the FLOOR releases)."""
    import torch
    import torchvision

    for module in (torch, torchvision):
        if not module.__version__.startswith(FLOOR[module.__name__] + "."):
            raise SystemExit(f"{module.__name__} {module.__version__} installed; the manifest is for "
                             f"{module.__name__} {FLOOR[module.__name__]}.x")
    members: dict[str, set[str]] = {}
    signatures: dict[str, list[str]] = {}

    def add_namespace(prefix: str, obj: object, *, private: bool) -> None:
        if prefix in members:
            return
        members[prefix] = {n for n in dir(obj) if not n.startswith("__") and (private or not n.startswith("_"))}
        for member in members[prefix]:
            try:
                value = getattr(obj, member)
            except Exception:  # lazily imported submodules, deprecated properties, ...
                continue
            if callable(value) and (keywords := keyword_names(value)) is not None:
                signatures[f"{prefix}.{member}"] = keywords

    uses = [use for path in library_files() for use in dotted_uses(path)]
    missing = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for cls in CLASSES:
            add_namespace(cls, resolve(cls), private=True)
        for name in sorted({use.name for use in uses}):
            parts = name.split(".")
            for i in range(1, len(parts)):
                prefix = ".".join(parts[:i])
                try:
                    obj = resolve(prefix)
                    value = resolve(f"{prefix}.{parts[i]}")
                except AttributeError as error:
                    missing += [f"{use.where}: {use.name} ({error})" for use in uses if use.name == name]
                    break
                add_namespace(prefix, obj, private=False)
                members[prefix].add(parts[i])  # also private names, and those dir() does not list
                if callable(value) and (keywords := keyword_names(value)) is not None:
                    signatures[f"{prefix}.{parts[i]}"] = keywords
    if missing:
        raise SystemExit("not in this torch/torchvision, so the library must not use them:\n" + "\n".join(missing))
    return {
        "about": "torch/torchvision names as the oldest supported releases have them; written by "
        "tests/compat/torch_api.py, read by tests/test_compat.py",
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "members": {prefix: sorted(names) for prefix, names in sorted(members.items())},
        "signatures": dict(sorted(signatures.items())),
    }


def load_manifest() -> dict:
    return json.loads(MANIFEST.read_text(encoding="utf-8"))


def main() -> None:
    manifest = build_manifest()
    MANIFEST.write_text(json.dumps(manifest, indent=0) + "\n", encoding="utf-8")
    sys.stdout.write(f"wrote {MANIFEST.relative_to(REPO_ROOT)}: torch {manifest['torch']}, "
                     f"torchvision {manifest['torchvision']}, {len(manifest['members'])} namespaces, "
                     f"{len(manifest['signatures'])} signatures\n")


if __name__ == "__main__":
    main()
