"""TF-VAEGAN training: config, preprocessing, optimisers, λ rule, loop switches, determinism, resume."""

import dataclasses
import math

import numpy as np
import pytest
import torch

from zsl_pipeline import losses
from zsl_pipeline.methods.tfvaegan.config import TFVAEGANConfig
from zsl_pipeline.methods.tfvaegan.loop import build_training_state, train_tfvaegan
from zsl_pipeline.methods.tfvaegan.steps import (
    build_optimizers,
    generator_step,
    sample_batch,
    update_gp_weight,
)
from zsl_pipeline.training.checkpoint import load_checkpoint, save_checkpoint
from zsl_pipeline.training.features import prepare_features


def _params(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ---- config -----------------------------------------------------------------------------------
def test_config_defaults_are_the_cub_column():
    c = TFVAEGANConfig()
    assert (c.nepoch, c.batch_size, c.critic_iter, c.lambda1, c.seed) == (300, 64, 5, 10.0, 3483)
    assert (c.lr, c.feed_lr, c.dec_lr, c.classifier_lr) == (1e-4, 1e-5, 1e-4, 1e-3)
    assert (c.a1, c.a2, c.recons_weight, c.gamma_d, c.gamma_g) == (1.0, 1.0, 0.01, 10.0, 10.0)
    assert c.encoded_noise and not c.freeze_dec and c.adaptive_lambda and c.use_feedback and c.use_decoder
    assert (c.syn_num, c.ngh, c.ndh, c.encoder_hidden, c.classifier_epochs) == (300, 4096, 4096, 4096, 25)
    assert c.effective_classifier_batch_size == 300 and c.classifier_input == "x_dec_h"
    assert c.generator_iterations(7057) == 111  # 2 x 111 = 222 per epoch (§2.9)
    assert c.precision == "fp32"  # the reference's; tf32 / bf16 are opt-in on CUDA


def test_precision_is_checked_against_the_method_and_the_device(tiny_data, tiny_config, cpu):
    with pytest.raises(ValueError, match="precision"):
        TFVAEGANConfig(precision="fp16")  # would need loss scaling through the gradient penalty
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="'bf16' needs a CUDA device"):
            train_tfvaegan(tiny_data, dataclasses.replace(tiny_config, precision="bf16"), cpu)


def test_config_round_trips_through_its_dict():
    assert TFVAEGANConfig(**TFVAEGANConfig(nepoch=7).to_dict()) == TFVAEGANConfig(nepoch=7)
    with pytest.raises(TypeError, match="lamda1"):
        TFVAEGANConfig(**{"lamda1": 10})


def test_config_validation():
    with pytest.raises(ValueError, match="use_decoder"):
        TFVAEGANConfig(use_decoder=False)  # feedback still on
    c = TFVAEGANConfig(use_decoder=False, use_feedback=False)
    assert c.effective_classifier_input == "x"
    with pytest.raises(ValueError, match="classifier_input"):
        TFVAEGANConfig(classifier_input="x_dec")
    with pytest.raises(ValueError, match="latent size = embedding size"):
        TFVAEGANConfig(latent_size=10).resolve_latent_size(312)
    assert TFVAEGANConfig(latent_size=312).resolve_latent_size(312) == 312


# ---- preprocessing ----------------------------------------------------------------------------
def test_prepare_features_minmax_on_trainval_only(tiny_dataset, cpu):
    data = prepare_features(tiny_dataset, cpu)
    train = tiny_dataset.split_features("trainval").astype(np.float64)
    lo, hi = train.min(0), train.max(0)
    assert torch.allclose(data.train_x.min(0).values, torch.zeros(data.feature_dim), atol=1e-6)
    assert torch.allclose(data.train_x.max(0).values, torch.ones(data.feature_dim), atol=1e-6)
    expected = (tiny_dataset.split_features("test_unseen") - lo) / (hi - lo)
    assert np.allclose(data.test_unseen_x.numpy(), expected, atol=1e-5)
    assert torch.allclose(data.class_embeddings.norm(dim=1), torch.ones(data.num_classes))
    assert data.seen_classes.tolist() == [0, 1, 2, 3] and data.unseen_classes.tolist() == [4, 5]
    assert torch.allclose(data.transform(tiny_dataset.split_features("test_seen")), data.test_seen_x)


