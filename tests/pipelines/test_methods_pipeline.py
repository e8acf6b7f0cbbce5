"""The method branches and `compare` as Kedro runs them: one branch per method, seeds, reports."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from crashes import Killed
from toy_data import make_toy_dataset
from zsl_pipeline.data import write_xlsa17
from zsl_pipeline.methods import ALL_METHODS
from zsl_pipeline.pipeline_registry import PipelineShape, build_pipelines

#: Every method at toy size (runtime parameters merge into the configured dicts).
TINY = {
    "tfvaegan": {"nepoch": 1, "syn_num": 10, "encoder_hidden": 16, "ngh": 16, "ndh": 16, "classifier_epochs": 2},
    "clswgan": {
        "ngh": 16, "ndh": 16, "pretrain_epochs": 1, "classifier_epochs": 2,
        "settings": {"gzsl": {"nepoch": 1, "syn_num": 10}, "zsl": {"nepoch": 1, "syn_num": 10}},
    },
    "cada_vae": {
        "image_encoder_hidden": 16, "image_decoder_hidden": 16, "attribute_encoder_hidden": 8,
        "attribute_decoder_hidden": 8, "nepoch": 1, "samples_per_class_gzsl": [5, 0, 10, 0],
        "samples_per_class_zsl": [0, 0, 5, 0], "classifier_epochs_gzsl": 2, "classifier_epochs_zsl": 2,
    },
    "filmwgan": {"ngh": 16, "ndh": 16, "nz": 4, "nepoch": 1, "syn_num": 10, "pretrain_epochs": 1, "classifier_epochs": 2},
    "zswgan": {"ngh": 16, "ndh": 16, "nz": 4, "nepoch": 1, "syn_num": 10, "pretrain_epochs": 1, "classifier_epochs": 2},
}


@pytest.fixture
def toy_xlsa17(tmp_path) -> Path:
    root = tmp_path / "xlsa17"
    write_xlsa17(make_toy_dataset(per_class=12, feature_dim=24), root / "CUB")
    return root


def _latest(tmp_path: Path, relative: str):
    files = sorted((tmp_path / relative).glob("*/*"))
    return files[-1], len(files)


def test_compare_pipeline_has_one_namespaced_branch_per_method():
    shape = PipelineShape(feature_source="xlsa17", finetune=False, compare_methods=("clswgan", "eszsl"))
    compare = build_pipelines(shape)["compare"]
    assert {n.namespace for n in compare.nodes} == {"clswgan", "eszsl", None}
    assert {n.name for n in compare.nodes} == {"clswgan.train", "clswgan.evaluate", "eszsl.evaluate", "report"}
    assert compare.inputs() == {"zsl_dataset"} | {f"params:{p}" for p in ("clswgan", "compare_runs", "device", "checkpoint_dir")}
    every = build_pipelines(PipelineShape(feature_source="xlsa17", finetune=False))
    assert {n.namespace for n in every["compare"].nodes} == set(ALL_METHODS) | {None}
    assert all(name in every for name in ALL_METHODS)  # each method runs alone too
    with pytest.raises(ValueError, match="compare_methods"):
        PipelineShape(compare_methods=("nope",))
    with pytest.raises(ValueError, match="feature_source"):
        PipelineShape.from_params({"feature_source": "videos"})


@pytest.mark.slow
def test_compare_runs_every_method_and_seed_then_reruns_one_branch(run_pipeline, tmp_path, toy_xlsa17):
    params = {"xlsa17_root": str(toy_xlsa17), **TINY, "compare_runs": {"seeds": [0, 1]}}
    run_pipeline("compare", env="cub", params=params)
    table = pd.read_csv(_latest(tmp_path, "data/cub/08_reporting/compare/comparison.csv")[0])
    finals = table[table["protocol"] == "final"]
    assert sorted(finals["method"]) == sorted(ALL_METHODS)
    assert finals.set_index("method")["n_seeds"].to_dict() == {**{m: 2 for m in ALL_METHODS}, "eszsl": 1}
    assert finals["zsl_t1_mean"].between(0, 100).all()
    for method in ALL_METHODS:
        runs = json.loads(_latest(tmp_path, f"data/cub/07_model_output/{method}/runs.json")[0].read_text())
        assert [r["seed"] for r in runs] == ([None] if method == "eszsl" else [0, 1])
        if method != "eszsl":  # every generator's diagnostics and its projection figure
            assert all(r["generator"]["spread_ratio"] > 0 and len(r["generator"]["class_distance"]) == 3 for r in runs)
            figure = _latest(tmp_path, f"data/cub/08_reporting/{method}/generator_projection.png")[0]
            assert figure.stat().st_size > 0
    assert (finals.set_index("method")["spread_ratio_mean"].drop("eszsl") > 0).all()
    markdown = _latest(tmp_path, "data/cub/08_reporting/compare/comparison.md")[0].read_text()
    assert all(f"| {m}" in markdown for m in ALL_METHODS)
    assert _latest(tmp_path, "data/cub/08_reporting/compare/seen_unseen.png")[0].stat().st_size > 0

    run_pipeline("compare", env="cub", params=params, namespaces=["clswgan"])
    assert _latest(tmp_path, "data/cub/07_model_output/clswgan/runs.json")[1] == 2  # the branch reran
    assert _latest(tmp_path, "data/cub/07_model_output/cada_vae/runs.json")[1] == 1  # the others did not


def test_one_method_alone_with_few_shots(run_pipeline, tmp_path, toy_xlsa17):
    params = {"xlsa17_root": str(toy_xlsa17), **TINY, "runs": {"seeds": [4], "n_shots": 2}}
    run_pipeline("zswgan", env="cub", params=params)
    runs = json.loads(_latest(tmp_path, "data/cub/07_model_output/zswgan/runs.json")[0].read_text())
    assert [(r["seed"], r["n_shots"]) for r in runs] == [(4, 2)]
    metrics = json.loads(_latest(tmp_path, "data/cub/08_reporting/zswgan/comparison_metrics.json")[0].read_text())
    assert set(metrics) == {"zswgan.final", "zswgan.best_on_test"}


def test_a_killed_compare_run_resumes_after_its_first_seed_with_the_same_table(
    run_pipeline, tmp_path, toy_xlsa17, monkeypatch
):
    from zsl_pipeline.methods import runner

    methods = ["clswgan", "cada_vae"]
    params = {"xlsa17_root": str(toy_xlsa17), **{m: TINY[m] for m in methods}, "compare_runs": {"seeds": [0, 1]},
              "compare_methods": methods}  # fmt: skip
    run_pipeline("compare", env="cub", params=params)
    uninterrupted = pd.read_csv(_latest(tmp_path, "data/cub/08_reporting/compare/comparison.csv")[0])

    real, trained, killed = runner.prepared_data, [], []

    def prepared(method, ds, n_shots, seed, device):
        trained.append((method.name, seed))
        if (method.name, seed) == ("cada_vae", 1) and not killed:
            killed.append(seed)
            raise Killed("simulated crash in cada_vae's seed 1")
        return real(method, ds, n_shots, seed, device)

    monkeypatch.setattr(runner, "prepared_data", prepared)
    shutil.rmtree(tmp_path / "data/cub/07_model_output")  # a fresh run of the same settings ...
    with pytest.raises(Killed):  # ... killed in its second seed of cada_vae
        run_pipeline("compare", env="cub", params=params)
    checkpoints = tmp_path / "data/cub/06_models/checkpoints"
    assert [p.name.split("_runs_")[0] for p in checkpoints.glob("*_runs_*.pt")] == ["cada_vae"]

    del trained[:]
    run_pipeline("compare", env="cub", params=params)
    # Prepared once per seed to train and once to evaluate, the first seed once more for the
    # generator figure: cada_vae's seed 0 was only evaluated.
    assert sorted(trained) == sorted([*[("cada_vae", 0)] * 2, *[("cada_vae", 1)] * 2, *[("clswgan", 0)] * 3,
                                      *[("clswgan", 1)] * 2])  # fmt: skip
    resumed = pd.read_csv(_latest(tmp_path, "data/cub/08_reporting/compare/comparison.csv")[0])
    numbers = [c for c in uninterrupted.columns if "time" not in c and "memory" not in c]
    pd.testing.assert_frame_equal(resumed[numbers], uninterrupted[numbers], check_exact=True)
    assert not list(checkpoints.glob("*_runs_*.pt"))  # removed once every seed is done
