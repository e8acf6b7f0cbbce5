"""The library runs on Python 3.11-3.12 with torch >= 2.11 and torchvision >= 0.26.

GPU hosts often carry Python 3.12 and an older torch than the pinned stack. The library (the
package without its Kedro, MLflow and pydantic layer: ``compat.torch_api.NOT_LIBRARY``) was run
once on Python 3.12 + torch 2.11.0 + torchvision 0.26.0 (README, "Python and torch versions");
these tests keep it there from the pinned stack, without torch 2.11 or the network:

- every torch/torchvision name the library uses, resolved through its imports, exists in torch
  2.11 (``compat/torch_2_11_api.json``, written under torch 2.11 by ``compat/torch_api.py``),
  and 2.11 accepts the keyword arguments it is called with;
- no attribute the library reads on a variable (``x.foo``) is a member of ``torch.Tensor``,
  ``nn.Module``, ``Optimizer``, ``Generator``, ... that the installed torch has and 2.11 lacks,
  nor a keyword of such a method that only the installed torch accepts;
- the sources are Python 3.11 syntax, compile without warnings (3.12 turns invalid escape
  sequences into SyntaxWarnings) and use nothing Python 3.12 removed;
- the library imports neither kedro, mlflow, pydantic nor the layer that does.
"""

from __future__ import annotations

import ast
import tomllib
import warnings

import pytest

from compat.torch_api import (
    CLASSES,
    FLOOR,
    MANIFEST,
    NOT_LIBRARY,
    REGENERATE,
    REPO_ROOT,
    attribute_uses,
    dotted_uses,
    keyword_names,
    library_files,
    load_manifest,
    parse,
    resolve,
)

FILES = library_files()
#: Removed in Python 3.12 (What's New in Python 3.12, "Removed").
REMOVED_MODULES = ("distutils", "imp", "asynchat", "asyncore", "smtpd")
REMOVED_NAMES = {
    "configparser.SafeConfigParser",
    "importlib.find_loader",
    "io.OpenWrapper",
    "locale.format",
    "pkgutil.ImpImporter",
    "pkgutil.ImpLoader",
    "sqlite3.OptimizedUnicode",
    "sqlite3.enable_shared_cache",
    "ssl.RAND_pseudo_bytes",
    "ssl.match_hostname",
    "ssl.wrap_socket",
    "unittest.findTestCases",
    "unittest.getTestCaseNames",
    "unittest.makeSuite",
}
#: What a torch-only host lacks.
FORBIDDEN_IMPORTS = ("kedro", "kedro_datasets", "kedro_viz", "mlflow", "pydantic")


@pytest.fixture(scope="module")
def manifest() -> dict:
    return load_manifest()


def test_the_declared_range_is_the_checked_one(manifest):
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["project"]["requires-python"] == ">=3.11,<3.13"
    # ruff flags syntax newer than the oldest Python (type statements, PEP 701 f-strings, ...)
    assert pyproject["tool"]["ruff"]["target-version"] == "py311"
    for package, floor in FLOOR.items():
        assert manifest[package].startswith(floor + "."), (package, manifest[package], MANIFEST)
    layer = [path for path in FILES if path.relative_to(REPO_ROOT / "src/zsl_pipeline").parts[0] in NOT_LIBRARY]
    assert len(FILES) > 50 and not layer


#: Module-level instances the library reaches members of: their members are their class's.
INSTANCES = {"torch.default_generator": "torch.Generator", "torch.random.default_generator": "torch.Generator"}


def _missing_member(name: str, members: dict[str, list[str]]) -> str | None:
    """Why ``name`` is not known to exist in torch 2.11, or None when it is."""
    parts = name.split(".")
    for i in range(1, len(parts)):
        prefix = ".".join(parts[:i])
        prefix = INSTANCES.get(prefix, prefix)
        if prefix not in members:
            return f"the manifest does not list the members of {prefix}"
        if parts[i] not in members[prefix]:
            return f"{prefix} has no {parts[i]!r} in torch {FLOOR['torch']}"
    return None


def test_every_torch_name_the_library_uses_exists_in_torch_2_11(manifest):
    problems = []
    for path in FILES:
        for use in dotted_uses(path):
            if (why := _missing_member(use.name, manifest["members"])) is not None:
                problems.append(f"{use.where}: {use.name}: {why}")
    assert not problems, "\n".join(sorted(problems)) + "\n" + REGENERATE


def test_torch_2_11_accepts_the_keywords_the_library_passes(manifest):
    problems = []
    for path in FILES:
        for use in dotted_uses(path):
            accepted = manifest["signatures"].get(use.name)
            if accepted is None or "**" in accepted:
                continue  # no readable signature in 2.11 (a C function), or any keyword
            for keyword in use.keywords:
                if keyword not in accepted:
                    problems.append(f"{use.where}: {use.name}({keyword}=...): torch {FLOOR['torch']} "
                                    f"accepts only {', '.join(accepted)}")
    assert not problems, "\n".join(sorted(problems)) + "\n" + REGENERATE


