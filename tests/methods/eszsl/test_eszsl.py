"""ESZSL: the closed form against a direct solve and least squares, selection without test labels."""

import numpy as np
import pytest
import torch

from zsl_pipeline.evaluation.metrics import harmonic_mean
from zsl_pipeline.methods.eszsl.closed_form import (
    ESZSL_GRID,
    fit_eszsl,
    predict_eszsl,
    run_eszsl,
    select_eszsl,
)


def _eszsl_problem(seed=0, m=60, d=8, a=4, classes=5):
    rng = np.random.default_rng(seed)
    S = rng.normal(size=(classes + 2, a))
    y = np.arange(m) % classes
    X = S[y] @ rng.normal(size=(a, d)) + 0.1 * rng.normal(size=(m, d))
    return X, y, S


def test_eszsl_closed_form_equals_direct_formula():
    X, y, S = _eszsl_problem()
    gamma, lam = 0.3, 2.0
    V = fit_eszsl(X, y, S, gamma, lam).numpy()
    # The paper's column convention: X (d x m), Y (m x z) one-hot, S (a x z) seen embeddings.
    Xc, Sc = X.T, S[:5].T
    Y = np.eye(5)[y]
    direct = (
        np.linalg.inv(Xc @ Xc.T + gamma * np.eye(8))
        @ Xc
        @ Y
        @ Sc.T
        @ np.linalg.inv(Sc @ Sc.T + lam * np.eye(4))
    )
    assert np.allclose(V, direct, rtol=1e-9, atol=1e-12)
    # Same V as two np.linalg.solve calls.
    left = np.linalg.solve(Xc @ Xc.T + gamma * np.eye(8), Xc @ Y @ Sc.T)
    assert np.allclose(V, np.linalg.solve(Sc @ Sc.T + lam * np.eye(4), left.T).T)


def test_eszsl_predict_is_argmax_over_candidates():
    X, y, S = _eszsl_problem()
    V = fit_eszsl(X, y, S, 1e-3, 1e-3)
    candidates = np.array([1, 3, 4])
    pred = predict_eszsl(V, X, S, candidates).numpy()
    scores = X @ V.numpy() @ S[candidates].T
    assert np.array_equal(pred, candidates[scores.argmax(1)])
    assert (predict_eszsl(V, X, S, np.arange(5)).numpy() == y).mean() > 0.9  # separable training data


def test_eszsl_selection_and_protocol(toy_dataset):
    ds = toy_dataset
    X = torch.as_tensor(ds.features, dtype=torch.float64)
    y = torch.as_tensor(ds.labels)
    S = torch.as_tensor(ds.class_embeddings, dtype=torch.float64)
    tr, va = torch.as_tensor(ds.splits["train"]), torch.as_tensor(ds.splits["val"])
    gamma, lam, acc = select_eszsl(X[tr], y[tr], X[va], y[va], S)
    assert gamma in ESZSL_GRID and lam in ESZSL_GRID and 0.0 <= acc <= 1.0
    result = run_eszsl(ds)
    assert (result.gamma, result.lam, result.selected_on) == (gamma, lam, "val classes")
    assert 0.0 <= result.zsl_accuracy <= 1.0
    assert result.harmonic_mean == pytest.approx(float(harmonic_mean(result.acc_seen, result.acc_unseen)))


def test_eszsl_closed_form_is_the_least_squares_minimiser():
    """V solves the stationarity system (X Xᵀ + γI) V (S Sᵀ + λI) = X Y Sᵀ of the ESZSL objective
    ‖Xᵀ V S − Y‖² + γ‖V S‖² + λ‖Xᵀ V‖² + γλ‖V‖², solved here directly as one least-squares
    problem in vec(V) (Kronecker form), not by the two inverses of the closed form."""
    X, y, S = _eszsl_problem(seed=3)
    gamma, lam = 0.5, 1.5
    Xc, Sc, Y = X.T, S[:5].T, np.eye(5)[y]
    A, B = Xc @ Xc.T + gamma * np.eye(8), Sc @ Sc.T + lam * np.eye(4)
    # vec(A V B) = (Bᵀ ⊗ A) vec(V) with column-major vec.
    vec_v = np.linalg.lstsq(np.kron(B.T, A), (Xc @ Y @ Sc.T).reshape(-1, order="F"), rcond=None)[0]
    V = fit_eszsl(X, y, S, gamma, lam).numpy()
    assert np.allclose(V, vec_v.reshape(8, 4, order="F"), rtol=1e-8, atol=1e-10)

    def objective(v):
        return (np.sum((Xc.T @ v @ Sc - Y) ** 2) + gamma * np.sum((v @ Sc) ** 2)
                + lam * np.sum((Xc.T @ v) ** 2) + gamma * lam * np.sum(v**2))

    rng = np.random.default_rng(0)
    assert all(objective(V) < objective(V + 1e-3 * rng.normal(size=V.shape)) for _ in range(5))


def test_eszsl_selection_never_reads_test_labels(toy_dataset):
    """Scrambling the test labels (within each test split) leaves the chosen (γ, λ) unchanged."""
    import dataclasses

    ds = toy_dataset
    labels = ds.labels.copy()
    rng = np.random.default_rng(1)
    for split in ("test_seen", "test_unseen"):
        idx = ds.splits[split]
        labels[idx] = rng.permutation(labels[idx])
    scrambled = dataclasses.replace(ds, labels=labels)
    assert not np.array_equal(scrambled.labels, ds.labels)
    a, b = run_eszsl(ds), run_eszsl(scrambled)
    assert (a.gamma, a.lam, a.val_accuracy) == (b.gamma, b.lam, b.val_accuracy)
    assert a.selected_on == "val classes"
