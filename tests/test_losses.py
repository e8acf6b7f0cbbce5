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


# ---- the fused critic pass (models.critic) ----------------------------------------------------
def _separate_passes(critic, real, fake, cond, alpha):
    """The reference's three passes: D(real), D(fake), and the penalty by double backward."""
    return critic(real, cond), critic(fake, cond), losses.gradient_penalty(critic, real, fake, cond, alpha)


def _critic_step_values(critic, terms, real, fake, cond, alpha):
    """Scores, penalty and every parameter gradient of a γ/λ-weighted WGAN-GP critic loss."""
    critic.zero_grad(set_to_none=True)
    d_real, d_fake, penalty = terms(critic, real, fake, cond, alpha)
    (3.0 * losses.wgan_critic_loss(d_real, d_fake) + 7.0 * penalty).backward()
    return [d_real, d_fake, penalty] + [p.grad.clone() for p in critic.parameters()]


@pytest.fixture
def float64_penalty(monkeypatch):
    """The penalty in float64 (it is float32 by design), so the comparisons below see the passes."""
    monkeypatch.setattr(losses, "penalty_from_gradients", lambda g: (g.norm(p=2, dim=1) - 1.0).pow(2).mean())


def _critic_batch(generator, batch=6, feature_dim=20, attr_dim=7):
    draw = lambda *shape: torch.rand(*shape, generator=generator, dtype=torch.float64)  # noqa: E731
    return draw(batch, feature_dim), draw(batch, feature_dim), draw(batch, attr_dim), draw(batch, 1)


@pytest.mark.parametrize("network", ["tfvaegan", "clswgan"])
def test_fused_critic_pass_equals_three_passes_and_double_backward(float64_penalty, network):
    from zsl_pipeline.methods.tfvaegan.models import Critic
    from zsl_pipeline.methods.wgan.models import ConcatCritic

    g = torch.Generator().manual_seed(0)
    critic = (Critic(20, 7, 33, generator=g) if network == "tfvaegan" else ConcatCritic(20, 7, 33, generator=g)).double()
    with torch.no_grad():  # non-zero biases, so every parameter's gradient is checked
        critic.fc1.bias.normal_(generator=g)
        critic.fc2.bias.normal_(generator=g)
    batch = _critic_batch(g)
    reference = _critic_step_values(critic, _separate_passes, *batch)
    fused = _critic_step_values(critic, losses.critic_terms, *batch)
    assert len(fused) == 3 + 4
    for ref, new in zip(reference, fused):
        assert new.shape == ref.shape
        torch.testing.assert_close(new, ref, rtol=1e-12, atol=1e-15)
    assert reference[2].item() > 0.5  # a penalty far from 0: the gradient terms are exercised


def test_fused_critic_pass_uses_autograds_slope_at_zero(float64_penalty):
    """LReLU'(0) is the negative slope in autograd; the closed form must agree on dead units."""
    from zsl_pipeline.methods.tfvaegan.models import Critic

    g = torch.Generator().manual_seed(1)
    critic = Critic(20, 7, 33, generator=g).double()
    with torch.no_grad():
        critic.fc1.weight[::2] = 0.0  # every other hidden unit: pre-activation exactly 0
    batch = _critic_batch(g)
    for ref, new in zip(_critic_step_values(critic, _separate_passes, *batch),
                        _critic_step_values(critic, losses.critic_terms, *batch)):
        torch.testing.assert_close(new, ref, rtol=1e-12, atol=1e-15)


def test_critic_terms_of_any_other_critic_match_three_passes(float64_penalty):
    from zsl_pipeline.methods.wgan.models import FiLMCritic

    g = torch.Generator().manual_seed(2)
    critic = FiLMCritic(20, 7, 16, generator=g).double()
    assert not hasattr(critic, "scores_and_input_gradient")
    batch = _critic_batch(g)
    for ref, new in zip(_critic_step_values(critic, _separate_passes, *batch),
                        _critic_step_values(critic, losses.critic_terms, *batch)):
        torch.testing.assert_close(new, ref, rtol=1e-12, atol=1e-15)


def test_fused_critic_pass_refuses_inputs_that_need_gradients():
    from zsl_pipeline.methods.tfvaegan.models import Critic

    critic = Critic(4, 2, 8, generator=torch.Generator().manual_seed(0))
    x, a = torch.rand(3, 4, requires_grad=True), torch.rand(3, 2)
    with pytest.raises(ValueError, match="constants"):
        critic.scores_and_input_gradient(x, a, x.detach(), a)
