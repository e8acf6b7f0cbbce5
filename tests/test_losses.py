"""Hand-computed checks of every loss in zsl_pipeline.losses (methods_spec.md §2.3)."""

import math

import pytest
import torch

from zsl_pipeline import losses


def test_weighted_l1_cycle_loss_by_hand():
    # row 1: d = [1, 0], ‖d‖ = 1, Σ|d|³ = 1 -> 1; row 2: d = [-3, -4], ‖d‖ = 5, Σ|d|³ = 91 -> 18.2
    pred = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    target = torch.tensor([[0.0, 0.0], [3.0, 4.0]])
    assert losses.weighted_l1_cycle_loss(pred, target).item() == pytest.approx((1.0 + 18.2) / 2)


def test_weighted_l1_cycle_loss_zero_row_is_finite_and_gradient_flows_through_weight():
    pred = torch.tensor([[0.5, 0.5], [0.0, 2.0]], requires_grad=True)
    target = torch.tensor([[0.5, 0.5], [0.0, 0.0]])
    loss = losses.weighted_l1_cycle_loss(pred, target)
    loss.backward()
    # row 2: d = [0, 2] -> 8 / 2 = 4; batch mean 2. d/dd of |d|³/‖d‖ for a 1-d error = 2·d.
    assert loss.item() == pytest.approx(2.0)
    assert torch.allclose(pred.grad, torch.tensor([[0.0, 0.0], [0.0, 2.0]]))


def test_vae_loss_by_hand():
    x_rec = torch.tensor([[0.5, 0.25], [0.5, 0.5]])
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    mu = torch.tensor([[0.0, 1.0], [0.0, 0.0]])
    logvar = torch.tensor([[0.0, 0.0], [math.log(2.0), 0.0]])
    bce, kl = losses.vae_loss_terms(x_rec, x, mu, logvar)
    bce_sum = -math.log(0.5) - math.log(0.75) - 2 * math.log(0.5)
    # KL row 1: -0.5·[(1+0-0-1) + (1+0-1-1)] = 0.5; row 2: -0.5·[(1+ln2-0-2) + 0] = 0.5·(1-ln2)
    kl_sum = 0.5 + 0.5 * (1.0 - math.log(2.0))
    assert bce.item() == pytest.approx(bce_sum / 2, rel=1e-6)
    assert kl.item() == pytest.approx(kl_sum / 2, rel=1e-6)
    total = losses.vae_loss(x_rec, x, mu, logvar)
    assert total.item() == pytest.approx((bce_sum + kl_sum) / 2, rel=1e-6)


def test_gradient_penalty_linear_critic_known_norm():
    w = torch.tensor([3.0, 4.0])  # ‖∇_x D‖ = ‖w‖ = 5 everywhere -> (5 - 1)² = 16

    def critic(x, a):
        return x @ w + a.sum(dim=1)

    real, fake = torch.randn(4, 2), torch.randn(4, 2)
    cond, alpha = torch.randn(4, 3), torch.rand(4, 1)
    gp = losses.gradient_penalty(critic, real, fake, cond, alpha)
    assert gp.item() == pytest.approx(16.0)


def test_gradient_penalty_uses_one_alpha_per_sample():
    # D(x) = ½‖x‖² -> ∇ = x̂ = α·real + (1-α)·fake, norm known per sample.
    def critic(x, a):
        return 0.5 * x.pow(2).sum(dim=1)

    real = torch.tensor([[2.0, 0.0], [0.0, 4.0]])
    fake = torch.zeros(2, 2)
    alpha = torch.tensor([0.5, 0.25])  # x̂ norms 1 and 1 -> penalty 0
    assert losses.gradient_penalty(critic, real, fake, None, alpha).item() == pytest.approx(0.0)
    alpha = torch.tensor([1.0, 1.0])  # norms 2 and 4 -> ((1)² + (3)²) / 2 = 5
    assert losses.gradient_penalty(critic, real, fake, None, alpha).item() == pytest.approx(5.0)


def test_gradient_penalty_trains_the_critic():
    layer = torch.nn.Linear(2, 1)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[3.0, 4.0]]))

    def critic(x, a):
        return layer(x).squeeze(-1)

    gp = losses.gradient_penalty(critic, torch.randn(3, 2), torch.randn(3, 2), None, torch.rand(3))
    gp.backward()
    # d/dw (‖w‖ − 1)² = 2(‖w‖ − 1)·w/‖w‖ = 8·[0.6, 0.8]
    assert torch.allclose(layer.weight.grad, torch.tensor([[4.8, 6.4]]))


def test_wgan_terms():
    d_real = torch.tensor([1.0, 3.0])
    d_fake = torch.tensor([0.0, -2.0])
    assert losses.wgan_critic_loss(d_real, d_fake).item() == pytest.approx(-1.0 - 2.0)
    assert losses.wgan_generator_loss(d_fake).item() == pytest.approx(1.0)
    assert losses.wasserstein_estimate(d_real, d_fake).item() == pytest.approx(3.0)