def _newer_than_2_11(members: dict[str, list[str]], signatures: dict[str, list[str]]) -> dict:
    """For each class in CLASSES: members of the installed torch's class that 2.11's lacks, and
    the keywords its methods accept explicitly that 2.11's (readable, without ``**``) do not."""
    new_members, new_keywords = {}, {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for cls in CLASSES:
            installed = resolve(cls)
            old = set(members[cls])
            for name in dir(installed):
                if name.startswith("__"):
                    continue
                if name not in old:
                    new_members.setdefault(name, []).append(cls)
                    continue
                before = signatures.get(f"{cls}.{name}")
                now = keyword_names(getattr(installed, name, None))
                if before is None or "**" in before or now is None:
                    continue
                for keyword in set(now) - set(before) - {"**"}:
                    new_keywords.setdefault((name, keyword), []).append(cls)
    return {"members": new_members, "keywords": new_keywords}


def test_no_attribute_the_library_uses_is_newer_than_torch_2_11(manifest):
    """An ``x.foo`` whose ``foo`` the installed Tensor/Module/... has and torch 2.11's lacks.

    The type of ``x`` is not known, so any attribute of that name counts: rename a variable's
    attribute that collides, rather than allow-list it.
    """
    newer = _newer_than_2_11(manifest["members"], manifest["signatures"])
    problems = []
    for path in FILES:
        for use in attribute_uses(path):
            if use.name in newer["members"]:
                problems.append(f"{use.where}: .{use.name}: a member of the installed "
                                f"{' and '.join(newer['members'][use.name])}, not in torch {FLOOR['torch']}")
            for keyword in use.keywords:
                if (use.name, keyword) in newer["keywords"]:
                    classes = " and ".join(newer["keywords"][use.name, keyword])
                    problems.append(f"{use.where}: .{use.name}({keyword}=...): accepted by the installed "
                                    f"{classes}.{use.name}, not in torch {FLOOR['torch']}")
    assert not problems, "\n".join(sorted(problems)) + (
        f"\nThe installed torch has these and torch {FLOOR['torch']} does not ({MANIFEST.name}): the library "
        "must do without them (it runs on torch >= 2.11), or rename an attribute of its own that only "
        "shares the name."
    )


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(REPO_ROOT / "src")))
def test_python_3_11_syntax_compiles_without_warnings(path):
    source = path.read_text(encoding="utf-8")
    ast.parse(source, filename=str(path), feature_version=(3, 11))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. "\d": a DeprecationWarning in 3.11, a SyntaxWarning in 3.12
        compile(source, str(path), "exec", dont_inherit=True)


def _imports(path) -> list[tuple[int, list[str]]]:
    """Each import statement of ``path``: its line and the absolute names it imports (relative
    imports resolved; ``from a import b`` gives ``a`` and ``a.b``)."""
    package = path.relative_to(REPO_ROOT / "src").parent.parts
    found = []
    for node in ast.walk(parse(path)):
        if isinstance(node, ast.Import):
            found.append((node.lineno, [alias.name for alias in node.names]))
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package[: len(package) - node.level + 1]) if node.level else ""
            module = ".".join(part for part in (base, node.module or "") if part)
            found.append((node.lineno, [module] + [f"{module}.{alias.name}" for alias in node.names]))
    return found


def test_nothing_python_3_12_removed():
    problems = []
    for path in FILES:
        for line, names in _imports(path):
            if any(name.split(".")[0] in REMOVED_MODULES for name in names):
                problems.append(f"{path.relative_to(REPO_ROOT)}:{line}: imports {names[0]}")
        roots = tuple({name.split(".")[0] for name in REMOVED_NAMES})
        problems += [f"{use.where}: {use.name}" for use in dotted_uses(path, roots) if use.name in REMOVED_NAMES]
    assert not problems, "removed in Python 3.12:\n" + "\n".join(problems)


def test_the_library_runs_without_kedro_mlflow_pydantic():
    layer = tuple(f"zsl_pipeline.{name.removesuffix('.py')}" for name in NOT_LIBRARY)
    layer_packages = tuple(name + "." for name in layer)
    problems = []
    for path in FILES:
        for line, names in _imports(path):
            if any(
                name.split(".")[0] in FORBIDDEN_IMPORTS or name in layer or name.startswith(layer_packages)
                for name in names
            ):
                problems.append(f"{path.relative_to(REPO_ROOT)}:{line}: imports {', '.join(names)}")
    assert not problems, "the library must import on a host with only Python and torch:\n" + "\n".join(problems)
