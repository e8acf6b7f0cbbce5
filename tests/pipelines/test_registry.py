"""Each Kedro context registers the pipelines of its own --env/--params, and parameters are
validated against the nodes' typed parameters before the first node runs."""

from __future__ import annotations

import pytest
import torch
from kedro.framework.project import pipelines
from kedro.framework.session import KedroSession

from zsl_pipeline.pipeline_registry import PipelineShape, build_pipelines


def _node_names(project, env=None, params=None) -> set[str]:
    with KedroSession.create(project_path=project, env=env, runtime_params=params) as session:
        session.load_context()
        return {node.name for node in pipelines["tfvaegan"].nodes}


def test_each_context_registers_the_dag_of_its_own_parameters(project):
    demo = _node_names(project)
    assert {"render_demo_dataset", "finetune_backbone", "extract_features", "train_inversion"} <= demo
    assert "finetune_backbone" not in _node_names(project, params={"finetune": {"enabled": False}})
    benchmark = _node_names(project, env="cub")  # xlsa17 features: no image stage
    assert benchmark == {"train_generative_model", "synthesize_unseen_features", "train_classifiers",
                         "eszsl_baseline", "evaluate"}
    assert _node_names(project) == demo  # nothing to reset between runs


@pytest.mark.parametrize(
    "params, message",
    [
        ({"tfvaegan": {"nepochx": 1}}, r"unknown key\(s\) \['nepochx'\]; valid keys are: .*nepoch"),
        ({"tfvaegan": {"nepoch": 0}}, r"TFVAEGANConfig.nepoch: must be a positive integer"),
        ({"tfvaegan_selection": {"protocol": "test"}}, r"(?s)protocol.*'fixed' or 'validation'"),
        ({"extraction": {"precision": "fp8"}}, r"(?s)extraction.*precision must be one of"),
    ],
)
def test_a_wrong_parameter_fails_before_the_first_node_runs(run_pipeline, project, params, message):
    with pytest.raises(Exception, match=message):
        run_pipeline("tfvaegan", params=params)
    assert not (project / "data" / "local" / "01_raw" / "demo" / "manifest.csv").exists()  # no node ran


def test_a_method_branch_parameter_is_validated_too(run_pipeline, project):
    with pytest.raises(Exception, match=r"unknown key\(s\) \['critic_iters'\]"):
        run_pipeline("compare", params={"clswgan": {"critic_iters": 5}})
    assert not (project / "data" / "local" / "01_raw" / "demo").exists()


def test_every_node_function_has_its_node_name():
    shapes = [PipelineShape(), PipelineShape(finetune=False), PipelineShape(feature_source="xlsa17")]
    for shape in shapes:
        for name, pipeline in build_pipelines(shape).items():
            for node in pipeline.nodes:
                assert node.func.__name__ == node.name.split(".")[-1], (name, node.name, node.func.__name__)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU's refusal")
def test_a_precision_the_device_cannot_do_is_refused_before_the_first_node(run_pipeline, project):
    with pytest.raises(ValueError, match=r"'tfvaegan.precision'.*'bf16' needs a CUDA device"):
        run_pipeline("tfvaegan", params={"tfvaegan": {"precision": "bf16"}})
    assert not (project / "data" / "local" / "01_raw" / "demo").exists()
    with pytest.raises(Exception, match="fp16"):  # not offered for TF-VAEGAN (loss scaling)
        run_pipeline("tfvaegan", params={"tfvaegan": {"precision": "fp16"}})
