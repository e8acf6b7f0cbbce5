"""Every method's library path on CUDA, checkpoints across devices, and CPU↔GPU agreement.

All gpu-marked (skipped without CUDA). The CPU side of each comparison runs in the same test.
"""

from __future__ import annotations

import dataclasses
import json
import math
import statistics

import pytest
import torch

from device_checks import saved_devices, tensor_devices
from learnable import (
    NUM_SEEN,
    NUM_UNSEEN,
    PARAMS,
    TEST_SEEN_PER_CLASS,
    TEST_UNSEEN_PER_CLASS,
    learnable_dataset,
)
from tiny_methods import tiny_config, tiny_dataset
from toy_data import make_toy_dataset
from zsl_pipeline.methods import GENERATIVE_METHODS, get_method
from zsl_pipeline.methods.cada_vae.loop import initial_state
from zsl_pipeline.methods.eszsl.closed_form import run_eszsl
from zsl_pipeline.methods.runner import RunSettings, evaluate_runs, train_runs
from zsl_pipeline.methods.tfvaegan.checkpoint import check_resumable
from zsl_pipeline.methods.tfvaegan.loop import build_training_state, train_tfvaegan
from zsl_pipeline.methods.tfvaegan.run import train_stage
from zsl_pipeline.methods.tfvaegan.stages import classify_synthetic, synthesize_unseen_features
from zsl_pipeline.training.checkpoint import load_checkpoint, save_checkpoint
from zsl_pipeline.training.features import prepare_features

pytestmark = pytest.mark.gpu

CPU, CUDA = torch.device("cpu"), torch.device("cuda")


@pytest.fixture
def fp32_matmuls():
    """TF32 off for matmuls and cuDNN convolutions (the training loops switch it off for fp32
    themselves; this covers the classifiers and everything outside the loops too)."""
    before = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before


def _check_record(record: dict) -> None:
    """A record of ``evaluate_runs``: plain JSON (no tensor leaked into it), fractions in [0, 1]."""
    json.dumps(record)  # a tensor would raise TypeError
    for protocol in ("final", "best_on_test"):
        assert all(0.0 <= v <= 1.0 for v in record[protocol].values()), record[protocol]
    for task in ("zsr", "gzsr"):
        assert 0.0 <= record["retrieval"][task]["map"] <= 1.0
        assert 0.0 <= record["retrieval"][task]["precision_at_k"] <= 1.0
    assert record["peak_memory_mb"] > 0


# ---- each method's library path ---------------------------------------------------------------


@pytest.mark.parametrize("method", GENERATIVE_METHODS)
@pytest.mark.parametrize("n_shots", [0, 2])
def test_library_path_on_cuda(method, n_shots, tmp_path):
    """Train, classifier sets, both protocols and retrieval on CUDA (zero- and few-shot). The
    trained runs hold CPU tensors only, as saved; a CUDA-trained model evaluates on the CPU (a
    machine without a GPU) and a CPU-trained one on CUDA."""
    ds, settings, m = tiny_dataset(), RunSettings(seeds=(0,), n_shots=n_shots), get_method(method)
    trained = train_runs(m, ds, tiny_config(method), settings, CUDA, show_progress=False)
    checkpoint = trained["runs"]["0"]["checkpoint"]
    assert tensor_devices(trained) == {"cpu"}
    torch.save(trained, tmp_path / "trained.pt")
    assert saved_devices(tmp_path / "trained.pt") == {"cpu"}
    assert all(math.isfinite(v) for row in checkpoint["history"] for v in row.values())
    loaded = torch.load(tmp_path / "trained.pt", weights_only=True)
    for device in (CUDA, CPU):
        (record,) = evaluate_runs(m, ds, loaded, settings, device)
        _check_record(record)
        assert record["n_shots"] == n_shots
    cpu_trained = train_runs(m, ds, tiny_config(method), settings, CPU, show_progress=False)
    (record,) = evaluate_runs(m, ds, cpu_trained, settings, CUDA)
    _check_record(record)


