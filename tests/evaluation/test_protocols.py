"""Synthesis, feature transform and the ZSL / GZSL classifier protocols on tiny tensors."""

import pytest
import torch
from toy_data import make_tiny_tfvaegan

from zsl_pipeline.evaluation import (
    ClassifierConfig,
    reference_best_over_epochs,
    synthesize,
    train_classifier_protocols,
    transform_features,
)
from zsl_pipeline.evaluation.protocols import batch_stream
from zsl_pipeline.training.tfvaegan_data import prepare_features

D, A, H = 16, 8, 32


@pytest.fixture
def models():
    return make_tiny_tfvaegan(D, A, H, seed=0)


def test_synthesize_shapes_labels_and_determinism(models):
    emb = torch.nn.functional.normalize(torch.randn(9, A), dim=1)
    unseen = torch.tensor([6, 8])
    x, y = synthesize(models, unseen, emb, 5, 1.0, True, torch.Generator().manual_seed(1))
    assert x.shape == (10, D) and y.tolist() == [6] * 5 + [8] * 5
    x2, _ = synthesize(models, unseen, emb, 5, 1.0, True, torch.Generator().manual_seed(1))
    assert torch.equal(x, x2)
    # δ = 0 makes the feedback step a no-op: same output as no feedback, same noise.
    x0, _ = synthesize(models, unseen, emb, 5, 0.0, True, torch.Generator().manual_seed(1))
    xn, _ = synthesize(models, unseen, emb, 5, 1.0, False, torch.Generator().manual_seed(1))
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


def test_batch_stream_is_a_stream_of_permutations():
    b = batch_stream(5, 2, 5, torch.Generator().manual_seed(0), torch.device("cpu"))
    flat = b.flatten()
    assert b.shape == (5, 2)
    assert sorted(flat[:5].tolist()) == list(range(5)) and sorted(flat[5:].tolist()) == list(range(5))


def test_protocols_on_separable_data(toy_dataset):
    data = prepare_features(toy_dataset, torch.device("cpu"))
    # "synthetic" unseen features: real test_unseen samples (a perfect generator)
    syn_x, syn_y = data.test_unseen_x, data.test_unseen_y
    cfg = ClassifierConfig(epochs=4, batch_size=16, lr=1e-2, input_mode="x")
    result = train_classifier_protocols(
        data, syn_x, syn_y, None, cfg, torch.device("cpu"), torch.Generator().manual_seed(0)
    )
    assert len(result.history) == 4
    last = result.history[-1]
    assert (
        result.final.zsl_accuracy == last["zsl_accuracy"]
        and result.final.harmonic_mean == last["harmonic_mean"]
    )
    assert result.best_on_test.zsl_accuracy == max(r["zsl_accuracy"] for r in result.history)
    best_h = max(result.history, key=lambda r: r["harmonic_mean"])
    assert result.best_on_test.acc_seen == best_h["acc_seen"]
    assert result.best_on_test.gzsl_epoch == best_h["epoch"]
    assert result.final.zsl_accuracy > 0.8  # trained on the test distribution itself
    assert result.per_class["zsl_unseen"].shape == (3,) and result.per_class["gzsl_seen"].shape == (6,)
    flat = result.flat_metrics()
    assert flat["final_zsl_accuracy"] == result.final.zsl_accuracy and "test_best_harmonic_mean" in flat


def test_protocols_with_decoder_transform(toy_dataset, models):
    data = prepare_features(toy_dataset, torch.device("cpu"))
    cfg = ClassifierConfig(epochs=1, batch_size=8, input_mode="x_dec_h")
    result = train_classifier_protocols(
        data,
        data.test_unseen_x[:6],
        data.test_unseen_y[:6],
        models.decoder,
        cfg,
        torch.device("cpu"),
        torch.Generator().manual_seed(0),
    )
    assert result.gzsl_classifier.fc.in_features == D + A + H and result.zsl_classifier.fc.out_features == 3


def test_reference_best_over_epochs_selects_independently():
    rows = [
        {
            "test_best_zsl_accuracy": 0.5,
            "test_best_acc_seen": 0.9,
            "test_best_acc_unseen": 0.1,
            "test_best_harmonic_mean": 0.18,
        },
        {
            "test_best_zsl_accuracy": 0.7,
            "test_best_acc_seen": 0.6,
            "test_best_acc_unseen": 0.2,
            "test_best_harmonic_mean": 0.30,
        },
        {
            "test_best_zsl_accuracy": 0.6,
            "test_best_acc_seen": 0.5,
            "test_best_acc_unseen": 0.4,
            "test_best_harmonic_mean": 0.44,
        },
    ]
    best = reference_best_over_epochs(rows)
    assert best["paper_zsl_accuracy"] == 0.7 and best["paper_zsl_index"] == 1
    assert (best["paper_acc_seen"], best["paper_acc_unseen"], best["paper_harmonic_mean"]) == (0.5, 0.4, 0.44)
