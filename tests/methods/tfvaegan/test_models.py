"""TF-VAEGAN networks: shapes, reference layer structure, init, feedback injection, decoder output."""

import pytest
import torch
import torch.nn.functional as F

from toy_data import make_tiny_tfvaegan
from zsl_pipeline.methods.tfvaegan.models import (
    Critic,
    Encoder,
    Feedback,
    Generator,
    SemanticDecoder,
    generate,
)
from zsl_pipeline.models import LinearLogSoftmax

D, A, H = 16, 5, 32


@pytest.fixture
def models():
    return make_tiny_tfvaegan(D, A, H, seed=0)


def test_shapes_follow_the_reference(models):
    x, a = torch.rand(4, D), F.normalize(torch.randn(4, A), dim=1)
    mu, logvar = models.encoder(x, a)
    assert mu.shape == logvar.shape == (4, A)
    assert models.encoder.fc1.in_features == D + A and models.encoder.fc3.out_features == 2 * A
    out = models.generator(mu, a)
    assert out.shape == (4, D) and bool(((out > 0) & (out < 1)).all())  # sigmoid output
    assert models.critic(x, a).shape == (4,)
    a_hat, h = models.decoder(x)
    assert a_hat.shape == (4, A) and h.shape == (4, H)
    assert torch.allclose(a_hat.norm(dim=1), torch.ones(4), atol=1e-6)
    assert h.requires_grad  # not detached: callers detach where the reference does
    assert models.feedback(h).shape == (4, H)


def test_init_is_normal_002_with_zero_bias():
    net = Feedback(hidden_dim=256, generator=torch.Generator().manual_seed(1))
    w = net.fc1.weight
    assert abs(w.std().item() - 0.02) < 1e-3 and abs(w.mean().item()) < 1e-3
    assert torch.count_nonzero(net.fc1.bias) == 0 and torch.count_nonzero(net.fc2.bias) == 0


def test_seeded_build_is_reproducible_and_leaves_global_rng_alone():
    state = torch.get_rng_state()
    a = make_tiny_tfvaegan(D, A, H, seed=3)
    assert torch.equal(state, torch.get_rng_state())
    b = make_tiny_tfvaegan(D, A, H, seed=3)
    assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())


def test_feedback_is_added_after_the_first_hidden_lrelu():
    g = Generator(A, A, D, hidden_dim=H, generator=torch.Generator().manual_seed(2))
    z, a, f = torch.randn(3, A), torch.randn(3, A), torch.randn(3, H)
    g1 = F.leaky_relu(g.fc1(torch.cat([z, a], 1)), 0.2)
    expected = torch.sigmoid(g.fc3(g1 + 0.7 * f))
    assert torch.allclose(g(z, a, feedback=f, feedback_weight=0.7), expected)
    assert torch.allclose(g(z, a, feedback=f, feedback_weight=0.0), g(z, a))


def test_generate_with_feedback_matches_manual_and_sends_no_gradient_to_dec(models):
    z, a = torch.randn(3, A), torch.randn(3, A)
    out = generate(models, z, a, feedback_weight=0.5)
    _, h = models.decoder(models.generator(z, a))
    manual = models.generator(z, a, feedback=models.feedback(h.detach()), feedback_weight=0.5)
    assert torch.allclose(out, manual)
    out.sum().backward()
    assert all(p.grad is None for p in models.decoder.parameters())
    assert all(p.grad is not None for p in models.feedback.parameters())


def test_generate_feedback_source_uses_that_hidden(models):
    z, a, src = torch.randn(3, A), torch.randn(3, A), torch.rand(3, D)
    out = generate(models, z, a, feedback_weight=1.0, feedback_source=src)
    _, h = models.decoder(src)
    assert torch.allclose(out, models.generator(z, a, feedback=models.feedback(h), feedback_weight=1.0))


def test_standalone_modules_and_classifier():
    gen = torch.Generator().manual_seed(4)
    assert Encoder(D, A, A, H, gen)(torch.rand(2, D), torch.rand(2, A))[0].shape == (2, A)
    assert Critic(D, A, H, gen)(torch.rand(2, D), torch.rand(2, A)).shape == (2,)
    assert SemanticDecoder(D, A, H, gen)(torch.rand(2, D))[0].shape == (2, A)
    clf = LinearLogSoftmax(D, 7, generator=gen)
    logp = clf(torch.rand(5, D))
    assert logp.shape == (5, 7) and torch.allclose(logp.exp().sum(1), torch.ones(5))
    assert torch.count_nonzero(clf.fc.bias) == 0