def test_initial_weights_are_the_same_on_cpu_and_cuda():
    """TF-VAEGAN and CADA-VAE (and the WGANs, built the same way inside ``train``) draw their
    init from the CPU init stream and move it: the same weights on either device. The training
    stream lives on the device, or on the CPU with ``noise_device: cpu``."""
    config = tiny_config("tfvaegan")
    cpu_models, _, cpu_rng = build_training_state(config, feature_dim=16, attr_dim=5, device=CPU)
    cuda_models, _, cuda_rng = build_training_state(config, feature_dim=16, attr_dim=5, device=CUDA)
    assert (cpu_rng.device.type, cuda_rng.device.type) == ("cpu", "cuda")
    cuda_state = cuda_models.state_dict()
    assert all(torch.equal(cuda_state[k].cpu(), v) for k, v in cpu_models.state_dict().items())

    config = tiny_config("cada_vae")
    cpu_nets, cpu_rng = initial_state(config, feature_dim=16, attr_dim=5, device=CPU)
    cuda_nets, cuda_rng = initial_state(config, feature_dim=16, attr_dim=5, device=CUDA)
    assert cuda_rng.device.type == "cuda"
    cuda_state = cuda_nets.state_dict()
    assert all(v.device.type == "cuda" for v in cuda_state.values())
    assert all(torch.equal(cuda_state[k].cpu(), v) for k, v in cpu_nets.state_dict().items())
    cpu_noise = dataclasses.replace(config, noise_device="cpu")
    _, cpu_noise_rng = initial_state(cpu_noise, feature_dim=16, attr_dim=5, device=CUDA)
    assert cpu_noise_rng.device.type == "cpu" and torch.equal(cpu_noise_rng.get_state(), cpu_rng.get_state())


def test_eszsl_on_cuda_matches_the_cpu():
    """The closed form in float64: the same (γ, λ) and the same accuracies on either device."""
    ds = make_toy_dataset()  # has train/val splits: (γ, λ) are selected
    cpu, gpu = run_eszsl(ds, CPU), run_eszsl(ds, CUDA)
    assert (gpu.gamma, gpu.lam, gpu.selected_on) == (cpu.gamma, cpu.lam, cpu.selected_on)
    for name in ("val_accuracy", "zsl_accuracy", "acc_seen", "acc_unseen", "harmonic_mean"):
        assert getattr(gpu, name) == pytest.approx(getattr(cpu, name), abs=1e-9), name
    assert json.dumps(dataclasses.asdict(gpu))  # plain numbers (the node's output is JSON)


# ---- TF-VAEGAN's stages and checkpoints across devices ----------------------------------------


def test_tfvaegan_stages_on_cuda_with_cpu_noise():
    """With ``noise_device: cpu`` the synthesis records a CPU stream; the classifier stage on CUDA
    continues it and reproduces the training stage's last evaluation; a CPU stream also continues
    on the CPU (a CUDA-trained generator classified on a machine without a GPU). A CUDA stream is
    refused on the CPU."""
    ds = tiny_dataset()
    config = tiny_config("tfvaegan", noise_device="cpu", eval_every=1)
    ckpt, history = train_stage(ds, config, CUDA, show_progress=False)
    assert tensor_devices(ckpt) == {"cpu"}
    syn = synthesize_unseen_features(ckpt, ds, CUDA)
    assert syn["rng_device"] == "cpu" and tensor_devices(syn) == {"cpu"}
    final = classify_synthetic(ckpt, ds, syn, CUDA).final
    assert final.zsl_accuracy == history["final_zsl_accuracy"][-1]
    assert final.harmonic_mean == history["final_harmonic_mean"][-1]
    on_cpu = classify_synthetic(ckpt, ds, syn, CPU).final
    assert 0.0 <= on_cpu.zsl_accuracy <= 1.0 and 0.0 <= on_cpu.harmonic_mean <= 1.0

    device_noise = dict(ckpt, config={**ckpt["config"], "noise_device": "device"})
    default_syn = synthesize_unseen_features(device_noise, ds, CUDA)
    assert default_syn["rng_device"] == "cuda"
    with pytest.raises(ValueError, match="made on cuda.*device=cuda"):
        classify_synthetic(ckpt, ds, default_syn, CPU)


