"""What every generative method provides, so the shared stages can run it.

A method package (``zsl_pipeline.methods.<name>``) differs from the others only in its networks,
losses and training loop. Its ``method`` module exposes a :class:`Method` record:

* ``config_from_params(params) -> config``: the method's frozen config dataclass from a
  mapping of its fields (the method's defaults fill the others), with at least ``seed`` and
  the classifier settings; ``config.to_dict()`` gives the mapping back. (The pipelines validate
  the parameters first: ``zsl_pipeline.pipelines.params``.)
* ``train(data, config, device, progress) -> checkpoint``: trains on ``data.train_x`` /
  ``data.train_y`` (the trainval split; in few-shot mode it also holds the moved unseen-class
  shots, so "training classes" means ``torch.unique(data.train_y)``) and returns the checkpoint
  envelope of ``zsl_pipeline.training.checkpoint`` (``format``, ``method``, ``config``,
  ``models``, ``history``, ``feature_dim``, ``attr_dim``) that ``torch.save`` can store.
* ``classifier_sets(checkpoint, data, device, generator) -> ClassifierSets``: the final
  classifiers' training and test sets in the method's classifier space (raw features for the
  WGANs, x ⊕ Dec(x) ⊕ h for TF-VAEGAN, the 64-d latent for CADA-VAE), and the synthetic
  unseen samples the retrieval queries are built from (retrieval runs in the feature space
  where there are synthetic features: TF-VAEGAN's raw x; CADA-VAE's in the latent space).
* ``classifier_configs(config) -> (gzsl, zsl)``: two ``ClassifierConfig`` (epochs, batch, lr,
  β1) of the final GZSL and ZSL softmax classifiers (``input_mode="x"``: the sets are already in
  the classifier space).

The shared code (``zsl_pipeline.methods.runner``) does the rest: preprocessing, few-shot
splits, the two classifier protocols, retrieval, seeds and tracking.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

import torch

from zsl_pipeline.evaluation.protocols import ClassifierConfig
from zsl_pipeline.evaluation.synthesis import ClassifierSets
from zsl_pipeline.training.features import FeatureTensors
from zsl_pipeline.training.resume import code_version

#: The shared code that shapes every method's training, hashed with the method's own package.
TRAINING_CODE = ("zsl_pipeline.training", "zsl_pipeline.models", "zsl_pipeline.losses")

#: progress(epochs_done, epochs_total) after every training epoch.
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Method:
    """One generative method, as the shared stages see it (see the module docstring)."""

    name: str
    config_from_params: Callable[[Mapping[str, Any]], Any]
    train: Callable[[FeatureTensors, Any, torch.device, "Progress | None"], dict[str, Any]]
    classifier_sets: Callable[[Mapping[str, Any], FeatureTensors, torch.device, torch.Generator], ClassifierSets]
    classifier_configs: Callable[[Any], tuple[ClassifierConfig, ClassifierConfig]]
    #: L2-normalise the class embeddings in preprocessing (TF-VAEGAN does; the others use `att` as stored).
    l2_normalise_embeddings: bool = False


def method_code_version(package: str) -> str:
    """The code version of a method's resume files: the package version and a hash of the
    sources of the method's ``package`` and of :data:`TRAINING_CODE`
    (:func:`zsl_pipeline.training.resume.code_version`)."""
    return code_version(package, *TRAINING_CODE)


def method_package(method: Method) -> str:
    """The package of ``method``'s code (e.g. ``zsl_pipeline.methods.wgan`` for the three WGANs)."""
    return method.train.__module__.rpartition(".")[0]


__all__ = ["ClassifierSets", "Method", "Progress", "TRAINING_CODE", "method_code_version", "method_package"]
