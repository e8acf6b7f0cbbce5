"""f-CLSWGAN / ZS-WGAN / FiLM-WGAN: hand-computed losses, network shapes, init, settings, training."""

from __future__ import annotations

import copy
import dataclasses
import math
from pathlib import Path

import pytest
import torch
import yaml
from torch import nn

from zsl_pipeline import losses
from zsl_pipeline.evaluation import synthesis as shared_synthesis
from zsl_pipeline.methods.wgan import loop as wgan_loop
from zsl_pipeline.methods.wgan.config import WGANConfig, clswgan_config, filmwgan_config, zswgan_config
from zsl_pipeline.methods.wgan.loop import classification_loss, critic_step, train, training_class_map
from zsl_pipeline.methods.wgan.method import (
    CLSWGAN,
    FILMWGAN,
    ZSWGAN,
    classifier_configs,
    classifier_sets,
    synthesize,
)
from zsl_pipeline.methods.wgan.models import (
    FILM_SLOPE,
    ConcatCritic,
    ConcatGenerator,
    FiLM,
    FiLMGenerator,
    build_wgan,
)
from zsl_pipeline.models.classifier import LinearLogSoftmax
from zsl_pipeline.pipelines.params import CLSWGANParams
from zsl_pipeline.training.features import FeatureTensors

REPO_ROOT = Path(__file__).resolve().parents[3]
CPU = torch.device("cpu")
METHODS = {"clswgan": CLSWGAN, "zswgan": ZSWGAN, "filmwgan": FILMWGAN}
CONFIGS = {"clswgan": clswgan_config, "zswgan": zswgan_config, "filmwgan": filmwgan_config}

# ---- the spec's tables, transcribed from the spec (not from conf/) ----------------------------
#: methods_spec.md §4.4: (seed, cls_weight, lr, classifier_lr, nepoch, syn_num) per setting, and A.
CLSWGAN_SPEC = {
    "cub": {"zsl": (3483, 0.01, 1e-4, 1e-3, 70, 300), "gzsl": (3483, 0.01, 1e-4, 1e-3, 56, 300), "attr": 312},
    "flo": {"zsl": (806, 0.1, 1e-4, 1e-3, 97, 300), "gzsl": (806, 0.1, 1e-4, 1e-3, 80, 1200), "attr": 1024},
    "sun": {"zsl": (4115, 0.01, 2e-4, 5e-4, 54, 100), "gzsl": (4115, 0.01, 2e-4, 1e-3, 40, 400), "attr": 102},
    "awa1": {"zsl": (9182, 0.01, 1e-5, 1e-3, 30, 300), "gzsl": (9182, 0.01, 1e-5, 1e-3, 30, 1800),
             "attr": 85},
}
CLSWGAN_COMMON = dict(
    method="clswgan", architecture="concat", init="bias_zero", nz=None, ngh=4096, ndh=4096, beta1=0.5,
    batch_size=64, critic_iter=5, gp_weight=10.0, pretrain_epochs=50, pretrain_batch_size=100,
    pretrain_lr=1e-3, classifier_epochs=25, classifier_batch_size=None, classifier_beta1=0.5,
)
#: methods_spec_part2.md §7.7: (nepoch, nz, syn_num) per dataset; A.
HEMATI_SPEC = {"awa1": (50, 100, 2500, 85), "awa2": (50, 100, 2500, 85), "cub": (100, 300, 500, 312)}
HEMATI_COMMON = dict(
    init="all_normal", ngh=4400, ndh=4400, lr=1e-5, beta1=0.5, batch_size=64, critic_iter=5,
    gp_weight=10.0, cls_weight=0.01, seed=67232, pretrain_epochs=25, pretrain_batch_size=65,
    pretrain_lr=1e-3, classifier_lr=1e-3, classifier_epochs=25, classifier_batch_size=None,
    classifier_beta1=0.5, setting=None,
)


def _conf(env: str, method: str) -> dict:
    with open(REPO_ROOT / "conf" / env / f"parameters_{method}.yml") as f:
        return yaml.safe_load(f)[method]


