"""The benchmark environments reproduce methods_spec.md §2.9 exactly, and build matching networks."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from zsl_pipeline.config_loader import ProjectConfigLoader
from zsl_pipeline.methods.tfvaegan.config import TFVAEGANConfig
from zsl_pipeline.methods.tfvaegan.loop import build_training_state
from zsl_pipeline.pipelines.params import TFVAEGANParams

REPO_ROOT = Path(__file__).resolve().parents[2]

# §2.9, one column per dataset: transcribed from the spec's table, not from conf/.
SPEC = {
    "cub": dict(seed=3483, nepoch=300, syn_num=300, lr=1e-4, classifier_lr=1e-3, feed_lr=1e-5, dec_lr=1e-4,
                a1=1.0, a2=1.0, recons_weight=0.01, gamma_d=10.0, gamma_g=10.0, encoded_noise=True,
                freeze_dec=False, attr=312, nclass=200),
    "awa2": dict(seed=9182, nepoch=120, syn_num=1800, lr=1e-5, classifier_lr=1e-3, feed_lr=1e-4, dec_lr=1e-4,
                 a1=0.01, a2=0.01, recons_weight=0.1, gamma_d=10.0, gamma_g=10.0, encoded_noise=True,
                 freeze_dec=True, attr=85, nclass=50),
    "flo": dict(seed=806, nepoch=500, syn_num=1200, lr=1e-4, classifier_lr=1e-3, feed_lr=1e-5, dec_lr=1e-4,
                a1=0.5, a2=0.5, recons_weight=0.01, gamma_d=10.0, gamma_g=10.0, encoded_noise=False,
                freeze_dec=False, attr=1024, nclass=102),
    "sun": dict(seed=4115, nepoch=400, syn_num=400, lr=1e-3, classifier_lr=5e-4, feed_lr=1e-4, dec_lr=1e-4,
                a1=0.1, a2=0.01, recons_weight=0.01, gamma_d=1.0, gamma_g=1.0, encoded_noise=True,
                freeze_dec=False, attr=102, nclass=717),
}
# Common to all four scripts (§2.9 header, §2.4, §2.7, §2.8).
COMMON = dict(batch_size=64, critic_iter=5, lambda1=10.0, adaptive_lambda=True, feedback_loop=2, beta1=0.5,
              encoder_hidden=4096, ngh=4096, ndh=4096, classifier_epochs=25, classifier_input="x_dec_h",
              use_feedback=True, use_decoder=True, eval_every=1, latent_size=None, classifier_batch_size=None,
              precision="fp32", noise_device="device")


def _config(env: str) -> TFVAEGANConfig:
    loader = ProjectConfigLoader(conf_source=str(REPO_ROOT / "conf"), base_env="base", default_run_env=env)
    return TFVAEGANParams.model_validate(loader["parameters"]["tfvaegan"]).config()


@pytest.mark.parametrize("env", sorted(SPEC))
def test_env_parameters_match_the_spec_table(env):
    config = _config(env).to_dict()
    expected = {k: v for k, v in SPEC[env].items() if k not in ("attr", "nclass")} | COMMON
    assert {k: config[k] for k in expected} == expected


@pytest.mark.parametrize("env", sorted(SPEC))
def test_env_builds_the_reference_networks(env):
    """Layer shapes of §2.2 for the dataset's embedding size (latent = attribute size)."""
    attr = SPEC[env]["attr"]
    config = _config(env)
    models, _, _ = build_training_state(config, feature_dim=2048, attr_dim=attr, device=torch.device("cpu"))
    shapes = {name: tuple(p.shape) for name, p in models.named_parameters()}
    assert shapes["encoder.fc1.weight"] == (4096, 2048 + attr)
    assert shapes["encoder.fc3.weight"] == (2 * attr, 4096)
    assert shapes["encoder.linear_means.weight"] == (attr, 2 * attr)
    assert shapes["generator.fc1.weight"] == (4096, 2 * attr)
    assert shapes["generator.fc3.weight"] == (2048, 4096)
    assert shapes["critic.fc1.weight"] == (4096, 2048 + attr)
    assert shapes["critic.fc2.weight"] == (1, 4096)
    assert shapes["decoder.fc1.weight"] == (4096, 2048)
    assert shapes["decoder.fc3.weight"] == (attr, 4096)
    assert shapes["feedback.fc1.weight"] == (4096, 4096)
    assert shapes["feedback.fc2.weight"] == (4096, 4096)