# ---- optimisers and λ -------------------------------------------------------------------------
def test_optimizer_betas_and_learning_rates(tiny_config, cpu):
    cfg = dataclasses.replace(tiny_config, lr=1e-4, feed_lr=1e-5, dec_lr=2e-4)
    models, opts, _ = build_training_state(cfg, feature_dim=16, attr_dim=5, device=cpu)
    groups = {name: opt.param_groups[0] for name, opt in opts.as_dict().items()}
    assert groups["encoder"]["betas"] == (0.9, 0.999)
    for name in ("generator", "critic", "decoder", "feedback"):
        assert groups[name]["betas"] == (0.5, 0.999), name
    lrs = {name: g["lr"] for name, g in groups.items()}
    assert lrs == {"encoder": 1e-4, "generator": 1e-4, "critic": 1e-4, "decoder": 2e-4, "feedback": 1e-5}
    assert all(g["weight_decay"] == 0 for g in groups.values())


@pytest.mark.parametrize(
    "penalty, factor",
    [(2.0, 1.1), (1.06, 1.1), (1.05, 1.0), (1.02, 1.0), (1.001, 1.0), (1.0, 1 / 1.1), (0.0, 1 / 1.1)],
)
def test_update_gp_weight_rule(penalty, factor):
    lam = torch.tensor(10.0, dtype=torch.float64)
    assert update_gp_weight(lam, torch.tensor(penalty)).item() == pytest.approx(10.0 * factor)


@pytest.mark.parametrize("penalty, adaptive", [(2.0, True), (0.5, True), (2.0, False)])
def test_lambda_follows_a_mocked_penalty(monkeypatch, tiny_data, tiny_config, cpu, penalty, adaptive):
    monkeypatch.setattr(losses, "penalty_from_gradients", lambda grads: torch.tensor(penalty))
    cfg = dataclasses.replace(tiny_config, adaptive_lambda=adaptive)
    result = train_tfvaegan(tiny_data, cfg, cpu)
    updates = cfg.feedback_loop * cfg.generator_iterations(tiny_data.ntrain)  # one per generator iteration
    expected = 10.0 * (1.1**updates if penalty > 1.05 else 1.1**-updates) if adaptive else 10.0
    assert result.gp_weight == pytest.approx(expected, rel=1e-12)
    assert result.history[0]["gp"] == pytest.approx(penalty)


# ---- the loop ---------------------------------------------------------------------------------
def test_one_epoch_shapes_and_history(tiny_data, tiny_config, cpu):
    result = train_tfvaegan(tiny_data, tiny_config, cpu)
    assert len(result.history) == 1 and result.epochs_completed == 1
    entry = result.history[0]
    for key in ("d_loss", "g_loss", "vae_loss", "cycle_real", "cycle_fake", "wasserstein", "gp", "gp_weight"):
        assert math.isfinite(entry[key]), key
    x = torch.rand(3, 16)
    a = tiny_data.class_embeddings[:3]
    mu, logvar = result.models.encoder(x, a)
    assert mu.shape == logvar.shape == (3, 5)
    assert result.models.generator(mu, a).shape == (3, 16)


def test_same_seed_is_bit_identical_and_other_seed_differs(tiny_data, tiny_config, cpu):
    a = train_tfvaegan(tiny_data, tiny_config, cpu)
    b = train_tfvaegan(tiny_data, tiny_config, cpu)
    c = train_tfvaegan(tiny_data, dataclasses.replace(tiny_config, seed=8), cpu)
    assert _same(a.models.state_dict(), b.models.state_dict())
    assert a.history == b.history
    assert not _same(a.models.state_dict(), c.models.state_dict())


class _Killed(Exception):
    pass


def test_resume_after_a_kill_gives_identical_weights(tiny_data, tiny_config, cpu, tmp_path):
    cfg = dataclasses.replace(tiny_config, nepoch=3, checkpoint_every=1)
    full = train_tfvaegan(tiny_data, cfg, cpu)
    path = tmp_path / "ckpt.pt"

    def save_then_die(state):
        save_checkpoint(state, path)
        if state["epochs_completed"] == 1:
            raise _Killed

    with pytest.raises(_Killed):
        train_tfvaegan(tiny_data, cfg, cpu, on_checkpoint=save_then_die)
    state = load_checkpoint(path)  # weights_only=True
    assert state["epochs_completed"] == 1 and state["config"] == cfg.to_dict()
    resumed = train_tfvaegan(tiny_data, cfg, cpu, resume_from=state)
    assert _same(full.models.state_dict(), resumed.models.state_dict())
    for name, opt in full.optimizers.as_dict().items():
        other = resumed.optimizers.as_dict()[name].state_dict()["state"]
        for pid, st in opt.state_dict()["state"].items():
            assert all(torch.equal(st[k], other[pid][k]) for k in st), name
    assert full.gp_weight == resumed.gp_weight and full.history == resumed.history
    assert torch.equal(full.rng.get_state(), resumed.rng.get_state())


