"""CADA-VAE (methods_spec.md §3): loss pieces by hand, settings against the spec, a tiny run."""

from __future__ import annotations

import copy
import math
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import yaml

import zsl_pipeline.methods.cada_vae.loop as cada_loop
from zsl_pipeline.methods.cada_vae.config import CADAVAEConfig
from zsl_pipeline.methods.cada_vae.loop import train
from zsl_pipeline.methods.cada_vae.method import (
    METHOD,
    classifier_configs,
    classifier_sets,
    load_models,
    tiled_class_rows,
)
from zsl_pipeline.methods.cada_vae.models import (
    BETA_WARMUP,
    CROSS_RECONSTRUCTION_WARMUP,
    DISTANCE_WARMUP,
    INIT_GAIN,
    build_cada_vae,
    cross_reconstruction_loss,
    distribution_alignment,
    kl_divergence,
    reconstruction_loss,
    reparameterize,
    warmup_factor,
)
from zsl_pipeline.pipelines.params import CADAVAEParams
from zsl_pipeline.training.features import FeatureTensors
from zsl_pipeline.training.streams import init_stream, training_stream

CONF = Path(__file__).resolve().parents[3] / "conf"
LN2 = math.log(2.0)
CPU = torch.device("cpu")


# ---- reparameterisation (§3.3) -------------------------------------------------------------------

MU = torch.tensor([[0.0, 1.0, 2.0], [1.0, -1.0, 0.5]])
LOGVAR = torch.tensor([[0.0, LN2, -LN2], [LN2, 0.0, 2 * LN2]])


def test_reference_reparameterisation_one_eps_per_sample_scale_exp_logvar():
    z = reparameterize(MU, LOGVAR, torch.Generator().manual_seed(5), "reference")
    eps = torch.randn(2, 1, generator=torch.Generator().manual_seed(5))  # the documented draw
    scale = torch.tensor([[1.0, 2.0, 0.5], [2.0, 1.0, 4.0]])  # exp(logvar), by hand
    torch.testing.assert_close(z, MU + scale * eps)
    # every dim shares one ε: (z − μ) / exp(logvar) is constant along a row
    ratio = (z - MU) / scale
    torch.testing.assert_close(ratio, ratio[:, :1].expand(-1, 3))


def test_textbook_reparameterisation_eps_per_dim_scale_exp_half_logvar():
    z = reparameterize(MU, LOGVAR, torch.Generator().manual_seed(5), "textbook")
    eps = torch.randn(2, 3, generator=torch.Generator().manual_seed(5))
    scale = torch.tensor([[1.0, math.sqrt(2.0), math.sqrt(0.5)], [math.sqrt(2.0), 1.0, 2.0]])
    torch.testing.assert_close(z, MU + scale * eps)


def test_reparameterisation_rejects_unknown_mode():
    with pytest.raises(ValueError, match="reparameterisation"):
        reparameterize(MU, LOGVAR, torch.Generator(), "other")


# ---- loss terms (§3.4) ---------------------------------------------------------------------------


def test_distribution_alignment_by_hand():
    mu_x = torch.tensor([[0.0, 0.0], [1.0, 1.0]])
    mu_a = torch.tensor([[3.0, 4.0], [1.0, 1.0]])
    logvar_x = torch.zeros(2, 2)  # σ = 1
    logvar_a = torch.tensor([[0.0, 0.0], [2 * LN2, 0.0]])  # σ = (1, 1), (2, 1)
    # row 0: sqrt(9 + 16 + 0) = 5; row 1: sqrt(0 + (1 − 2)²) = 1
    assert distribution_alignment(mu_x, logvar_x, mu_a, logvar_a).item() == pytest.approx(6.0)


def test_kl_by_hand():
    mu = torch.tensor([[1.0, 0.0]])
    logvar = torch.tensor([[0.0, LN2]])
    # −½(1 + 0 − 1 − 1) + −½(1 + ln2 − 0 − 2) = ½ + ½ − ½ ln2
    assert kl_divergence(mu, logvar).item() == pytest.approx(1.0 - 0.5 * LN2)
    assert kl_divergence(torch.zeros(4, 3), torch.zeros(4, 3)).item() == 0.0


