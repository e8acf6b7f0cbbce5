"""TF-VAEGAN's synthesis (§2.7), the x ⊕ Dec(x) ⊕ h transform and its classifier sets."""

import pytest
import torch

from toy_data import make_tiny_tfvaegan
from zsl_pipeline.evaluation import ClassifierConfig, fit_protocols
from zsl_pipeline.methods.tfvaegan.evaluate import transformed_sets
from zsl_pipeline.methods.tfvaegan.synthesis import synthesize, transform_features
from zsl_pipeline.training.features import prepare_features

D, A, H = 16, 8, 32


@pytest.fixture
def models():
    return make_tiny_tfvaegan(D, A, H, seed=0)


def test_synthesize_shapes_labels_and_determinism(models):
    emb = torch.nn.functional.normalize(torch.randn(9, A), dim=1)
    unseen = torch.tensor([6, 8])
    x, y = synthesize(models, unseen, emb, syn_num=5, a2=1.0, use_feedback=True, generator=torch.Generator().manual_seed(1))
    assert x.shape == (10, D) and y.tolist() == [6] * 5 + [8] * 5
    x2, _ = synthesize(models, unseen, emb, syn_num=5, a2=1.0, use_feedback=True, generator=torch.Generator().manual_seed(1))
    assert torch.equal(x, x2)
    # δ = 0 makes the feedback step a no-op: same output as no feedback, same noise.
    x0, _ = synthesize(models, unseen, emb, syn_num=5, a2=0.0, use_feedback=True, generator=torch.Generator().manual_seed(1))
    xn, _ = synthesize(models, unseen, emb, syn_num=5, a2=1.0, use_feedback=False, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(x0, xn) and not torch.allclose(x, xn)


def test_transform_modes(models):
    x = torch.rand(5, D)
    a_hat, h = models.decoder(x)
    full = transform_features(models.decoder, x, "x_dec_h")
    assert full.shape == (5, D + A + H) and not full.requires_grad
    assert torch.allclose(full, torch.cat([x, a_hat, h], 1))
    assert torch.allclose(transform_features(models.decoder, x, "x_h"), torch.cat([x, h], 1))
    assert transform_features(None, x, "x") is x
    with pytest.raises(ValueError):
        transform_features(None, x, "x_dec_h")


def test_protocols_with_decoder_transform(toy_dataset, models):
    data = prepare_features(toy_dataset, torch.device("cpu"))
    cfg = ClassifierConfig(epochs=1, batch_size=8, input_mode="x_dec_h")
    sets = transformed_sets(data, data.test_unseen_x[:6], data.test_unseen_y[:6], models.decoder, cfg.input_mode)
    assert sets.retrieval_sets()[0] is not sets.synthetic_x  # retrieval stays in the raw space
    result = fit_protocols(sets, data, cfg, cfg, torch.Generator().manual_seed(0))
    assert result.gzsl_classifier.fc.in_features == D + A + H and result.zsl_classifier.fc.out_features == 3
