"""The resume kit: code versions, resume files of other code, the refuse-finished rule."""

from __future__ import annotations

import logging

import pytest
import torch

import zsl_pipeline
from zsl_pipeline.methods import get_method
from zsl_pipeline.methods.base import method_code_version, method_package
from zsl_pipeline.training import resume
from zsl_pipeline.training.resume import check_unfinished, code_version, load_resume, save_resume


def _package(root, files):
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text)


def test_code_version_hashes_source_contents_not_paths_or_mtimes(tmp_path, monkeypatch):
    a, b = tmp_path / "a" / "pkg_cv", tmp_path / "b" / "pkg_cv"
    files = {"__init__.py": b"x = 1\n", "sub/mod.py": b"y = 2\n"}
    _package(a, files)
    _package(b, {k: v.replace(b"\n", b"\r\n") for k, v in files.items()})  # other place, CRLF checkout

    def version_at(root):
        monkeypatch.syspath_prepend(str(root.parent))
        for name in [m for m in __import__("sys").modules if m.startswith("pkg_cv")]:
            monkeypatch.delitem(__import__("sys").modules, name)
        resume._sources_digest.cache_clear()
        return code_version("pkg_cv")

    first = version_at(a)
    assert first.startswith(f"{zsl_pipeline.__version__}+") and len(first.split("+")[1]) == 12
    assert version_at(b) == first
    (b / "sub" / "mod.py").write_bytes(b"y = 3\n")
    assert version_at(b) != first
    resume._sources_digest.cache_clear()


def test_method_code_version_covers_the_method_package():
    assert method_package(get_method("clswgan")) == "zsl_pipeline.methods.wgan"
    assert method_package(get_method("tfvaegan")) == "zsl_pipeline.methods.tfvaegan"
    assert method_code_version("zsl_pipeline.methods.wgan") != method_code_version("zsl_pipeline.methods.cada_vae")
    assert method_code_version("zsl_pipeline.methods.wgan") == method_code_version("zsl_pipeline.methods.wgan")


def test_load_resume_only_returns_files_of_this_code(tmp_path, caplog):
    path = tmp_path / "state.pt"
    assert load_resume(path, "1+a") is None  # no file
    save_resume({"x": torch.ones(2)}, path, "1+a")
    assert torch.equal(load_resume(path, "1+a")["x"], torch.ones(2))
    with caplog.at_level(logging.WARNING):
        assert load_resume(path, "1+b", what="finished seeds") is None
    assert "finished seeds" in caplog.text and "1+a" in caplog.text and "1+b" in caplog.text


@pytest.mark.parametrize("done", [3, 4])
def test_check_unfinished_refuses_at_or_past_nepoch(done):
    check_unfinished(2, 3)
    with pytest.raises(ValueError, match=rf"from file\.pt: it has {done} epochs completed.*nepoch=3"):
        check_unfinished(done, 3, "file.pt")