def test_l1_terms_are_sums():
    x, a = torch.zeros(2, 3), torch.zeros(2, 2)
    rec = reconstruction_loss(x, torch.full((2, 3), 0.5), a, torch.ones(2, 2))
    assert rec.item() == pytest.approx(3.0 + 4.0)
    cross = cross_reconstruction_loss(x, -torch.ones(2, 3), a, torch.full((2, 2), 2.0))
    assert cross.item() == pytest.approx(6.0 + 8.0)


@pytest.mark.parametrize(
    ("warmup", "epoch", "expected"),
    [
        (BETA_WARMUP, 0, 0.0),
        (BETA_WARMUP, 31, 0.25 * 31 / 93),
        (BETA_WARMUP, 93, 0.25),
        (BETA_WARMUP, 99, 0.25),
        (CROSS_RECONSTRUCTION_WARMUP, 10, 0.0),  # before start
        (CROSS_RECONSTRUCTION_WARMUP, 21, 0.0),
        (CROSS_RECONSTRUCTION_WARMUP, 48, 2.37 * 27 / 54),  # mid: 1.185
        (CROSS_RECONSTRUCTION_WARMUP, 80, 2.37),  # after end
        (DISTANCE_WARMUP, 5, 0.0),
        (DISTANCE_WARMUP, 14, 8.13 / 2),
        (DISTANCE_WARMUP, 22, 8.13),
        (DISTANCE_WARMUP, 60, 8.13),
    ],
)
def test_warmup_factor(warmup, epoch, expected):
    assert warmup_factor(epoch, warmup) == pytest.approx(expected, rel=1e-12)


def test_warmup_table_is_the_spec():
    assert tuple(BETA_WARMUP) == (0.25, 0, 93)
    assert tuple(CROSS_RECONSTRUCTION_WARMUP) == (2.37, 21, 75)
    assert tuple(DISTANCE_WARMUP) == (8.13, 6, 22)


# ---- networks (§3.2) -----------------------------------------------------------------------------


def test_network_shapes_and_init():
    models = build_cada_vae(feature_dim=2048, attr_dim=312, generator=torch.Generator().manual_seed(0))
    shapes = {name: tuple(p.shape) for name, p in models.named_parameters() if name.endswith("weight")}
    assert shapes == {
        "image_encoder.feature_encoder.0.weight": (1560, 2048),
        "image_encoder._mu.weight": (64, 1560),
        "image_encoder._logvar.weight": (64, 1560),
        "attribute_encoder.feature_encoder.0.weight": (1450, 312),
        "attribute_encoder._mu.weight": (64, 1450),
        "attribute_encoder._logvar.weight": (64, 1450),
        "image_decoder.feature_decoder.0.weight": (1660, 64),
        "image_decoder.feature_decoder.2.weight": (2048, 1660),
        "attribute_decoder.feature_decoder.0.weight": (665, 64),
        "attribute_decoder.feature_decoder.2.weight": (312, 665),
    }
    for name, p in models.named_parameters():
        if name.endswith("bias"):
            assert bool((p == 0).all()), name
        else:  # Xavier-uniform, gain 0.5
            bound = INIT_GAIN * math.sqrt(6.0 / (p.shape[0] + p.shape[1]))
            assert p.abs().max().item() <= bound and p.abs().max().item() > 0.9 * bound, name
    mu, logvar = models.image_encoder(torch.rand(3, 2048))
    assert mu.shape == logvar.shape == (3, 64)
    assert models.attribute_decoder(mu).shape == (3, 312)
    assert models.image_decoder(models.attribute_encoder(torch.rand(3, 312))[0]).shape == (3, 2048)
    again = build_cada_vae(feature_dim=2048, attr_dim=312, generator=torch.Generator().manual_seed(0))
    assert _same_state({"m": again.state_dict()}, {"m": models.state_dict()})


# ---- configuration and parameter files (§3.4, §3.5) ----------------------------------------------

