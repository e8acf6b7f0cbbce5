"""Conditional WGAN-GP feature generators and critics: f-CLSWGAN, ZS-WGAN and FiLM-WGAN.

* :class:`ConcatGenerator` / :class:`ConcatCritic`: two-layer MLPs conditioned by concatenating the
  class embedding to the input — f-CLSWGAN's ``MLP_G`` / ``MLP_CRITIC`` (methods_spec.md §4.1) and
  ZS-WGAN's networks (methods_spec_part2.md §7.3), which differ only in their initialisation.
* :class:`FiLM`, :class:`FiLMGenerator`, :class:`FiLMCritic`: FiLM-WGAN, where the embedding
  enters only through one feature-wise affine modulation in each network (part 2 §7.3).

Initialisation (``init``): ``"bias_zero"`` = weights N(0, 0.02²), biases 0 (f-CLSWGAN's
``weights_init``); ``"all_normal"`` = every parameter, biases included, N(0, 0.02²) (Hemati's
``helper_functions.py``). Parameters are drawn in registration order from the given
``torch.Generator`` on the CPU; move the network to its device afterwards. ``init=None`` skips
the draw (the network is about to load a state dict).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zsl_pipeline.models.critic import MLPCritic
from zsl_pipeline.models.init import INIT_STD, init_linear, linear

#: LeakyReLU slope of the generators' and critics' hidden layers (§4.1, part 2 §7.3).
LRELU_SLOPE = 0.2
#: The two initialisation schemes (see the module docstring).
INIT_SCHEMES = ("bias_zero", "all_normal")
#: LeakyReLU slope of FiLM's γ and β: PyTorch's default, not the nets' 0.2 (part 2 §7.3, §7.11.2).
FILM_SLOPE = 0.01


def init_network(module: nn.Module, init: str | None, generator: torch.Generator | None = None) -> None:
    """Initialise every Linear of ``module`` with scheme ``init`` (see :data:`INIT_SCHEMES`).

    ``init=None`` leaves the parameters uninitialised (for a network about to load a state dict).
    """
    if init is None:
        return
    if init == "bias_zero":
        init_linear(module, generator, std=INIT_STD)
    elif init == "all_normal":
        with torch.no_grad():
            for param in module.parameters():
                nn.init.normal_(param, mean=0.0, std=INIT_STD, generator=generator)
    else:
        raise ValueError(f"unknown init scheme {init!r}; expected one of {INIT_SCHEMES}")


class ConcatGenerator(nn.Module):
    """G(z, a): [z; a] -> hidden, LReLU(0.2) -> feature_dim, ReLU (§4.1 ``MLP_G``; §7.3 ZS-WGAN)."""

    def __init__(
        self,
        noise_dim: int,
        attr_dim: int,
        hidden_dim: int,
        feature_dim: int = 2048,
        *,
        init: str | None = "bias_zero",
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        self.noise_dim = noise_dim
        self.fc1 = linear(noise_dim + attr_dim, hidden_dim)
        self.fc2 = linear(hidden_dim, feature_dim)
        init_network(self, init, generator)

    def forward(self, z: Tensor, a: Tensor) -> Tensor:
        """Return non-negative features (B, feature_dim)."""
        h = F.leaky_relu(self.fc1(torch.cat((z, a), dim=1)), LRELU_SLOPE)
        return F.relu(self.fc2(h))


class ConcatCritic(MLPCritic):
    """D(x, a): [x; a] -> hidden, LReLU(0.2) -> 1, linear (§4.1 ``MLP_CRITIC``; §7.3 ZS-WGAN)."""

    slope = LRELU_SLOPE

    def __init__(
        self,
        feature_dim: int,
        attr_dim: int,
        hidden_dim: int,
        init: str | None = "bias_zero",
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        self.fc1 = linear(feature_dim + attr_dim, hidden_dim)
        self.fc2 = linear(hidden_dim, 1)
        init_network(self, init, generator)


class FiLM(nn.Module):
    """FiLM(h, a) = γ(a) ⊙ h + β(a), γ and β two independent Linear(attr_dim -> num_features) maps,
    each followed by LeakyReLU(0.01) when ``use_actv`` (part 2 §7.3; no residual "1 + γ").

    Its Linear layers are created uninitialised: the enclosing network initialises them.
    """

    def __init__(self, attr_dim: int, num_features: int, use_actv: bool = True):
        super().__init__()
        self.use_actv = use_actv
        self.gamma = linear(attr_dim, num_features)
        self.beta = linear(attr_dim, num_features)

    def forward(self, h: Tensor, a: Tensor) -> Tensor:
        """Modulate ``h`` (B, num_features) by the embeddings ``a`` (B, attr_dim)."""
        gamma, beta = self.gamma(a), self.beta(a)
        if self.use_actv:
            gamma, beta = F.leaky_relu(gamma, FILM_SLOPE), F.leaky_relu(beta, FILM_SLOPE)
        return gamma * h + beta


class FiLMGenerator(nn.Module):
    """G(z, a): z -> n_h/4, LReLU -> FiLM(a) -> n_h, LReLU -> feature_dim, ReLU (part 2 §7.3).

    The noise is the only input of the first layer; widths use integer division.
    """

    def __init__(
        self,
        noise_dim: int,
        attr_dim: int,
        hidden_dim: int,
        feature_dim: int = 2048,
        *,
        init: str | None = "all_normal",
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        if hidden_dim < 4:
            raise ValueError(f"FiLMGenerator needs hidden_dim >= 4 (n_h/4 layer), got {hidden_dim}")
        self.noise_dim = noise_dim
        self.fc1 = linear(noise_dim, hidden_dim // 4)
        self.film = FiLM(attr_dim, hidden_dim // 4)
        self.fc2 = linear(hidden_dim // 4, hidden_dim)
        self.fc3 = linear(hidden_dim, feature_dim)
        init_network(self, init, generator)

    def forward(self, z: Tensor, a: Tensor) -> Tensor:
        """Return non-negative features (B, feature_dim)."""
        h = self.film(F.leaky_relu(self.fc1(z), LRELU_SLOPE), a)
        h = F.leaky_relu(self.fc2(h), LRELU_SLOPE)
        return F.relu(self.fc3(h))


class FiLMCritic(nn.Module):
    """D(x, a): x -> n_h, LReLU -> n_h/2, LReLU -> FiLM(a) -> n_h/4, LReLU -> 1 (part 2 §7.3)."""

    def __init__(
        self,
        feature_dim: int,
        attr_dim: int,
        hidden_dim: int,
        init: str | None = "all_normal",
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        if hidden_dim < 4:
            raise ValueError(f"FiLMCritic needs hidden_dim >= 4 (n_h/4 layer), got {hidden_dim}")
        self.fc1 = linear(feature_dim, hidden_dim)
        self.fc2 = linear(hidden_dim, hidden_dim // 2)
        self.film = FiLM(attr_dim, hidden_dim // 2)
        self.fc3 = linear(hidden_dim // 2, hidden_dim // 4)
        self.fc4 = linear(hidden_dim // 4, 1)
        init_network(self, init, generator)

    def forward(self, x: Tensor, a: Tensor) -> Tensor:
        """Return critic scores, shape (B,)."""
        h = F.leaky_relu(self.fc1(x), LRELU_SLOPE)
        h = self.film(F.leaky_relu(self.fc2(h), LRELU_SLOPE), a)
        h = F.leaky_relu(self.fc3(h), LRELU_SLOPE)
        return self.fc4(h).squeeze(1)


#: Architecture name -> (generator class, critic class).
ARCHITECTURES: dict[str, tuple[type[nn.Module], type[nn.Module]]] = {
    "concat": (ConcatGenerator, ConcatCritic),
    "film": (FiLMGenerator, FiLMCritic),
}


def build_wgan(
    architecture: str,
    *,
    feature_dim: int,
    attr_dim: int,
    noise_dim: int,
    ngh: int,
    ndh: int,
    init: str,
    generator: torch.Generator | None = None,
) -> tuple[nn.Module, nn.Module]:
    """(G, D) of ``architecture`` ("concat" | "film"), initialised from ``generator`` in that order."""
    if architecture not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {architecture!r}; expected one of {tuple(ARCHITECTURES)}")
    gen_cls, critic_cls = ARCHITECTURES[architecture]
    net_g = gen_cls(noise_dim, attr_dim, ngh, feature_dim, init=init, generator=generator)
    net_d = critic_cls(feature_dim, attr_dim, ndh, init=init, generator=generator)
    return net_g, net_d
