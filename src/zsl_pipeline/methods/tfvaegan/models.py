"""TF-VAEGAN networks: encoder E, generator G, critic D, semantic decoder Dec, feedback F.

Structure and initialisation follow the reference exactly (methods_spec.md §2.2): every Linear
layer is initialised N(0, 0.02²) with zero bias, LeakyReLU slope 0.2, no BatchNorm or dropout.
Layer names (fc1, fc3, linear_means, ...) match the reference so its weights map one to one.
Modules are pure: ``forward`` returns what the caller needs and never stashes tensors on ``self``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zsl_pipeline.models.critic import MLPCritic
from zsl_pipeline.models.init import init_linear, linear

#: LeakyReLU negative slope of every TF-VAEGAN network (§2.1).
LRELU_SLOPE = 0.2
#: Width of the reference's hard-coded hidden layers (E.fc1, G.fc1, and ngh = ndh in all scripts).
REFERENCE_HIDDEN = 4096


class Encoder(nn.Module):
    """E(x, a): [x; a] -> hidden, LReLU -> 2·latent, LReLU -> (μ, log σ²) heads (§2.2)."""

    def __init__(
        self,
        feature_dim: int,
        attr_dim: int,
        latent_dim: int,
        hidden_dim: int = REFERENCE_HIDDEN,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        self.fc1 = linear(feature_dim + attr_dim, hidden_dim)
        self.fc3 = linear(hidden_dim, 2 * latent_dim)
        self.linear_means = linear(2 * latent_dim, latent_dim)
        self.linear_log_var = linear(2 * latent_dim, latent_dim)
        init_linear(self, generator)

    def forward(self, x: Tensor, a: Tensor) -> tuple[Tensor, Tensor]:
        """Return (μ, log σ²), each (B, latent)."""
        h = F.leaky_relu(self.fc1(torch.cat((x, a), dim=-1)), LRELU_SLOPE)
        h = F.leaky_relu(self.fc3(h), LRELU_SLOPE)
        return self.linear_means(h), self.linear_log_var(h)


class Generator(nn.Module):
    """G(z, a): [z; a] -> hidden, LReLU =: g1 -> feature_dim, Sigmoid (§2.2).

    With feedback ``f`` (B, hidden) and weight δ, the hidden becomes g1 + δ·f before the output
    layer (the reference injects it after the first LReLU, §2.2 "Generator with feedback").
    """

    def __init__(
        self,
        latent_dim: int,
        attr_dim: int,
        feature_dim: int,
        hidden_dim: int = REFERENCE_HIDDEN,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        self.fc1 = linear(latent_dim + attr_dim, hidden_dim)
        self.fc3 = linear(hidden_dim, feature_dim)
        init_linear(self, generator)

    def forward(
        self, z: Tensor, a: Tensor, feedback: Tensor | None = None, feedback_weight: float = 0.0
    ) -> Tensor:
        """Return generated features (B, feature_dim) in (0, 1)."""
        g1 = F.leaky_relu(self.fc1(torch.cat((z, a), dim=-1)), LRELU_SLOPE)
        if feedback is not None:
            g1 = g1 + feedback_weight * feedback
        return torch.sigmoid(self.fc3(g1))


class Critic(MLPCritic):
    """Conditional WGAN critic D(x, a): [x; a] -> ndh, LReLU -> 1, no activation (§2.2).

    ``scores_and_input_gradient`` (:class:`MLPCritic`) gives a critic step's three passes in one.
    """

    slope = LRELU_SLOPE

    def __init__(
        self,
        feature_dim: int,
        attr_dim: int,
        hidden_dim: int = REFERENCE_HIDDEN,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        self.fc1 = linear(feature_dim + attr_dim, hidden_dim)
        self.fc2 = linear(hidden_dim, 1)
        init_linear(self, generator)


class SemanticDecoder(nn.Module):
    """Dec(x): x -> ngh, LReLU =: h -> attr_dim, row-wise L2 normalisation (§2.2 "AttDec").

    ``forward`` returns (â, h) with h *not* detached; callers detach h where the reference uses
    ``getLayersOutDet()`` (feedback input, §2.5).
    """

    def __init__(
        self,
        feature_dim: int,
        attr_dim: int,
        hidden_dim: int = REFERENCE_HIDDEN,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        self.fc1 = linear(feature_dim, hidden_dim)
        self.fc3 = linear(hidden_dim, attr_dim)
        init_linear(self, generator)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Return (â (B, attr_dim) with unit L2 rows, hidden h (B, hidden))."""
        h = F.leaky_relu(self.fc1(x), LRELU_SLOPE)
        out = self.fc3(h)
        # The reference divides by the row norm with no epsilon; F.normalize differs only for an
        # exactly-zero row (eps 1e-12 instead of a NaN).
        return F.normalize(out, p=2.0, dim=1), h