def test_tfvaegan_resume_checkpoint_written_on_cuda(tmp_path):
    """A resume checkpoint written on CUDA holds CPU tensors and resumes on CUDA; with device noise
    it cannot resume on the CPU (another stream), with CPU noise it can."""
    ds = tiny_dataset()
    for noise_device in ("device", "cpu"):
        config = tiny_config("tfvaegan", nepoch=2, checkpoint_every=1, noise_device=noise_device)
        saved = []
        full = train_tfvaegan(prepare_features(ds, CUDA), config, CUDA, on_checkpoint=saved.append)
        save_checkpoint(saved[0], tmp_path / "resume.pt")  # after epoch 1
        assert saved_devices(tmp_path / "resume.pt") == {"cpu"}
        state = load_checkpoint(tmp_path / "resume.pt")
        resumed = train_tfvaegan(prepare_features(ds, CUDA), config, CUDA, resume_from=state)
        assert resumed.epochs_completed == 2 and resumed.history[0] == full.history[0]
        resumed_models = resumed.checkpoint()["models"]
        for name, net_state in full.checkpoint()["models"].items():
            for key, tensor in net_state.items():
                torch.testing.assert_close(resumed_models[name][key], tensor, rtol=1e-4, atol=1e-6)
        if noise_device == "device":
            with pytest.raises(ValueError, match="random stream is on cuda"):
                check_resumable(state, config, CPU)
        else:
            check_resumable(state, config, CPU)
            on_cpu = train_tfvaegan(prepare_features(ds, CPU), config, CPU, resume_from=state)
            assert on_cpu.epochs_completed == 2 and all(math.isfinite(v) for v in on_cpu.history[-1].values())


# ---- CPU↔GPU agreement -------------------------------------------------------------------------

#: Test predictions that rounding may flip in the agreement test (see its docstring).
FLIPS = 2
#: Short schedules of the learnable settings for the agreement test (few steps: rounding
#: differences stay small); everything else as in learnable.PARAMS.
AGREEMENT_EPOCHS = {"tfvaegan": 3, "clswgan": 5, "zswgan": 5, "filmwgan": 5, "cada_vae": 6}


def _harmonic(s: float, u: float) -> float:
    return 2 * s * u / (s + u) if s + u > 0 else 0.0


def _run(method: str, config, device: torch.device, seeds: tuple[int, ...]):
    ds, settings, m = learnable_dataset(), RunSettings(seeds=seeds), get_method(method)
    trained = train_runs(m, ds, config, settings, device, show_progress=False)
    return trained, evaluate_runs(m, ds, trained, settings, device)


@pytest.mark.parametrize("method", GENERATIVE_METHODS)
def test_cpu_and_gpu_agree_with_cpu_noise(method, fp32_matmuls):
    """Same seed, fp32 with TF32 off, ``noise_device: cpu``: the CPU run and the GPU run draw the
    same initial weights, batches, noise, α, synthetic-feature noise and classifier batches (all
    from CPU generators), so they differ only by floating-point rounding (cuBLAS / cuDNN against
    the CPU's BLAS: other summation orders, ~1e-7 relative per operation). Criteria:

    1. The first epoch's mean training losses agree to 1e-3 relative (1e-4 absolute for terms
       near zero). Rounding alone stays orders of magnitude below that over the few dozen steps of
       an epoch, while another draw of batches or noise moves epoch means by percents (a run with
       device noise fails this).
    2. The last-epoch classifier metrics agree to within FLIPS = 2 test predictions. Rounding can
       move a test sample across a decision boundary only where its two best logits are within
       ~1e-5 of each other, and each such flip changes a per-class mean accuracy by at most
       1/(n_c · C): 1/80 for ZSL T1 and GZSL u (10 test images per unseen class, 8 classes), 1/64
       for s (2 per seen class, 32 classes). H, which grows with s and with u, must lie between
       its values at (s, u) ∓ those bounds.
    3. Retrieval agrees to within FLIPS swaps of adjacent ranks: swapping a relevant and an
       irrelevant item moves a class's AP by at most 1/(2R), R = 10 relevant images, so mAP by at
       most 1/(2 · 10 · 8); P@5 by at most 1/(5 · 8).
    ``best_on_test`` is not compared: a flip can change which epoch it selects.
    """
    config = get_method(method).config_from_params(
        {**PARAMS[method], "nepoch": AGREEMENT_EPOCHS[method], "noise_device": "cpu", "precision": "fp32"}
    )
    (cpu_trained, (cpu,)), (gpu_trained, (gpu,)) = (_run(method, config, d, (0,)) for d in (CPU, CUDA))

    first_cpu = cpu_trained["runs"]["0"]["checkpoint"]["history"][0]
    first_gpu = gpu_trained["runs"]["0"]["checkpoint"]["history"][0]
    assert first_gpu.keys() == first_cpu.keys()
    for key, value in first_cpu.items():
        assert first_gpu[key] == pytest.approx(value, rel=1e-3, abs=1e-4), (key, first_gpu, first_cpu)

    tol_unseen = FLIPS / (TEST_UNSEEN_PER_CLASS * NUM_UNSEEN)
    tol_seen = FLIPS / (TEST_SEEN_PER_CLASS * NUM_SEEN)
    c, g = cpu["final"], gpu["final"]
    summary = f"{method}: CPU {c}, GPU {g}"
    assert abs(g["zsl_t1"] - c["zsl_t1"]) <= tol_unseen + 1e-12, summary
    assert abs(g["gzsl_u"] - c["gzsl_u"]) <= tol_unseen + 1e-12, summary
    assert abs(g["gzsl_s"] - c["gzsl_s"]) <= tol_seen + 1e-12, summary
    low = _harmonic(max(c["gzsl_s"] - tol_seen, 0.0), max(c["gzsl_u"] - tol_unseen, 0.0))
    high = _harmonic(min(c["gzsl_s"] + tol_seen, 1.0), min(c["gzsl_u"] + tol_unseen, 1.0))
    assert low - 1e-12 <= g["gzsl_h"] <= high + 1e-12, summary

    tol_map = FLIPS / (2 * TEST_UNSEEN_PER_CLASS * NUM_UNSEEN)
    for task in ("zsr", "gzsr"):
        cr, gr = cpu["retrieval"][task], gpu["retrieval"][task]
        assert abs(gr["map"] - cr["map"]) <= tol_map + 1e-12, (task, cr, gr)
        assert abs(gr["precision_at_k"] - cr["precision_at_k"]) <= FLIPS / (gr["k"] * NUM_UNSEEN) + 1e-12, (
            task, cr, gr,
        )