#: §3.5: (GZSL, ZSL) classifier epochs of the 0-shot table.
CLASSIFIER_EPOCHS = {"cub": (23, 22), "sun": (21, 30), "awa1": (33, 25), "awa2": (29, 39)}
#: §3.4 globals and the §3.5 samples-per-class table.
REFERENCE_GLOBALS = {
    "latent_size": 64,
    "image_encoder_hidden": 1560,
    "image_decoder_hidden": 1660,
    "attribute_encoder_hidden": 1450,
    "attribute_decoder_hidden": 665,
    "lr": 1.5e-4,
    "batch_size": 50,
    "nepoch": 100,
    "beta_warmup": (0.25, 0, 93),
    "cross_reconstruction_warmup": (2.37, 21, 75),
    "distance_warmup": (8.13, 6, 22),
    "reparameterization": "reference",
    "samples_per_class_gzsl": (200, 0, 400, 0),
    "samples_per_class_zsl": (0, 0, 200, 0),
    "samples_per_class_gzsl_fewshot": (200, 0, 200, 200),
    "samples_per_class_zsl_fewshot": (0, 0, 200, 200),
    "classifier_lr": 1e-3,
    "classifier_batch_size": 32,
    "classifier_beta1": 0.5,
}


def _conf(env: str) -> CADAVAEConfig:
    return CADAVAEParams.model_validate(_params(env)).config()


def _params(env: str) -> dict:
    return yaml.safe_load((CONF / env / "parameters_cada_vae.yml").read_text())["cada_vae"]


def test_defaults_are_the_reference_cub_settings():
    config = CADAVAEConfig().to_dict()
    assert {k: config[k] for k in REFERENCE_GLOBALS} == REFERENCE_GLOBALS
    assert (config["classifier_epochs_gzsl"], config["classifier_epochs_zsl"]) == CLASSIFIER_EPOCHS["cub"]


@pytest.mark.parametrize("env", sorted(CLASSIFIER_EPOCHS))
def test_benchmark_parameter_files(env):
    config = _conf(env)
    d = config.to_dict()
    assert {k: d[k] for k in REFERENCE_GLOBALS} == REFERENCE_GLOBALS
    assert (config.classifier_epochs_gzsl, config.classifier_epochs_zsl) == CLASSIFIER_EPOCHS[env]
    # the env file carries the full block (Kedro replaces the top-level key wholesale)
    assert set(_params(env)) == set(d)


def test_demo_parameter_file():
    config = _conf("base")
    for warmup in (config.beta_warmup, config.cross_reconstruction_warmup, config.distance_warmup):
        assert warmup[2] <= config.nepoch  # every factor reaches its full value
    assert (config.beta_warmup[0], config.cross_reconstruction_warmup[0], config.distance_warmup[0]) == (
        0.25,
        2.37,
        8.13,
    )


def test_parameters_are_converted_and_checked():
    config = CADAVAEParams.model_validate({"lr": "1.5e-4", "beta_warmup": [0.5, 1, 3], "nepoch": 4.0}).config()
    assert config.lr == 1.5e-4 and config.beta_warmup == (0.5, 1, 3) and config.nepoch == 4
    assert CADAVAEConfig(**config.to_dict()) == config
    assert CADAVAEConfig(beta_warmup=[0.5, 1, 3]).beta_warmup == (0.5, 1, 3)  # a YAML list becomes the tuple
    with pytest.raises(ValueError, match="'nepochs'"):
        CADAVAEParams.model_validate({"nepochs": 3})
    with pytest.raises(ValueError, match="reparameterization"):
        CADAVAEParams.model_validate({"reparameterization": "other"})
    with pytest.raises(ValueError, match="beta_warmup"):
        CADAVAEParams.model_validate({"beta_warmup": [0.25, 0]})
    with pytest.raises(ValueError, match="distance_warmup"):
        CADAVAEParams.model_validate({"distance_warmup": [1.0, 5, 5]})
    with pytest.raises(ValueError, match="samples_per_class_zsl"):
        CADAVAEConfig(samples_per_class_zsl=(1, 0, 200, 0))