def tiny_data(few_shot: int = 0, seed: int = 0) -> FeatureTensors:
    """6 classes (4 seen, 2 unseen), 5-d embeddings, 16-d non-negative features; ``few_shot``
    real rows per unseen class moved into the training split."""
    g = torch.Generator().manual_seed(seed)
    emb = torch.rand(6, 5, generator=g)
    proj = torch.randn(5, 16, generator=g)

    def feats(y: torch.Tensor) -> torch.Tensor:
        return (emb[y] @ proj + 0.3 * torch.randn(y.numel(), 16, generator=g)).abs()

    seen, unseen = torch.arange(4), torch.tensor([4, 5])
    train_y = torch.cat([seen.repeat_interleave(9), unseen.repeat_interleave(few_shot)])
    test_seen_y, test_unseen_y = seen.repeat_interleave(3), unseen.repeat_interleave(12 - few_shot)
    return FeatureTensors(
        train_x=feats(train_y), train_y=train_y,
        test_seen_x=feats(test_seen_y), test_seen_y=test_seen_y,
        test_unseen_x=feats(test_unseen_y), test_unseen_y=test_unseen_y,
        class_embeddings=emb, seen_classes=seen, unseen_classes=unseen,
        scaler_min=torch.zeros(16, dtype=torch.float64), scaler_scale=torch.ones(16, dtype=torch.float64),
        name="tiny",
    )


def tiny_config(method: str, **overrides) -> WGANConfig:
    """Tiny widths, 2 epochs, 36 samples / batch 16 -> 3 generator iterations per epoch."""
    params = dict(ngh=8, ndh=8, nz=3, nepoch=2, batch_size=16, critic_iter=2, pretrain_epochs=2,
                  pretrain_batch_size=10, syn_num=5, lr=1e-3, seed=11) | overrides
    return CONFIGS[method](params)


# ---- losses, by hand --------------------------------------------------------------------------
class LinearCritic(nn.Module):
    """D(x, a) = w·x + v·a + b: ∇_x D = w for every x, so the penalty is (‖w‖ − 1)²."""

    def __init__(self, w: torch.Tensor, v: torch.Tensor, b: float):
        super().__init__()
        self.w, self.v, self.b = nn.Parameter(w), nn.Parameter(v), nn.Parameter(torch.tensor(b))

    def forward(self, x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return x @ self.w + a @ self.v + self.b


def test_gradient_penalty_of_a_linear_critic_is_norm_minus_one_squared():
    w = torch.zeros(16)
    w[:2] = torch.tensor([3.0, 4.0])  # ‖w‖ = 5 -> (5 − 1)² = 16 whatever α is
    critic = LinearCritic(w, torch.ones(5), 0.5)
    g = torch.Generator().manual_seed(0)
    real, fake = torch.rand(7, 16, generator=g), torch.rand(7, 16, generator=g)
    a = torch.rand(7, 5, generator=g)
    for alpha in (torch.rand(7, 1, generator=g), torch.zeros(7), torch.ones(7, 1)):
        assert losses.gradient_penalty(critic, real, fake, a, alpha).item() == pytest.approx(16.0)


def test_critic_step_combines_wasserstein_and_fixed_lambda_penalty():
    """d_loss = mean D(G(z,a)) − mean D(x) + 10·(‖w‖ − 1)², replayed from the same RNG state."""
    data, config = tiny_data(), tiny_config("clswgan")
    w = torch.zeros(16)
    w[0] = 2.0  # penalty (2 − 1)² = 1
    critic = LinearCritic(w, torch.full((5,), 0.1), -0.3)
    net_g = ConcatGenerator(3, 5, 8, 16, generator=torch.Generator().manual_seed(1))
    opt = torch.optim.SGD(critic.parameters(), lr=0.0)  # lr 0: the replay sees the same critic
    rng = torch.Generator().manual_seed(5)
    replay = torch.Generator().manual_seed(5)
    y, a, stats = critic_step(net_g, critic, opt, data, config=config, noise_dim=3, rng=rng)
    idx = torch.randperm(data.ntrain, generator=replay)[:16]
    x = data.train_x[idx]
    z = torch.randn((16, 3), generator=replay)
    with torch.no_grad():
        fake = net_g(z, data.class_embeddings[data.train_y[idx]])
        wass = (critic(x, a).mean() - critic(fake, a).mean()).item()
    assert torch.equal(y, data.train_y[idx]) and torch.equal(a, data.class_embeddings[y])
    d_loss, wasserstein, gp = stats.tolist()
    assert gp == pytest.approx(1.0)
    assert wasserstein == pytest.approx(wass, abs=1e-6)
    assert d_loss == pytest.approx(-wass + 10.0 * 1.0, abs=1e-5)


def test_classification_loss_by_hand_with_labels_remapped_to_the_training_classes():
    classes, remap = training_class_map(torch.tensor([7, 2, 5, 2, 7]), num_classes=9)
    assert classes.tolist() == [2, 5, 7]
    assert remap.tolist() == [-1, -1, 0, -1, -1, 1, -1, 2, -1]
    clf = LinearLogSoftmax(2, 3)
    with torch.no_grad():
        clf.fc.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]))
        clf.fc.bias.zero_()
    x = torch.tensor([[math.log(4.0), 0.0], [math.log(4.0), 0.0]])  # probabilities 4/6, 1/6, 1/6
    y_global = torch.tensor([2, 5])  # -> local 0 and 1: NLL ln(6/4) and ln 6, mean ln 3
    assert classification_loss(clf, x, remap[y_global]).item() == pytest.approx(math.log(3.0))