#: Seeds of the statistical comparison (one run per seed and device).
STAT_SEEDS = (0, 1, 2)
#: The final ZSL T1 every method reaches on the learnable data (as test_learns.py: 4x chance).
MIN_ZSL = 0.5
#: Largest allowed difference between the CPU's and the GPU's mean final ZSL T1 over STAT_SEEDS:
#: the widest min-max range over 12 seeds measured on CPU in test_learns.py (CADA-VAE, 0.700 - 1.000).
MAX_MEAN_GAP = 0.3


@pytest.mark.slow
@pytest.mark.parametrize("method", GENERATIVE_METHODS)
def test_cpu_and_gpu_agree_statistically_with_device_noise(method, fp32_matmuls):
    """With the default ``noise_device: device`` a GPU run draws other numbers than a CPU run of the
    same seed (another generator), so single runs differ; over seeds they must come from the same
    distribution. Criterion, on the final ZSL T1 of the learnable settings (test_learns.py) over
    seeds 0, 1, 2 on each device: both means reach MIN_ZSL (a GPU path that broke the method, e.g.
    ignored the condition, lands near chance, 1/8), and the two means differ by at most
    MAX_MEAN_GAP, the widest min-max range of single runs over 12 seeds measured on CPU
    (test_learns.py's table): two means of three draws from one distribution are very unlikely to
    lie farther apart than the range of twelve. The first epoch's losses must differ (the devices
    really drew different numbers).
    """
    config = get_method(method).config_from_params({**PARAMS[method], "precision": "fp32"})
    assert config.noise_device == "device"
    (cpu_trained, cpu), (gpu_trained, gpu) = (_run(method, config, d, STAT_SEEDS) for d in (CPU, CUDA))
    first_epochs = [t["runs"]["0"]["checkpoint"]["history"][0] for t in (cpu_trained, gpu_trained)]
    assert first_epochs[0] != first_epochs[1]
    means = {"cpu": statistics.mean(r["final"]["zsl_t1"] for r in cpu)}
    means["gpu"] = statistics.mean(r["final"]["zsl_t1"] for r in gpu)
    summary = f"{method}: mean final ZSL T1 over seeds {STAT_SEEDS}: {means}"
    assert min(means.values()) >= MIN_ZSL, summary
    assert abs(means["gpu"] - means["cpu"]) <= MAX_MEAN_GAP, summary
