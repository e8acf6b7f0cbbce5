"""``noise_device: cpu`` draws every training and evaluation number from CPU generators. On a CPU
run that is the default stream itself, so every method's numbers are identical either way
(the GPU side, where the two differ, is in ``test_gpu.py``)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from tiny_methods import tiny_config, tiny_dataset
from zsl_pipeline.methods import GENERATIVE_METHODS, get_method
from zsl_pipeline.methods.runner import RunSettings, evaluate_runs, train_runs
from zsl_pipeline.methods.tfvaegan.checkpoint import check_resumable
from zsl_pipeline.methods.tfvaegan.loop import train_tfvaegan
from zsl_pipeline.methods.tfvaegan.run import train_stage
from zsl_pipeline.methods.tfvaegan.stages import classify_synthetic, synthesize_unseen_features
from zsl_pipeline.pipelines.params import METHOD_PARAMS
from zsl_pipeline.training.features import prepare_features

CPU = torch.device("cpu")
#: Record fields that are wall-clock or memory measurements.
MEASURED = ("wall_time_s", "peak_memory_mb")


def _run(method: str, noise_device: str):
    ds, settings = tiny_dataset(), RunSettings(seeds=(3,))
    trained = train_runs(
        get_method(method), ds, tiny_config(method, noise_device=noise_device), settings, CPU, show_progress=False
    )
    return trained["runs"]["3"]["checkpoint"], evaluate_runs(get_method(method), ds, trained, settings, CPU)


@pytest.mark.parametrize("method", GENERATIVE_METHODS)
def test_cpu_noise_on_a_cpu_run_changes_no_number(method):
    default_ckpt, default_records = _run(method, "device")
    cpu_ckpt, cpu_records = _run(method, "cpu")
    assert cpu_ckpt["config"]["noise_device"] == "cpu" and default_ckpt["config"]["noise_device"] == "device"
    assert cpu_ckpt["history"] == default_ckpt["history"]
    for name, state in default_ckpt["models"].items():
        for key, tensor in state.items():
            assert torch.equal(cpu_ckpt["models"][name][key], tensor), (name, key)
    strip = [{k: v for k, v in r.items() if k not in MEASURED} for r in (*default_records, *cpu_records)]
    assert strip[0] == strip[1]


def test_cpu_noise_through_the_tfvaegan_stages():
    """The pipeline's stages: the synthesis records a CPU stream and the classifier stage
    continues it, reproducing the training stage's last evaluation, as with the default."""
    ds = tiny_dataset()
    results = {}
    for noise_device in ("device", "cpu"):
        config = tiny_config("tfvaegan", noise_device=noise_device, eval_every=1)
        ckpt, history = train_stage(ds, config, CPU, show_progress=False)
        syn = synthesize_unseen_features(ckpt, ds, CPU)
        assert syn["rng_device"] == "cpu"
        final = vars(classify_synthetic(ckpt, ds, syn, CPU).final)
        assert final["zsl_accuracy"] == history["final_zsl_accuracy"][-1]
        results[noise_device] = history, final
    assert results["cpu"] == results["device"]


@pytest.mark.parametrize("method", GENERATIVE_METHODS)
def test_noise_device_is_a_validated_parameter(method):
    assert METHOD_PARAMS[method].model_validate({"noise_device": "cpu"}).config().noise_device == "cpu"
    with pytest.raises(ValueError, match="noise_device"):
        METHOD_PARAMS[method].model_validate({"noise_device": "gpu"})


def test_resume_checks_the_stream_device_not_the_training_device():
    """A TF-VAEGAN run resumes only with a generator of the device type its stream was on: with
    ``noise_device: cpu`` that is the CPU whatever the training device (only the check runs here:
    ``torch.device("cuda")`` is a name, nothing is allocated)."""
    cuda = torch.device("cuda")
    for noise_device in ("device", "cpu"):
        config = tiny_config("tfvaegan", noise_device=noise_device, nepoch=1)
        state = train_tfvaegan(prepare_features(tiny_dataset(), CPU), config, CPU).checkpoint()
        assert state["rng"]["device_type"] == "cpu"
        config = dataclasses.replace(config, nepoch=2)  # a finished checkpoint is refused: continue to 2
        check_resumable(state, config, CPU)
        if noise_device == "cpu":
            check_resumable(state, config, cuda)  # a CPU stream continues on the GPU
        else:
            with pytest.raises(ValueError, match="random stream is on cpu.*on cuda"):
                check_resumable(state, config, cuda)