# ---- networks ---------------------------------------------------------------------------------
def _reference_nets(cfg: WGANConfig, attr: int) -> tuple[nn.Module, nn.Module]:
    """(G, D) of ``cfg`` for 2048-d features, uninitialised (only shapes are checked: fast)."""
    return build_wgan(cfg.architecture, feature_dim=2048, attr_dim=attr, noise_dim=cfg.noise_dim(attr),
                      ngh=cfg.ngh, ndh=cfg.ndh, init=None)


def test_film_modulation_by_hand_with_leaky_relu_001():
    film = FiLM(2, 3)
    with torch.no_grad():
        film.gamma.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 1.0]]))
        film.beta.weight.copy_(torch.tensor([[0.0, 1.0], [1.0, 1.0], [-3.0, 0.0]]))
        film.gamma.bias.zero_()
        film.beta.bias.zero_()
    h, a = torch.tensor([[2.0, 3.0, 4.0]]), torch.tensor([[1.0, -1.0]])
    # γ = [1, −1, 1] -> [1, −0.01, 1]; β = [−1, 0, −3] -> [−0.01, 0, −0.03]
    assert FILM_SLOPE == 0.01
    assert torch.allclose(film(h, a), torch.tensor([[1.99, -0.03, 3.97]]))
    film.use_actv = False
    assert torch.allclose(film(h, a), torch.tensor([[1.0, -3.0, 1.0]]))


@pytest.mark.parametrize("env", sorted(HEMATI_SPEC))
def test_film_and_zswgan_shapes_of_the_part2_table(env):
    """Part 2 §7.3: FiLM-WGAN with n_h = 4400 (n_h/4 = 1100, n_h/2 = 2200); ZS-WGAN concat nets."""
    _, nz, _, attr = HEMATI_SPEC[env]
    for method in ("filmwgan", "zswgan"):
        cfg = CONFIGS[method](_conf(env, method))
        net_g, net_d = _reference_nets(cfg, attr)
        shapes = {f"G.{k}": tuple(v.shape) for k, v in net_g.state_dict().items() if k.endswith("weight")}
        shapes |= {f"D.{k}": tuple(v.shape) for k, v in net_d.state_dict().items() if k.endswith("weight")}
        if method == "filmwgan":  # (out, in)
            assert shapes == {
                "G.fc1.weight": (1100, nz),
                "G.film.gamma.weight": (1100, attr),
                "G.film.beta.weight": (1100, attr),
                "G.fc2.weight": (4400, 1100),
                "G.fc3.weight": (2048, 4400),
                "D.fc1.weight": (4400, 2048),
                "D.fc2.weight": (2200, 4400),
                "D.film.gamma.weight": (2200, attr),
                "D.film.beta.weight": (2200, attr),
                "D.fc3.weight": (1100, 2200),
                "D.fc4.weight": (1, 1100),
            }
        else:
            assert shapes == {"G.fc1.weight": (4400, nz + attr), "G.fc2.weight": (2048, 4400),
                              "D.fc1.weight": (4400, 2048 + attr), "D.fc2.weight": (1, 4400)}


