"""Layered environments (config_loader): the image environments read the benchmark's settings,
then what the image releases share, then their own."""

from __future__ import annotations

from pathlib import Path

import pytest

from zsl_pipeline import settings
from zsl_pipeline.config_loader import ProjectConfigLoader

REPO_ROOT = Path(__file__).resolve().parents[2]
METHOD_BLOCKS = ("tfvaegan", "tfvaegan_selection", "clswgan", "cada_vae", "filmwgan", "zswgan", "compare_methods")


def _loader(env: str, conf: Path = REPO_ROOT / "conf", **runtime) -> ProjectConfigLoader:
    return ProjectConfigLoader(conf_source=str(conf), env=env, runtime_params=runtime, **settings.CONFIG_LOADER_ARGS)


@pytest.mark.parametrize("dataset", ["cub", "sun", "awa2", "flo"])
def test_image_env_has_the_benchmarks_method_settings_and_its_own_data(dataset, tmp_path):
    bench = _loader(dataset)["parameters"]
    images = _loader(f"{dataset}_images", xlsa17_root=str(tmp_path))["parameters"]
    for block in METHOD_BLOCKS:
        assert images.get(block) == bench.get(block), block  # written once, in conf/<dataset>
    assert bench["feature_source"] == "xlsa17" and images["feature_source"] == "images"
    assert images["image_source"] == "release" and images["dataset_name"] == bench["dataset_name"]
    assert images["xlsa17_folder"] == f"{tmp_path}/{bench['dataset_name']}"
    assert images["extraction"]["weights"] == "imagenet" and images["finetune"]["lr"] == 1e-5
    catalog = _loader(f"{dataset}_images")["catalog"]
    assert catalog["zsl_dataset"]["type"] == "zsl_pipeline.io.ZeroShotDatasetIO"  # extracted, not res101.mat
    assert catalog["zsl_dataset"]["filepath"] == f"data/{dataset}_images/04_feature/zsl_dataset.npz"


def test_a_later_layer_replaces_top_level_keys_and_run_env_names_the_run(tmp_path):
    for env, text in {
        "base": "a: {x: 1, y: 2}\nb: 1\nwhere: data/${run_env:}\n",
        "mid": "a: {x: 10}\nc: 3\n",
        "top": "c: 4\n",
    }.items():
        (tmp_path / env).mkdir()
        (tmp_path / env / "parameters.yml").write_text(text)
    loader = ProjectConfigLoader(conf_source=str(tmp_path), env="top", base_env="base", default_run_env="local",
                                 env_layers={"top": ("mid",)}, layer_only=("mid",))  # fmt: skip
    assert loader["parameters"] == {"a": {"x": 10}, "b": 1, "where": "data/top", "c": 4}
    with pytest.raises(ValueError, match=r"conf/mid is not an environment of its own.*\['top'\]"):
        ProjectConfigLoader(conf_source=str(tmp_path), env="mid", base_env="base", default_run_env="local",
                            env_layers={"top": ("mid",)}, layer_only=("mid",))["parameters"]  # fmt: skip


@pytest.mark.parametrize("env", ["cub", "cub_images"])
def test_params_override_one_value_of_a_block_the_environment_does_not_define(env):
    """``--env cub --params mlflow.enabled=false``: Kedro's own base/env merge would leave
    ``mlflow`` as ``{enabled: false}`` (the env's files merged with the overrides replace
    the base block); here the other values of the block stay."""
    base = _loader("local")["parameters"]
    overrides = {"mlflow": {"enabled": False}, "finetune": {"epochs": 1}, "tfvaegan": {"nepoch": 2}}
    params = _loader(env, **overrides)["parameters"]
    plain = _loader(env)["parameters"]
    assert params["mlflow"] == {**base["mlflow"], "enabled": False}
    assert params["finetune"] == {**plain["finetune"], "epochs": 1}
    assert params["tfvaegan"] == {**plain["tfvaegan"], "nepoch": 2}  # a block the environment defines


def test_image_env_pipelines_start_from_the_release(tmp_path):
    """``--env cub_images``: every pipeline (tfvaegan, compare, each method) reads the release,
    fine-tunes, extracts; no demo node anywhere."""
    from zsl_pipeline.pipeline_registry import PipelineShape, build_pipelines

    params = _loader("cub_images", xlsa17_root=str(tmp_path))["parameters"]
    pipelines = build_pipelines(PipelineShape.from_params(params))
    for name in ("tfvaegan", "compare", "clswgan", "eszsl"):
        nodes = {n.name for n in pipelines[name].nodes}
        assert {"read_image_dataset", "finetune_backbone", "extract_features"} <= nodes, name
        assert "render_demo_dataset" not in nodes
    compare = {n.name for n in pipelines["compare"].nodes}
    assert {f"{m}.train" for m in params["compare_methods"] if m != "eszsl"} <= compare
    assert {"train_inversion", "invert_features"} <= {n.name for n in pipelines["tfvaegan"].nodes}
