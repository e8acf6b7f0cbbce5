"""CADA-VAE networks, reparameterisation and loss terms (methods_spec.md §3.2-§3.4).

Two VAEs share one latent space: an image VAE (features -> latent -> features) and an attribute
VAE (class embedding -> latent -> class embedding). Structure and initialisation follow the
reference (``model/models.py``): one hidden ReLU layer per network, Xavier-uniform weights with
gain 0.5, zero bias, no BatchNorm or dropout. Layer names (``feature_encoder``, ``_mu``,
``_logvar``, ``feature_decoder``) match the reference so its weights map one to one. Every loss
term is a SUM over batch and dimensions (the reference's ``L1Loss(size_average=False)``; the
warm-up factors are calibrated for sums, §3.7 pitfall 3).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zsl_pipeline.models.init import linear  # uninitialised Linear (skip_init)
from zsl_pipeline.training.streams import randn

#: Gain of the Xavier-uniform weight initialisation (§3.2, ``weights_init``).
INIT_GAIN = 0.5
#: Latent size of the reference (§3.2).
REFERENCE_LATENT = 64
#: (encoder hidden, decoder hidden) of the reference's ``hidden_size_rule`` (§3.2).
REFERENCE_IMAGE_HIDDEN = (1560, 1660)
REFERENCE_ATTRIBUTE_HIDDEN = (1450, 665)
#: Reparameterisation modes (§3.3): the reference's quirk and the textbook sampler.
REPARAMETERIZATIONS = ("reference", "textbook")


class Warmup(NamedTuple):
    """A warm-up schedule: the factor rises linearly from 0 at ``start`` to ``factor`` at ``end``."""

    factor: float
    start: int
    end: int


#: The reference's warm-up table (§3.4; global, the same for every dataset).
BETA_WARMUP = Warmup(0.25, 0, 93)  # β, the KL weight
CROSS_RECONSTRUCTION_WARMUP = Warmup(2.37, 21, 75)  # γ
DISTANCE_WARMUP = Warmup(8.13, 6, 22)  # δ, the distribution-alignment weight


def init_xavier(module: nn.Module, generator: torch.Generator | None = None, gain: float = INIT_GAIN) -> None:
    """Initialise every Linear in ``module`` (in ``modules()`` order): Xavier-uniform(gain), bias 0 (§3.2).

    ``generator`` (on the layers' device) makes the init reproducible without touching the
    global RNG.
    """
    for layer in module.modules():
        if isinstance(layer, nn.Linear):
            with torch.no_grad():
                nn.init.xavier_uniform_(layer.weight, gain=gain, generator=generator)
                if layer.bias is not None:
                    layer.bias.zero_()


class Encoder(nn.Module):
    """input -> hidden, ReLU -> two linear heads (μ, "logvar"), each ``latent_dim`` (§3.2)."""

    def __init__(
        self,
        input_dim: int,
        hidden_dim: int,
        latent_dim: int = REFERENCE_LATENT,
        *,
        generator: torch.Generator | None = None,
        device: torch.device | None = None,
        initialise: bool = True,
    ):
        super().__init__()
        self.feature_encoder = nn.Sequential(linear(input_dim, hidden_dim, device), nn.ReLU())
        self._mu = linear(hidden_dim, latent_dim, device)
        self._logvar = linear(hidden_dim, latent_dim, device)
        if initialise:
            init_xavier(self, generator)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Return (μ, logvar), each (B, latent)."""
        h = self.feature_encoder(x)
        return self._mu(h), self._logvar(h)


class Decoder(nn.Module):
    """latent -> hidden, ReLU -> output (linear, no output activation) (§3.2)."""

    def __init__(
        self,
        latent_dim: int,
        hidden_dim: int,
        output_dim: int,
        *,
        generator: torch.Generator | None = None,
        device: torch.device | None = None,
        initialise: bool = True,
    ):
        super().__init__()
        self.feature_decoder = nn.Sequential(
            linear(latent_dim, hidden_dim, device), nn.ReLU(), linear(hidden_dim, output_dim, device)
        )
        if initialise:
            init_xavier(self, generator)

    def forward(self, z: Tensor) -> Tensor:
        """Return the reconstruction (B, output_dim)."""
        return self.feature_decoder(z)


class CADAVAEModels(nn.Module):
    """The four CADA-VAE networks in one container (``.to``, ``.train``, ``.eval``); no ``forward``."""

    #: Names of the networks, in construction (and initialisation) order — the reference's order.
    NAMES = ("image_encoder", "attribute_encoder", "image_decoder", "attribute_decoder")

    def __init__(
        self,
        image_encoder: Encoder,
        attribute_encoder: Encoder,
        image_decoder: Decoder,
        attribute_decoder: Decoder,
    ):
        super().__init__()
        self.image_encoder, self.attribute_encoder = image_encoder, attribute_encoder
        self.image_decoder, self.attribute_decoder = image_decoder, attribute_decoder

    def networks(self) -> dict[str, nn.Module]:
        """Name -> network, in :attr:`NAMES` order."""
        return {name: getattr(self, name) for name in self.NAMES}


def build_cada_vae(
    *,
    feature_dim: int,
    attr_dim: int,
    latent_dim: int = REFERENCE_LATENT,
    image_hidden: tuple[int, int] = REFERENCE_IMAGE_HIDDEN,
    attribute_hidden: tuple[int, int] = REFERENCE_ATTRIBUTE_HIDDEN,
    generator: torch.Generator | None = None,
    device: torch.device | None = None,
    initialise: bool = True,
) -> CADAVAEModels:
    """Build the image/attribute encoders and decoders with the §3.2 shapes, directly on ``device``.

    ``*_hidden`` = (encoder hidden, decoder hidden). The init draws from ``generator`` in
    :attr:`CADAVAEModels.NAMES` order. ``initialise=False`` leaves the weights uninitialised (no
    RNG draw), for networks that are about to receive a ``state_dict``.
    """
    init = {"generator": generator, "device": device, "initialise": initialise}
    return CADAVAEModels(
        image_encoder=Encoder(feature_dim, image_hidden[0], latent_dim, **init),
        attribute_encoder=Encoder(attr_dim, attribute_hidden[0], latent_dim, **init),
        image_decoder=Decoder(latent_dim, image_hidden[1], feature_dim, **init),
        attribute_decoder=Decoder(latent_dim, attribute_hidden[1], attr_dim, **init),
    )


# ---- reparameterisation (§3.3) -----------------------------------------------------------------


def _noise_dtype(mu: Tensor) -> torch.dtype:
    """fp32 noise for half-precision latents (under autocast), else the latents' own dtype."""
    return torch.float32 if mu.dtype in (torch.bfloat16, torch.float16) else mu.dtype


def reparameterize(mu: Tensor, logvar: Tensor, generator: torch.Generator, mode: str = "reference") -> Tensor:
    """Sample z from the encoder outputs (§3.3).

    * ``"reference"`` (the released code's quirk, default): z = μ + exp(logvar) · ε with ONE
      scalar ε ~ N(0, 1) per sample, drawn as ``torch.randn(B, 1)`` from ``generator`` (on its
      own device, then moved to ``mu``'s) and
      broadcast over all latent dims; the scale is exp(logvar), not exp(½·logvar). All samples
      of one input lie on a line through μ along the σ vector.
    * ``"textbook"``: z = μ + exp(½·logvar) ⊙ ε, ε ~ N(0, I) of ``mu``'s shape.

    Test-time encoding uses μ alone (no call to this function).
    """
    if mode == "reference":
        eps = randn((mu.shape[0], 1), generator, mu.device, dtype=_noise_dtype(mu))
        return mu + torch.exp(logvar) * eps
    if mode == "textbook":
        eps = randn(mu.shape, generator, mu.device, dtype=_noise_dtype(mu))
        return mu + torch.exp(0.5 * logvar) * eps
    raise ValueError(f"reparameterisation mode must be one of {REPARAMETERIZATIONS}, got {mode!r}")


# ---- loss terms (§3.4); all sums over batch and dims -------------------------------------------


def l1_sum(prediction: Tensor, target: Tensor) -> Tensor:
    """Σ |prediction − target| over batch and dims (``L1Loss(size_average=False)``)."""
    return F.l1_loss(prediction, target, reduction="sum")


def reconstruction_loss(x: Tensor, x_from_x: Tensor, a: Tensor, a_from_a: Tensor) -> Tensor:
    """L_rec = |x − D_x(z_x)|₁ + |a − D_a(z_a)|₁ (§3.4)."""
    return l1_sum(x_from_x, x) + l1_sum(a_from_a, a)


def cross_reconstruction_loss(x: Tensor, x_from_a: Tensor, a: Tensor, a_from_x: Tensor) -> Tensor:
    """L_CA = |x − D_x(z_a)|₁ + |a − D_a(z_x)|₁ (§3.4)."""
    return l1_sum(x_from_a, x) + l1_sum(a_from_x, a)


def kl_divergence(mu: Tensor, logvar: Tensor) -> Tensor:
    """Σ −½(1 + logvar − μ² − e^{logvar}) over batch and dims, for ONE encoder (§3.4).

    L_KL is the sum of this term for the image and the attribute encoder. (The reference stores
    the negative and subtracts it: equivalent.)
    """
    return -0.5 * torch.sum(1.0 + logvar - mu.pow(2) - logvar.exp())


def distribution_alignment(mu_x: Tensor, logvar_x: Tensor, mu_a: Tensor, logvar_a: Tensor) -> Tensor:
    """L_DA = Σ_batch sqrt(‖μ_x − μ_a‖² + ‖e^{½logvar_x} − e^{½logvar_a}‖²) (§3.4).

    The 2-Wasserstein distance between diagonal Gaussians with logvar read as log σ² —
    inconsistent with the reference sampler's exp(logvar) scale (§3.7 pitfall 4), kept as is.
    (The reference writes e^{½logvar} as sqrt(exp(logvar)); mathematically identical.)
    """
    mean_term = torch.sum((mu_x - mu_a) ** 2, dim=1)
    std_term = torch.sum((torch.exp(0.5 * logvar_x) - torch.exp(0.5 * logvar_a)) ** 2, dim=1)
    return torch.sqrt(mean_term + std_term).sum()


def warmup_factor(epoch: int, warmup: Warmup | tuple[float, int, int]) -> float:
    """factor(e) = clip(F·(e − start)/(end − start), 0, F) for the 0-based epoch e (§3.4).

    Constant within an epoch. ``warmup`` = (F, start, end) with end > start.
    """
    factor, start, end = warmup
    value = (epoch - start) / (end - start) * factor  # the reference's order of operations
    return float(min(max(value, 0.0), factor))
