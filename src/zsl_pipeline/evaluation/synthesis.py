"""What every generative method does after training: synthesize features of the unseen classes
and build the final classifiers' training and test sets from them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import torch
from torch import Tensor

from zsl_pipeline.training.streams import randn

if TYPE_CHECKING:  # type only
    from zsl_pipeline.training.features import FeatureTensors

#: Rows per forward pass in synthesis and transforms (bounds memory, results unchanged).
CHUNK_ROWS = 8192


@torch.no_grad()
def synthesize_classes(
    generate: Callable[[Tensor, Tensor], Tensor],
    classes: Tensor,
    class_embeddings: Tensor,
    *,
    n_per_class: int,
    noise_dim: int,
    rng: torch.Generator,
    device: torch.device | None = None,
) -> tuple[Tensor, Tensor]:
    """``n_per_class`` features for every class in ``classes`` (global ids), class-major.

    ``generate(z, a)`` maps noise and class embeddings to features. All noise, z ~ N(0, I), is
    drawn from ``rng`` up front, on ``rng``'s device (so chunking does not change the result, and
    a CPU generator serves a GPU run). Returns float32 (features, labels) on ``device`` (default:
    the embeddings' device).
    """
    device = class_embeddings.device if device is None else device
    labels = classes.to(device=device, dtype=torch.long).repeat_interleave(n_per_class)  # (n·k,)
    attrs = class_embeddings.to(device)[labels]
    z = randn((labels.shape[0], noise_dim), rng, device)
    parts = [generate(z[i : i + CHUNK_ROWS], attrs[i : i + CHUNK_ROWS]) for i in range(0, labels.shape[0], CHUNK_ROWS)]
    return torch.cat(parts).float(), labels


@dataclass(frozen=True, eq=False)
class ClassifierSets:
    """Training and test sets of the final classifiers, all in one classifier space, on one device.

    Labels are global class ids. ``gzsl_*``: the GZSL classifier's training set (real seen
    training features + synthetic unseen for the feature generators). ``zsl_*``: the ZSL
    classifier's (unseen classes only). ``test_seen_x`` / ``test_unseen_x``: the test features
    mapped into the same space (their labels are the data's). ``synthetic_*``: synthetic
    unseen-class samples in the same space (retrieval queries are their class means).
    ``retrieval_x``: (synthetic, test_seen, test_unseen) when retrieval runs in another space
    than the classifiers (TF-VAEGAN: the raw features, not x ⊕ Dec(x) ⊕ h); None = the same.
    """

    gzsl_x: Tensor
    gzsl_y: Tensor
    zsl_x: Tensor
    zsl_y: Tensor
    test_seen_x: Tensor
    test_unseen_x: Tensor
    synthetic_x: Tensor
    synthetic_y: Tensor
    retrieval_x: tuple[Tensor, Tensor, Tensor] | None = None

    def retrieval_sets(self) -> tuple[Tensor, Tensor, Tensor]:
        """(synthetic, test_seen, test_unseen) in the retrieval space."""
        return self.retrieval_x or (self.synthetic_x, self.test_seen_x, self.test_unseen_x)


def feature_sets(
    data: "FeatureTensors", syn_x: Tensor, syn_y: Tensor, transform: Callable[[Tensor], Tensor] | None = None
) -> ClassifierSets:
    """The classifier sets of a feature generator: GZSL = real training + synthetic unseen
    features, ZSL = synthetic unseen + any real training rows of unseen classes (few-shot mode);
    the tests are the real test features.

    ``transform`` maps every set into the classifier space (TF-VAEGAN's x ⊕ Dec(x) ⊕ h); the
    retrieval then stays in the raw feature space. None = classify the raw features.
    """
    identity = transform is None
    transform = transform or (lambda x: x)
    train, syn, seen, unseen = (transform(t) for t in (data.train_x, syn_x, data.test_seen_x, data.test_unseen_x))
    shots = torch.isin(data.train_y, data.unseen_classes)
    return ClassifierSets(
        gzsl_x=torch.cat([train, syn]),
        gzsl_y=torch.cat([data.train_y, syn_y]),
        zsl_x=torch.cat([syn, train[shots]]),
        zsl_y=torch.cat([syn_y, data.train_y[shots]]),
        test_seen_x=seen,
        test_unseen_x=unseen,
        synthetic_x=syn,
        synthetic_y=syn_y,
        retrieval_x=None if identity else (syn_x, data.test_seen_x, data.test_unseen_x),
    )
