"""Every generative method learns to use its condition (the class embeddings).

The other method tests check losses, shapes, determinism and settings; a generator that ignored
its condition would pass all of them. Here each method trains on a small, clearly separable toy
dataset and must (a) reach a ZSL accuracy (per-class mean top-1 on test_unseen, last classifier
epoch) well above chance and (b) beat the same method trained and evaluated with every class
embedding zeroed: with a zero condition every unseen class gets the same synthetic distribution,
so the ZSL classifier can only guess.

Only the stable public API is used (``get_method`` / ``Method``, ``prepared_data``,
``fit_protocols``), so the tests do not depend on where the methods' modules live.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from learnable import NUM_SEEN, NUM_UNSEEN, PARAMS, learnable_dataset
from zsl_pipeline.evaluation.protocols import fit_protocols
from zsl_pipeline.methods import GENERATIVE_METHODS, get_method
from zsl_pipeline.methods.runner import prepared_data

CPU = torch.device("cpu")
SEED = 0
CHANCE = 1 / NUM_UNSEEN

# Thresholds, chosen from measurements (2-core CPU, 1 torch thread, the settings in learnable.py) over
# method seeds 0-11 on this dataset; final ZSL accuracy, min-max (chance 1/8 = 0.125):
#   method      real condition   zeroed condition   real - zeroed
#   tfvaegan    0.900 - 1.000    0.000 - 0.250      0.675 - 1.000
#   clswgan     0.800 - 1.000    0.000 - 0.263      0.613 - 1.000
#   cada_vae    0.700 - 1.000    0.125 - 0.125      0.575 - 0.875   (*)
#   filmwgan    0.963 - 1.000    0.000 - 0.250      0.750 - 1.000
#   zswgan      0.963 - 1.000    0.000 - 0.263      0.725 - 1.000
# (seed 0, the one tested: real >= 0.912, zeroed <= 0.237.) MIN_ZSL sits midway between the
# lowest working run and the highest zeroed one, so it alone separates a method that ignores
# its condition; MIN_GAIN is half the smallest measured gain.
# (*) re-measured after CADA-VAE's initial weights moved to the CPU init stream (other weights
# and another training stream for each seed); before: real 0.762 - 1.000, gain 0.637 - 0.875.
MIN_ZSL = 0.5  # 4x chance
MIN_GAIN = 0.3  # ZSL(real) - ZSL(zeroed)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One intra-op thread: the networks are tiny, and on a busy 2-core machine two threads ran
    the same training several times slower (thread hand-offs dominate)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def learnable():
    return learnable_dataset()


def test_the_dataset_is_zero_shot_learnable(learnable):
    """The premise: distinct unseen classes, and a linear map fitted on the seen classes' means
    predicts unseen-class means that classify test_unseen perfectly by nearest mean."""
    emb, x, y = learnable.class_embeddings, learnable.features, learnable.labels
    unseen = emb[NUM_SEEN:]
    cos = unseen @ unseen.T
    assert cos[~np.eye(NUM_UNSEEN, dtype=bool)].max() < 0.6
    train = learnable.splits["trainval"]
    means = np.stack([x[train][y[train] == c].mean(0) for c in range(NUM_SEEN)])
    affine = np.linalg.lstsq(np.c_[emb[:NUM_SEEN], np.ones(NUM_SEEN)], means, rcond=None)[0]
    predicted = np.c_[unseen, np.ones(NUM_UNSEEN)] @ affine
    test = learnable.splits["test_unseen"]
    nearest = NUM_SEEN + np.linalg.norm(x[test][:, None] - predicted[None], axis=-1).argmin(1)
    assert (nearest == y[test]).mean() == 1.0


def zsl_accuracy(name: str, ds, zero_condition: bool) -> float:
    """Train ``name`` on ``ds`` and return its final ZSL accuracy; ``zero_condition``: every class
    embedding is zeroed after preprocessing (the contract rejects zero-norm embeddings, and
    TF-VAEGAN's preprocessing would L2-normalise them), for training and for the classifier sets."""
    method = get_method(name)
    config = method.config_from_params({**PARAMS[name], "seed": SEED})
    data = prepared_data(method, ds, 0, SEED, CPU)
    if zero_condition:
        data = dataclasses.replace(data, class_embeddings=torch.zeros_like(data.class_embeddings))
    checkpoint = method.train(data, config, CPU, None)
    generator = torch.Generator().manual_seed(SEED + 1)
    sets = method.classifier_sets(checkpoint, data, CPU, generator)
    gzsl_config, zsl_config = method.classifier_configs(config)
    return fit_protocols(sets, data, gzsl_config, zsl_config, generator).final.zsl_accuracy


def test_every_generative_method_has_learns_settings():
    assert set(PARAMS) == set(GENERATIVE_METHODS)


@pytest.mark.slow
@pytest.mark.parametrize("name", GENERATIVE_METHODS)
def test_method_learns_from_its_condition(name, learnable):
    real = zsl_accuracy(name, learnable, zero_condition=False)
    zeroed = zsl_accuracy(name, learnable, zero_condition=True)
    summary = (
        f"{name}: ZSL {real:.3f} with the class embeddings, {zeroed:.3f} with them zeroed (chance {CHANCE})"
    )
    assert real >= MIN_ZSL, summary
    assert real - zeroed >= MIN_GAIN, summary
