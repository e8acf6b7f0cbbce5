"""The final-classifier protocols every method shares, on tiny tensors."""

import torch

from zsl_pipeline.evaluation import ClassifierConfig, feature_sets, fit_protocols, reference_best_over_epochs
from zsl_pipeline.evaluation.protocols import batch_stream
from zsl_pipeline.training.features import prepare_features


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
    result = fit_protocols(feature_sets(data, syn_x, syn_y), data, cfg, cfg, torch.Generator().manual_seed(0))
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
    assert [r["epoch"] for r in result.history] == [1, 2, 3, 4]  # 1-based, as every history
    assert (result.final.zsl_epoch, result.final.gzsl_epoch) == (4, 4)
    assert result.final.zsl_accuracy > 0.8  # trained on the test distribution itself
    assert result.per_class["zsl_unseen"].shape == (3,) and result.per_class["gzsl_seen"].shape == (6,)
    flat = result.flat_metrics()
    assert flat["final_zsl_accuracy"] == result.final.zsl_accuracy and "best_on_test_harmonic_mean" in flat


def test_reference_best_over_epochs_selects_independently():
    rows = [
        {
            "best_on_test_zsl_accuracy": 0.5,
            "best_on_test_acc_seen": 0.9,
            "best_on_test_acc_unseen": 0.1,
            "best_on_test_harmonic_mean": 0.18,
        },
        {
            "best_on_test_zsl_accuracy": 0.7,
            "best_on_test_acc_seen": 0.6,
            "best_on_test_acc_unseen": 0.2,
            "best_on_test_harmonic_mean": 0.30,
        },
        {
            "best_on_test_zsl_accuracy": 0.6,
            "best_on_test_acc_seen": 0.5,
            "best_on_test_acc_unseen": 0.4,
            "best_on_test_harmonic_mean": 0.44,
        },
    ]
    best = reference_best_over_epochs(rows)
    assert best["zsl_accuracy"] == 0.7 and best["zsl_index"] == 1
    assert (best["acc_seen"], best["acc_unseen"], best["harmonic_mean"]) == (0.5, 0.4, 0.44)