def test_classifier_configs_and_method_record():
    gzsl, zsl = classifier_configs(CADAVAEConfig(classifier_epochs_gzsl=29, classifier_epochs_zsl=39))
    assert (gzsl.epochs, zsl.epochs) == (29, 39)
    for c in (gzsl, zsl):
        assert (c.batch_size, c.lr, c.beta1, c.input_mode) == (32, 1e-3, 0.5, "x")
    assert METHOD.name == "cada_vae" and METHOD.l2_normalise_embeddings is False
    assert METHOD.config_from_params({}) == CADAVAEConfig()


# ---- classifier-set construction (§3.5) ----------------------------------------------------------


def test_tiled_class_rows_stored_order():
    labels = torch.tensor([1, 0, 1, 2, 1, 0])
    rows = tiled_class_rows(labels, torch.tensor([0, 1, 2]), 4)
    # class 0: rows 1, 5 tiled; class 1: rows 0, 2, 4 then 0; class 2: row 3 four times
    assert rows.tolist() == [1, 5, 1, 5, 0, 2, 4, 0, 3, 3, 3, 3]
    assert tiled_class_rows(labels, torch.tensor([1]), 2).tolist() == [0, 2]


# ---- a tiny end-to-end run -----------------------------------------------------------------------

SEEN, UNSEEN, ATTR, FEAT, PER_CLASS = 4, 2, 5, 16, 9