@pytest.mark.parametrize("env", sorted(CLSWGAN_SPEC))
def test_clswgan_shapes_nz_equals_attribute_size(env):
    attr = CLSWGAN_SPEC[env]["attr"]
    cfg = clswgan_config(_conf(env, "clswgan"))
    net_g, net_d = _reference_nets(cfg, attr)
    assert (net_g.fc1.in_features, net_g.fc1.out_features, net_g.fc2.out_features) == (2 * attr, 4096, 2048)
    assert (net_d.fc1.in_features, net_d.fc1.out_features, net_d.fc2.out_features) == (2048 + attr, 4096, 1)


def test_generator_output_is_relu_non_negative():
    g = torch.Generator().manual_seed(0)
    for net in (ConcatGenerator(4, 3, 32, 64, generator=g), FiLMGenerator(4, 3, 32, 64, generator=g)):
        out = net(torch.randn(50, 4, generator=g), torch.randn(50, 3, generator=g))
        assert out.shape == (50, 64) and bool((out >= 0).all()) and bool((out == 0).any())


def test_init_statistics_bias_zero_vs_all_normal():
    g = torch.Generator().manual_seed(0)
    cls_g = ConcatGenerator(100, 50, 512, 256, init="bias_zero", generator=g)
    film_g = FiLMGenerator(100, 50, 512, 256, init="all_normal", generator=g)
    film_d = ConcatCritic(256, 50, 512, init="all_normal", generator=g)
    for name, p in cls_g.named_parameters():
        if name.endswith("bias"):
            assert bool((p == 0).all()), name
        else:
            assert p.std().item() == pytest.approx(0.02, rel=0.05) and abs(p.mean().item()) < 2e-3
    biases = torch.cat([p.flatten() for n, p in film_g.named_parameters() if n.endswith("bias")])
    assert bool((biases != 0).all()) and biases.std().item() == pytest.approx(0.02, rel=0.1)
    assert bool((film_d.fc1.bias != 0).all())
    for p in film_g.parameters():
        assert p.std().item() == pytest.approx(0.02, rel=0.25)


# ---- conf files against the spec tables -------------------------------------------------------
@pytest.mark.parametrize("env", sorted(CLSWGAN_SPEC))
@pytest.mark.parametrize("setting", ["zsl", "gzsl"])
def test_clswgan_conf_matches_spec_4_4(env, setting):
    params = _conf(env, "clswgan")
    assert params["setting"] == "gzsl"  # the default named setting
    cfg = clswgan_config({**params, "setting": setting}).to_dict()
    keys = ("seed", "cls_weight", "lr", "classifier_lr", "nepoch", "syn_num")
    assert tuple(cfg[k] for k in keys) == CLSWGAN_SPEC[env][setting]
    assert {k: cfg[k] for k in CLSWGAN_COMMON} == CLSWGAN_COMMON
    assert cfg["setting"] == setting and cfg["pretrain_batching"] == "stream"
    attr = CLSWGAN_SPEC[env]["attr"]
    assert WGANConfig(**cfg).noise_dim(attr) == attr


@pytest.mark.parametrize("env", sorted(HEMATI_SPEC))
@pytest.mark.parametrize("method", ["filmwgan", "zswgan"])
def test_film_and_zswgan_conf_matches_spec_7_7(env, method):
    cfg = CONFIGS[method](_conf(env, method)).to_dict()
    nepoch, nz, syn_num, _ = HEMATI_SPEC[env]
    assert (cfg["nepoch"], cfg["nz"], cfg["syn_num"]) == (nepoch, nz, syn_num)
    assert {k: cfg[k] for k in HEMATI_COMMON} == HEMATI_COMMON
    assert cfg["method"] == method and cfg["pretrain_batching"] == "loader"
    assert cfg["architecture"] == ("film" if method == "filmwgan" else "concat")