def test_resume_refuses_a_different_training_config(tiny_data, tiny_config, cpu):
    state = train_tfvaegan(tiny_data, tiny_config, cpu).checkpoint()
    with pytest.raises(ValueError, match="lr"):
        train_tfvaegan(tiny_data, dataclasses.replace(tiny_config, nepoch=2, lr=1e-3), cpu, resume_from=state)


def test_feedback_off_never_changes_f(tiny_data, tiny_config, cpu):
    models0, _, _ = build_training_state(tiny_config, feature_dim=16, attr_dim=5, device=cpu)
    off = train_tfvaegan(tiny_data, dataclasses.replace(tiny_config, use_feedback=False), cpu)
    on = train_tfvaegan(tiny_data, tiny_config, cpu)
    assert _same(_params(models0.feedback), _params(off.models.feedback))
    assert not _same(_params(models0.feedback), _params(on.models.feedback))


def test_decoder_off_never_changes_dec_or_f(tiny_data, tiny_config, cpu):
    cfg = dataclasses.replace(tiny_config, use_decoder=False, use_feedback=False)
    models0, _, _ = build_training_state(cfg, feature_dim=16, attr_dim=5, device=cpu)
    result = train_tfvaegan(tiny_data, cfg, cpu)
    assert _same(_params(models0.decoder), _params(result.models.decoder))
    assert _same(_params(models0.feedback), _params(result.models.feedback))
    assert result.history[0]["cycle_real"] == 0.0 and result.history[0]["cycle_fake"] == 0.0


@pytest.mark.parametrize("freeze", [True, False])
def test_generator_phase_respects_freeze_dec_and_never_steps_d(tiny_data, tiny_config, cpu, freeze):
    cfg = dataclasses.replace(tiny_config, freeze_dec=freeze)
    models, opts, rng = build_training_state(cfg, feature_dim=16, attr_dim=5, device=cpu)
    before = {name: _params(net) for name, net in models.networks().items()}
    x, a = sample_batch(tiny_data, cfg.batch_size, rng)
    generator_step(models, opts, x, a, config=cfg, feedback_on=True, rng=rng, precision="fp32")
    after = {name: _params(net) for name, net in models.networks().items()}
    assert _same(before["critic"], after["critic"])
    assert _same(before["decoder"], after["decoder"]) is freeze
    for name in ("encoder", "generator", "feedback"):
        assert not _same(before[name], after[name]), name
    assert all(p.requires_grad for p in models.parameters())  # freezing is undone


def test_generator_phase_pass0_leaves_f_alone(tiny_data, tiny_config, cpu):
    models, opts, rng = build_training_state(tiny_config, feature_dim=16, attr_dim=5, device=cpu)
    before = _params(models.feedback)
    x, a = sample_batch(tiny_data, tiny_config.batch_size, rng)
    generator_step(models, opts, x, a, config=tiny_config, feedback_on=False, rng=rng, precision="fp32")
    assert _same(before, _params(models.feedback))


def test_prior_noise_branch_runs(tiny_data, tiny_config, cpu):
    cfg = dataclasses.replace(tiny_config, encoded_noise=False, a1=0.5, a2=0.5)  # the FLO settings' shape
    result = train_tfvaegan(tiny_data, cfg, cpu)
    assert math.isfinite(result.history[0]["g_loss"])


def test_callback_metrics_join_history_and_checkpoint_is_plain(tiny_data, tiny_config, cpu, tmp_path):
    seen = []

    def on_epoch(epoch, stats, models):
        seen.append((epoch, stats["d_loss"]))
        return {"my_metric": 0.5}

    cfg = dataclasses.replace(tiny_config, nepoch=2, eval_every=2)
    result = train_tfvaegan(tiny_data, cfg, cpu, callback=on_epoch)
    assert [e for e, _ in seen] == [1]
    assert "my_metric" not in result.history[0] and result.history[1]["my_metric"] == 0.5
    save_checkpoint(result.checkpoint(), tmp_path / "c.pt")
    state = torch.load(tmp_path / "c.pt", weights_only=True)
    assert set(state) >= {"config", "epochs_completed", "models", "optimizers", "gp_weight", "rng", "history"}
    assert set(state["models"]) == {"encoder", "generator", "critic", "decoder", "feedback"}


def test_build_optimizers_is_fresh(tiny_config, cpu):
    models, _, _ = build_training_state(tiny_config, feature_dim=16, attr_dim=5, device=cpu)
    opts = build_optimizers(models, tiny_config)
    assert all(len(o.state) == 0 for o in opts.as_dict().values())