def _tiny_data(shots: int = 0) -> FeatureTensors:
    """6 classes (4 seen, 2 unseen), 16-d features, 5-d embeddings; ``shots`` test-unseen rows per
    unseen class moved into training (few-shot)."""
    g = torch.Generator().manual_seed(0)
    emb = torch.rand(SEEN + UNSEEN, ATTR, generator=g)
    proj = torch.randn(ATTR, FEAT, generator=g)

    def features(y: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(emb[y] @ proj + 0.3 * torch.randn(y.numel(), FEAT, generator=g))

    seen, unseen = torch.arange(SEEN), torch.arange(SEEN, SEEN + UNSEEN)
    train_y = seen.repeat(PER_CLASS)  # interleaved: the stored order is not class-sorted
    test_seen_y = seen.repeat_interleave(3)
    test_unseen_y = unseen.repeat_interleave(6)
    train_x, test_unseen_x = features(train_y), features(test_unseen_y)
    if shots:
        move = (torch.arange(test_unseen_y.numel()) % 6) < shots
        train_x = torch.cat([train_x, test_unseen_x[move]])
        train_y = torch.cat([train_y, test_unseen_y[move]])
        test_unseen_x, test_unseen_y = test_unseen_x[~move], test_unseen_y[~move]
    return FeatureTensors(
        train_x=train_x,
        train_y=train_y,
        test_seen_x=features(test_seen_y),
        test_seen_y=test_seen_y,
        test_unseen_x=test_unseen_x,
        test_unseen_y=test_unseen_y,
        class_embeddings=emb,
        seen_classes=seen,
        unseen_classes=unseen,
        scaler_min=torch.zeros(FEAT, dtype=torch.float64),
        scaler_scale=torch.ones(FEAT, dtype=torch.float64),
        name="tiny",
    )


TINY = CADAVAEConfig(
    latent_size=4,
    image_encoder_hidden=12,
    image_decoder_hidden=10,
    attribute_encoder_hidden=8,
    attribute_decoder_hidden=6,
    lr=1e-3,
    batch_size=10,  # 36 training rows -> 4 iterations per epoch
    nepoch=3,
    beta_warmup=(0.25, 0, 2),
    cross_reconstruction_warmup=(2.37, 0, 2),
    distance_warmup=(8.13, 0, 1),
    samples_per_class_gzsl=(5, 0, 7, 0),
    samples_per_class_zsl=(0, 0, 4, 0),
    samples_per_class_gzsl_fewshot=(12, 0, 3, 2),
    samples_per_class_zsl_fewshot=(0, 0, 3, 2),
    classifier_epochs_gzsl=2,
    classifier_epochs_zsl=2,
    seed=11,
)


@pytest.fixture(scope="module")
def tiny_run():
    data = _tiny_data()
    return data, train(data, TINY, CPU)


def _same_state(a: dict, b: dict) -> bool:
    return all(torch.equal(a[net][k], b[net][k]) for net in a for k in a[net])


def test_training_is_deterministic_and_finite(tiny_run):
    data, checkpoint = tiny_run
    assert checkpoint["method"] == "cada_vae" and checkpoint["config"] == TINY.to_dict()
    assert (checkpoint["feature_dim"], checkpoint["attr_dim"]) == (FEAT, ATTR)
    assert tuple(checkpoint["models"]) == (
        "image_encoder",
        "attribute_encoder",
        "image_decoder",
        "attribute_decoder",
    )
    history = checkpoint["history"]
    assert [h["epoch"] for h in history] == [1, 2, 3]  # 1-based
    keys = {"loss", "reconstruction", "cross_reconstruction", "kl", "distance", "beta", "gamma", "delta"}
    assert all(keys <= set(h) and all(math.isfinite(h[k]) for k in keys) for h in history)
    assert [h["delta"] for h in history] == [0.0, 8.13, 8.13]
    assert [h["beta"] for h in history] == pytest.approx([0.0, 0.125, 0.25])
    again = train(data, TINY, CPU)
    assert again["history"] == history and _same_state(again["models"], checkpoint["models"])
    other = train(data, replace(TINY, seed=12), CPU)
    assert not _same_state(other["models"], checkpoint["models"])


def test_initial_weights_come_from_the_cpu_init_stream(monkeypatch):
    """The init draws from ``init_stream(seed)`` on the CPU (the same weights on any device; a GPU
    run starts where a CPU run starts) and the training stream from its next draw, as TF-VAEGAN and
    the WGANs do; ``train`` starts from exactly these weights."""
    models, rng = cada_loop.initial_state(TINY, feature_dim=FEAT, attr_dim=ATTR, device=CPU)
    init_rng = init_stream(TINY.seed)
    expected = cada_loop.build_models(TINY, feature_dim=FEAT, attr_dim=ATTR, device=CPU, generator=init_rng)
    assert _same_state(
        {k: v.state_dict() for k, v in models.networks().items()},
        {k: v.state_dict() for k, v in expected.networks().items()},
    )
    assert torch.equal(rng.get_state(), training_stream(init_rng, CPU).get_state())

    started = []
    real = cada_loop.initial_state

    def spy(*args, **kwargs):
        nets, stream = real(*args, **kwargs)
        started.append({k: copy.deepcopy(v.state_dict()) for k, v in nets.networks().items()})
        return nets, stream

    monkeypatch.setattr(cada_loop, "initial_state", spy)
    train(_tiny_data(), replace(TINY, nepoch=1), CPU)
    assert _same_state(started[0], {k: v.state_dict() for k, v in expected.networks().items()})


def test_training_reports_progress_and_divergence():
    data = _tiny_data()
    seen: list[tuple[int, int]] = []
    train(data, replace(TINY, nepoch=2), CPU, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(1, 2), (2, 2)]
    bad = replace(data, train_x=torch.full_like(data.train_x, float("nan")))
    with pytest.raises(FloatingPointError, match="diverged in epoch 1"):
        train(bad, replace(TINY, nepoch=1), CPU)


def _on_lines(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> bool:
    """Reference sampler: z − μ = ε · exp(logvar) with one ε per row."""
    ratio = (z - mu) / torch.exp(logvar)
    return torch.allclose(ratio, ratio[:, :1].expand_as(ratio), atol=1e-4)


def test_zero_shot_classifier_sets(tiny_run):
    data, checkpoint = tiny_run
    sets = classifier_sets(checkpoint, data, CPU, torch.Generator().manual_seed(3))
    # GZSL: img_seen 5 per seen class, then att_unseen 7 per unseen class (§3.5 order)
    assert sets.gzsl_x.shape == (4 * 5 + 2 * 7, 4)
    expected = [c for c in range(4) for _ in range(5)] + [c for c in (4, 5) for _ in range(7)]
    assert sets.gzsl_y.tolist() == expected
    # ZSL: att_unseen 4 per unseen class only
    assert sets.zsl_y.tolist() == [4] * 4 + [5] * 4 and sets.zsl_x.shape == (8, 4)
    # synthetic = the GZSL set's att_unseen latents
    torch.testing.assert_close(sets.synthetic_x, sets.gzsl_x[20:])
    assert sets.synthetic_y.tolist() == sets.gzsl_y[20:].tolist()

    _, models = load_models(checkpoint, CPU)
    with torch.no_grad():
        # test sets are μ encodings
        torch.testing.assert_close(sets.test_seen_x, models.image_encoder(data.test_seen_x)[0])
        torch.testing.assert_close(sets.test_unseen_x, models.image_encoder(data.test_unseen_x)[0])
        # img_seen: class c's first 5 training rows in stored order, encoded with one-ε noise
        rows = torch.cat([torch.nonzero(data.train_y == c).squeeze(1)[:5] for c in range(4)])
        mu, logvar = models.image_encoder(data.train_x[rows])
        assert _on_lines(sets.gzsl_x[:20], mu, logvar)
        assert not torch.allclose(sets.gzsl_x[:20], mu)
        mu_a, logvar_a = models.attribute_encoder(data.class_embeddings[sets.zsl_y])
        assert _on_lines(sets.zsl_x, mu_a, logvar_a)

    other = classifier_sets(checkpoint, data, CPU, torch.Generator().manual_seed(4))
    assert torch.equal(other.test_seen_x, sets.test_seen_x)
    assert torch.equal(other.test_unseen_x, sets.test_unseen_x)
    assert not torch.equal(other.gzsl_x, sets.gzsl_x)
    same = classifier_sets(checkpoint, data, CPU, torch.Generator().manual_seed(3))
    assert torch.equal(same.gzsl_x, sets.gzsl_x) and torch.equal(same.zsl_x, sets.zsl_x)


def test_few_shot_classifier_sets():
    data = _tiny_data(shots=2)
    checkpoint = train(data, replace(TINY, nepoch=1), CPU)  # trains on the moved shots too
    sets = classifier_sets(checkpoint, data, CPU, torch.Generator().manual_seed(3))
    # GZSL k-shot (12, 0, 3, 2): img_seen 12 per seen class (9 rows tiled), img_unseen 2, att_unseen 3
    expected = [c for c in range(4) for _ in range(12)] + [c for c in (4, 5) for _ in range(2)]
    expected += [c for c in (4, 5) for _ in range(3)]
    assert sets.gzsl_y.tolist() == expected
    # FSL (0, 0, 3, 2): img_unseen then att_unseen, unseen labels only
    assert sets.zsl_y.tolist() == [4, 4, 5, 5, 4, 4, 4, 5, 5, 5]
    assert sets.synthetic_y.tolist() == [4, 4, 4, 5, 5, 5]
    torch.testing.assert_close(sets.synthetic_x, sets.gzsl_x[-6:])
    _, models = load_models(checkpoint, CPU)
    with torch.no_grad():
        shots = torch.nonzero(data.train_y >= 4).squeeze(1)  # the unseen shots, class-sorted
        mu, logvar = models.image_encoder(data.train_x[shots])
        assert _on_lines(sets.gzsl_x[48:52], mu, logvar) and _on_lines(sets.zsl_x[:4], mu, logvar)
        # seen class 0 tiled: rows 0..8 in stored order, then rows 0..2 again
        rows0 = torch.nonzero(data.train_y == 0).squeeze(1)
        rows0 = torch.cat([rows0, rows0[:3]])
        mu0, logvar0 = models.image_encoder(data.train_x[rows0])
        assert _on_lines(sets.gzsl_x[:12], mu0, logvar0)


def test_textbook_mode_runs():
    data = _tiny_data()
    config = replace(TINY, nepoch=1, reparameterization="textbook")
    checkpoint = train(data, config, CPU)
    assert all(math.isfinite(v) for v in checkpoint["history"][0].values())
    sets = classifier_sets(checkpoint, data, CPU, torch.Generator().manual_seed(0))
    assert sets.gzsl_x.shape == (34, 4)