class Feedback(nn.Module):
    """F(h): hidden -> hidden, LReLU -> hidden, LReLU (§2.2). Width must equal G's hidden."""

    def __init__(self, hidden_dim: int = REFERENCE_HIDDEN, generator: torch.Generator | None = None):
        super().__init__()
        self.fc1 = linear(hidden_dim, hidden_dim)
        self.fc2 = linear(hidden_dim, hidden_dim)
        init_linear(self, generator)

    def forward(self, h: Tensor) -> Tensor:
        """Return the feedback signal f (B, hidden)."""
        return F.leaky_relu(self.fc2(F.leaky_relu(self.fc1(h), LRELU_SLOPE)), LRELU_SLOPE)


class TFVAEGANModels(nn.Module):
    """The five networks of TF-VAEGAN in one container (``.to``, ``.state_dict``, ``.train``).

    All five are always built, whatever the ablation switches say, so that one seed gives the
    same initial weights to E, G and D in every variant; unused networks are simply never stepped.
    The container has no ``forward``.
    """

    #: Names of the networks, in construction (and initialisation) order.
    NAMES = ("encoder", "generator", "critic", "decoder", "feedback")

    def __init__(
        self,
        encoder: Encoder,
        generator: Generator,
        critic: Critic,
        decoder: SemanticDecoder,
        feedback: Feedback,
    ):
        super().__init__()
        self.encoder, self.generator, self.critic = encoder, generator, critic
        self.decoder, self.feedback = decoder, feedback

    def networks(self) -> dict[str, nn.Module]:
        """Name -> network, in :attr:`NAMES` order."""
        return {name: getattr(self, name) for name in self.NAMES}


def build_tfvaegan(
    *,
    feature_dim: int,
    attr_dim: int,
    latent_dim: int,
    encoder_hidden: int = REFERENCE_HIDDEN,
    ngh: int = REFERENCE_HIDDEN,
    ndh: int = REFERENCE_HIDDEN,
    generator: torch.Generator | None = None,
) -> TFVAEGANModels:
    """Build E, G, D, Dec, F with the reference shapes; init draws from ``generator`` in order.

    ``ngh`` is the width shared by G's hidden layer, F and Dec's hidden layer: the feedback adds
    F(Dec-hidden) to G's hidden, so the three must agree (§2.2).
    """
    return TFVAEGANModels(
        encoder=Encoder(feature_dim, attr_dim, latent_dim, encoder_hidden, generator),
        generator=Generator(latent_dim, attr_dim, feature_dim, ngh, generator),
        critic=Critic(feature_dim, attr_dim, ndh, generator),
        decoder=SemanticDecoder(feature_dim, attr_dim, ngh, generator),
        feedback=Feedback(ngh, generator),
    )


def generate(
    models: TFVAEGANModels,
    z: Tensor,
    a: Tensor,
    feedback_weight: float | None = None,
    feedback_source: Tensor | None = None,
) -> Tensor:
    """G(z, a), optionally refined by one feedback step (§2.5 (3), §2.7).

    With ``feedback_weight`` δ set: x0 = G(z, a); h = Dec-hidden(``feedback_source`` if given,
    else x0), detached; x = G(z, a; F(h), δ). The first G pass only produces h (no gradient
    path from it, §2.5), so it runs without autograd. ``feedback_source`` exists for the FLO
    quirk, where the feedback for a prior-noise fake uses the hidden of x_rec (§2.5 note).
    """
    if feedback_weight is None:
        return models.generator(z, a)
    with torch.no_grad():
        source = models.generator(z, a) if feedback_source is None else feedback_source
        _, h = models.decoder(source)
    f = models.feedback(h.detach())
    return models.generator(z, a, feedback=f, feedback_weight=feedback_weight)