@pytest.mark.parametrize("method", sorted(METHODS))
def test_demo_conf_builds_a_config(method):
    cfg = CONFIGS[method](_conf("base", method))
    assert cfg.method == method and cfg.classifier_epochs == 25
    assert CONFIGS[method](cfg.to_dict()) == cfg  # the runner rebuilds configs from to_dict()


# ---- named settings and parameter checking ----------------------------------------------------
SETTINGS = {
    "zsl": {"nepoch": 70, "syn_num": 100, "classifier_lr": 5e-4},
    "gzsl": {"nepoch": 56, "syn_num": 400},
}


def test_named_setting_resolution():
    assert clswgan_config({"settings": SETTINGS}).nepoch == 56  # gzsl by default
    zsl = clswgan_config({"settings": SETTINGS, "setting": "zsl"})
    assert (zsl.setting, zsl.nepoch, zsl.syn_num, zsl.classifier_lr) == ("zsl", 70, 100, 5e-4)
    # a top-level key wins over the selected setting (command-line overrides)
    assert clswgan_config({"settings": SETTINGS, "setting": "zsl", "nepoch": 3}).nepoch == 3
    # a resolved config round-trips without the settings block
    assert clswgan_config(zsl.to_dict()) == zsl
    # the pipeline's parameter model resolves the settings the same way and converts strings
    validated = CLSWGANParams.model_validate({"settings": SETTINGS, "setting": "zsl", "lr": "1e-4"}).config()
    assert validated == dataclasses.replace(zsl, lr=1e-4)


@pytest.mark.parametrize(
    "params, message",
    [
        ({"settings": SETTINGS, "setting": "fewshot"}, "'setting'"),
        ({"settings": {"zsl": {}, "val": {}}}, "val"),
        ({"settings": {"gzsl": {"nepochs": 3}}}, "nepochs"),
        ({"settings": {"gzsl": {"setting": "zsl"}}}, "setting"),
        ({"critic_iters": 5}, "critic_iters"),
        ({"init": "xavier"}, "init"),
        ({"architecture": "transformer"}, "architecture"),
        ({"nz": 2.5}, "nz"),
        ({"method": "zswgan"}, "method"),
    ],
)
def test_bad_parameters_are_rejected_naming_the_key(params, message):
    with pytest.raises(ValueError, match=message):
        CLSWGANParams.model_validate(params)


def test_zswgan_settings_need_a_setting():
    with pytest.raises(ValueError, match="setting"):
        zswgan_config({"settings": SETTINGS})
    assert zswgan_config({"settings": SETTINGS, "setting": "zsl"}).nepoch == 70


def test_classifier_configs():
    gz, zs = classifier_configs(tiny_config("clswgan", classifier_lr=5e-4))
    assert gz == zs
    assert (gz.epochs, gz.batch_size, gz.lr, gz.beta1, gz.input_mode) == (25, 5, 5e-4, 0.5, "x")
    assert classifier_configs(tiny_config("filmwgan", classifier_batch_size=7))[0].batch_size == 7


