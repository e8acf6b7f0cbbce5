"""The training kit every loop shares: statistics, streams, the checkpoint envelope, devices."""

import math

import pytest
import torch

from zsl_pipeline.models.classifier import LinearLogSoftmax
from zsl_pipeline.training.checkpoint import (
    check_format,
    envelope,
    load_checkpoint,
    models_digest,
    save_checkpoint,
)
from zsl_pipeline.training.device import precision_autocast, resolve_device, same_device
from zsl_pipeline.training.stats import EpochStats, history_columns
from zsl_pipeline.training.streams import (
    EVAL_SEED_OFFSET,
    eval_stream,
    init_stream,
    rand,
    randn,
    randperm,
    stream_device,
    training_stream,
)

CPU = torch.device("cpu")


def test_epoch_stats_divides_each_group_by_its_own_count_and_resets():
    stats = EpochStats(CPU, critic=("d", "w"), generator=("g",))
    for v in ([1.0, 2.0], [3.0, 6.0], [2.0, 1.0]):
        stats.add("critic", torch.tensor(v))
    stats.add("generator", torch.tensor([5.0]))
    assert stats.close(0, "toy") == {"epoch": 0, "d": 2.0, "w": 3.0, "g": 5.0}
    stats.add("critic", torch.tensor([4.0, 4.0]))
    stats.add("generator", torch.tensor([1.0]))
    assert stats.close(1, "toy") == {"epoch": 1, "d": 4.0, "w": 4.0, "g": 1.0}


def test_epoch_stats_raises_on_a_non_finite_mean():
    stats = EpochStats(CPU, losses=("loss",))
    stats.add("losses", torch.tensor([math.inf]))
    with pytest.raises(FloatingPointError, match="toy diverged in epoch 3"):
        stats.close(3, "toy")


def test_history_columns_fill_missing_values_with_none():
    rows = [{"epoch": 0, "loss": 1.0}, {"epoch": 1, "loss": 0.5, "zsl": 0.3}]
    assert history_columns(rows) == {"epoch": [0, 1], "loss": [1.0, 0.5], "zsl": [None, 0.3]}


def test_streams_are_seeded_and_independent():
    a, b = init_stream(5), init_stream(5)
    assert torch.equal(torch.rand(3, generator=a), torch.rand(3, generator=b))
    ta, tb = training_stream(a, CPU), training_stream(b, CPU)
    assert ta.initial_seed() == tb.initial_seed() != 5
    assert eval_stream(5, CPU, epoch=2).initial_seed() == 5 + EVAL_SEED_OFFSET + 2


def test_noise_device_puts_the_streams_on_the_cpu_whatever_the_training_device():
    assert stream_device("cpu") == stream_device("cpu", "cpu") == CPU
    assert stream_device("meta", "cpu") == CPU and stream_device("meta") == torch.device("meta")
    assert training_stream(init_stream(5), "meta", "cpu").device == CPU
    assert eval_stream(5, "meta", epoch=1, noise_device="cpu").device == CPU
    with pytest.raises(ValueError, match="noise_device must be one of"):
        stream_device(CPU, "gpu")


def test_draws_are_made_on_the_generators_device_and_moved():
    """The helpers draw what torch draws on the generator's device (so the default, generator on
    the training device, is unchanged), then move the draw to the device asked for; a CPU
    generator serves any device (``meta`` stands in for a GPU here)."""
    def gen():
        return torch.Generator().manual_seed(3)

    assert torch.equal(randn((4, 2), gen(), CPU), torch.randn((4, 2), generator=gen()))
    assert torch.equal(rand((4, 1), gen(), CPU), torch.rand((4, 1), generator=gen()))
    assert torch.equal(randperm(7, gen(), CPU), torch.randperm(7, generator=gen()))
    assert randn((4, 2), gen(), CPU, dtype=torch.float64).dtype == torch.float64
    on_meta = randn((4, 2), gen(), "meta")
    assert on_meta.device.type == "meta" and on_meta.shape == (4, 2)
    assert randperm(7, gen(), "meta").device.type == "meta"
    # a classifier initialised from a CPU generator, then moved: same weights as one built on the CPU
    moved = LinearLogSoftmax(5, 3, generator=gen(), device="meta")
    assert moved.fc.weight.device.type == "meta"
    on_cpu = LinearLogSoftmax(5, 3, generator=gen(), device=CPU)
    assert torch.equal(on_cpu.fc.weight, LinearLogSoftmax(5, 3, generator=gen()).fc.weight)