# ---- training end to end ----------------------------------------------------------------------
@pytest.mark.parametrize("method", sorted(METHODS))
def test_train_is_deterministic_finite_and_keeps_the_classifier_frozen(method, monkeypatch):
    data, config = tiny_data(), tiny_config(method)
    snapshots = []
    original = wgan_loop.pretrain_classifier

    def spy(classifier, *args, **kwargs):
        before = copy.deepcopy(classifier.state_dict())
        original(classifier, *args, **kwargs)
        snapshots.append((before, copy.deepcopy(classifier.state_dict())))

    monkeypatch.setattr(wgan_loop, "pretrain_classifier", spy)
    progress = []
    first = METHODS[method].train(data, config, CPU, lambda done, total: progress.append((done, total)))
    second = train(data, config, CPU)
    assert progress == [(1, 2), (2, 2)]
    assert first["method"] == method and first["config"] == config.to_dict()
    assert (first["feature_dim"], first["attr_dim"]) == (16, 5)
    assert [row["epoch"] for row in first["history"]] == [1, 2]  # 1-based
    for row in first["history"]:
        assert set(row) == {"epoch", "d_loss", "wasserstein", "gp", "g_adv", "cls_loss"}
        assert all(math.isfinite(v) for v in row.values())
    assert first["history"] == second["history"]
    for name in ("generator", "critic", "pretrained_classifier"):
        for key, value in first["models"][name].items():
            assert torch.equal(value, second["models"][name][key]), (name, key)
    # pre-training changed the classifier; GAN training did not
    (init_state, trained_state), _ = snapshots
    saved = first["models"]["pretrained_classifier"]
    assert not torch.equal(init_state["fc.weight"], trained_state["fc.weight"])
    assert all(torch.equal(saved[k], trained_state[k]) for k in saved)
    assert saved["fc.weight"].shape == (4, 16)  # the 4 seen (training) classes
    if config.init == "all_normal":
        assert bool((init_state["fc.bias"] != 0).all())
    else:
        assert bool((init_state["fc.bias"] == 0).all())
    if method == "clswgan":  # another seed gives another run
        assert train(data, tiny_config(method, seed=12), CPU)["history"] != first["history"]


def test_train_raises_on_non_finite_losses():
    data = tiny_data()
    data.train_x[0, 0] = float("nan")
    with pytest.raises(FloatingPointError, match="diverged"):
        train(data, tiny_config("clswgan", nepoch=1, pretrain_epochs=1), CPU)


@pytest.mark.parametrize("few_shot", [0, 2])
def test_classifier_sets_shapes_and_labels(few_shot):
    data = tiny_data(few_shot=few_shot)
    config = tiny_config("zswgan", nepoch=1)
    checkpoint = train(data, config, CPU)
    n_train_classes = 4 + (2 if few_shot else 0)
    assert checkpoint["models"]["pretrained_classifier"]["fc.weight"].shape == (n_train_classes, 16)
    sets = classifier_sets(checkpoint, data, CPU, torch.Generator().manual_seed(0))
    n_syn = 2 * config.syn_num
    assert sets.synthetic_x.shape == (n_syn, 16) and bool((sets.synthetic_x >= 0).all())
    assert sets.synthetic_y.tolist() == [4] * 5 + [5] * 5
    assert sets.gzsl_x.shape == (data.ntrain + n_syn, 16)
    assert torch.equal(sets.gzsl_x[: data.ntrain], data.train_x)
    assert torch.equal(sets.gzsl_y, torch.cat([data.train_y, sets.synthetic_y]))
    assert sets.zsl_x.shape == (n_syn + 2 * few_shot, 16)
    assert set(sets.zsl_y.tolist()) == {4, 5}
    assert torch.equal(sets.zsl_x[n_syn:], data.train_x[data.train_y >= 4])
    assert torch.equal(sets.test_seen_x, data.test_seen_x)
    assert torch.equal(sets.test_unseen_x, data.test_unseen_x)
    again = classifier_sets(checkpoint, data, CPU, torch.Generator().manual_seed(0))
    assert torch.equal(again.synthetic_x, sets.synthetic_x)


def test_synthesize_labels_and_chunking(monkeypatch):
    net = FiLMGenerator(3, 5, 8, 16, generator=torch.Generator().manual_seed(0))
    emb = torch.rand(6, 5)
    x, y = synthesize(net, torch.tensor([5, 2]), emb, n_per_class=4, nz=3, rng=torch.Generator().manual_seed(1))
    assert y.tolist() == [5] * 4 + [2] * 4 and x.shape == (8, 16)
    monkeypatch.setattr(shared_synthesis, "CHUNK_ROWS", 3)
    x3, _ = synthesize(net, torch.tensor([5, 2]), emb, n_per_class=4, nz=3, rng=torch.Generator().manual_seed(1))
    assert torch.allclose(x, x3)