def test_envelope_holds_cpu_copies_and_round_trips(tmp_path):
    net = torch.nn.Linear(3, 2)
    ckpt = envelope(method="toy", version=2, config={"lr": 0.1}, models={"net": net}, history=[{"epoch": 0}],
                    feature_dim=3, attr_dim=1, rng={"state": torch.ones(2)})
    assert ckpt["format"] == "zsl_pipeline.toy/2" and ckpt["method"] == "toy"
    with torch.no_grad():
        net.weight.add_(1.0)  # training on does not change a checkpoint taken before
    assert not torch.equal(ckpt["models"]["net"]["weight"], net.weight)
    save_checkpoint(ckpt, tmp_path / "c.pt")
    loaded = load_checkpoint(tmp_path / "c.pt")
    assert torch.equal(loaded["models"]["net"]["bias"], net.bias.detach()) and loaded["rng"]["state"].sum() == 2
    check_format(loaded, "toy", 2)
    with pytest.raises(ValueError, match="zsl_pipeline.other/1"):
        check_format(loaded, "other", 1)


def test_devices_and_autocast_on_the_cpu():
    assert resolve_device("cpu") == CPU and same_device("cpu", CPU)
    if not torch.cuda.is_available():
        assert resolve_device("auto") == CPU
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")
    with precision_autocast(CPU, "bf16"):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32  # the CPU path stays fp32


def test_models_digest_names_the_weights():
    net = torch.nn.Linear(3, 2)
    checkpoint = {"models": {"G": net.state_dict()}}
    same = {"models": {"G": {k: v.clone() for k, v in net.state_dict().items()}}}
    assert models_digest(checkpoint) == models_digest(same) and len(models_digest(checkpoint)) == 16
    with torch.no_grad():
        net.bias.add_(1.0)
    assert models_digest({"models": {"G": net.state_dict()}}) != models_digest(same)
    half = {"models": {"G": {k: v.to(torch.bfloat16) for k, v in same["models"]["G"].items()}}}
    assert models_digest(half) != models_digest(same)  # the dtype counts; bf16 hashes too


# ---- optimiser and allocator ------------------------------------------------------------------
def _adam_trajectory(make_optimizer, steps=5):
    g = torch.Generator().manual_seed(0)
    params = [torch.nn.Parameter(torch.randn(7, 5, generator=g)), torch.nn.Parameter(torch.randn(5, generator=g))]
    opt = make_optimizer(params)
    for _ in range(steps):
        for p in params:
            p.grad = torch.randn(p.shape, generator=g)
        opt.step()
    return [p.detach() for p in params], opt


def test_fused_adam_is_the_same_adam_as_the_reference_one():
    from zsl_pipeline.training.optim import fused_adam

    options = {"lr": 1e-2, "betas": (0.5, 0.999)}
    start, _ = _adam_trajectory(lambda params: torch.optim.Adam(params, **options), steps=0)
    reference, _ = _adam_trajectory(lambda params: torch.optim.Adam(params, **options))
    fused, opt = _adam_trajectory(lambda params: fused_adam(params, **options))
    assert min((ref - first).abs().max().item() for ref, first in zip(reference, start)) > 1e-2  # they moved
    assert opt.param_groups[0]["fused"]  # this torch has a fused CPU kernel
    for ref, new in zip(reference, fused):
        torch.testing.assert_close(new, ref, rtol=1e-6, atol=1e-7)


def test_fused_adam_falls_back_where_this_torch_has_no_fused_kernel(monkeypatch):
    from zsl_pipeline.training import optim

    real_adam = torch.optim.Adam

    def old_torch_adam(params, fused=None, **options):
        if fused:
            raise RuntimeError("`fused=True` requires all the params to be floating point Tensors of supported devices")
        return real_adam(params, **options)

    monkeypatch.setattr(torch.optim, "Adam", old_torch_adam)
    opt = optim.adam([torch.nn.Parameter(torch.zeros(3))], lr=1e-3, beta1=0.5)
    assert not opt.param_groups[0]["fused"]
    assert opt.param_groups[0]["betas"] == (0.5, optim.ADAM_BETA2)


def test_keep_freed_cpu_memory_only_touches_cpu_runs():
    import platform

    from zsl_pipeline.training.allocator import keep_freed_cpu_memory

    assert keep_freed_cpu_memory("cuda") is False  # a GPU run keeps the C library's defaults
    if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
        assert keep_freed_cpu_memory(CPU) is True
        assert keep_freed_cpu_memory(CPU) is True  # idempotent
