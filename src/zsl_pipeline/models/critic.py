"""The one-hidden-layer conditional WGAN critic and its fused WGAN-GP pass.

TF-VAEGAN's critic (methods_spec.md §2.2) and f-CLSWGAN's ``MLP_CRITIC`` (§4.1) are the same
network, D(x, a) = w2·LReLU(W1 [x; a] + b1) + b2. A WGAN-GP critic step needs D on the real and
the fake batch and the gradient ∇_x D at the interpolates, differentiable in the critic's
parameters. Autograd gets that gradient by a double backward through three separate passes;
for this network it has a closed form,

    ∇_x D(x̂, â) = (w2 ⊙ LReLU'(p̂)) W1[:, :d_x],   p̂ = W1 [x̂; â] + b1,

and LReLU' is piecewise constant, so its derivative contributes nothing: the closed form gives
the same per-sample scores, gradients and parameter gradients as the double backward (only the
floating-point summation order differs). :class:`MLPCritic` computes the three batches in one
pass through W1 and, in float32, the parameter gradients with one product per weight
(:class:`_FusedWGANGP`): fewer, larger matrix products and no gradient accumulation between
passes (benchmarks/tfvaegan_speed.py shows the effect).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _slopes(pre: Tensor, slope: float) -> Tensor:
    """LReLU'(pre): 1 where pre > 0, ``slope`` elsewhere (autograd's convention at 0)."""
    return torch.where(pre > 0, pre.new_tensor(1.0), pre.new_tensor(slope))


class _FusedWGANGP(torch.autograd.Function):
    """Scores of the first ``n`` rows of ``inputs`` and ∇_x D at the remaining rows, with a
    hand-written backward for the parameters (the inputs are constants of a critic step). The
    backward is not itself differentiable: a critic step needs first derivatives only."""

    @staticmethod
    def forward(ctx, inputs: Tensor, n: int, feature_dim: int, w1: Tensor, b1: Tensor, w2: Tensor, b2: Tensor,  # noqa: PLR0917 (autograd.Function.apply takes positional arguments only)
                slope: float) -> tuple[Tensor, Tensor]:
        pre = torch.addmm(b1, inputs, w1.t())  # (n + m, H): one product for the three batches
        h = F.leaky_relu(pre[:n], slope)
        scores = torch.addmm(b2, h, w2.t()).squeeze(1)  # (n,)
        weighted = _slopes(pre[n:], slope) * w2  # (m, H) = w2 ⊙ LReLU'(p̂)
        grads = weighted @ w1[:, :feature_dim]  # (m, d_x)
        ctx.save_for_backward(inputs, pre, h, weighted, w1, w2)
        ctx.n, ctx.feature_dim, ctx.slope = n, feature_dim, slope
        return scores, grads

    @staticmethod
    def backward(ctx, d_scores: Tensor, d_grads: Tensor):
        inputs, pre, h, weighted, w1, w2 = ctx.saved_tensors
        n, feature_dim, slope = ctx.n, ctx.feature_dim, ctx.slope
        if d_scores is None:
            d_scores = pre.new_zeros(n)
        if d_grads is None:
            d_grads = pre.new_zeros(pre.shape[0] - n, feature_dim)
        d_pre = d_scores[:, None] * w2 * _slopes(pre[:n], slope)  # (n, H)
        # d/dW1: the scores' rows against [x; a], the gradient rows against [d_grads, 0] — one product
        left = torch.cat((d_pre, weighted))  # (n + m, H)
        right = torch.cat((inputs[:n], F.pad(d_grads, (0, inputs.shape[1] - feature_dim))))
        d_w1 = left.t() @ right
        d_b1 = d_pre.sum(0)
        d_weighted = d_grads @ w1[:, :feature_dim].t()  # (m, H)
        d_w2 = d_scores[None, :] @ h + (d_weighted * _slopes(pre[n:], slope)).sum(0, keepdim=True)
        d_b2 = d_scores.sum().reshape(1)
        return None, None, None, d_w1, d_b1, d_w2, d_b2, None


class MLPCritic(nn.Module):
    """D(x, a) = fc2(LReLU(fc1([x; a]))), scores of shape (B,). Subclasses build ``fc1`` (in:
    feature + embedding size) and ``fc2`` (out: 1) and initialise them."""

    fc1: nn.Linear
    fc2: nn.Linear
    #: LeakyReLU negative slope of the hidden layer (0.2 in both references).
    slope: float = 0.2

    def forward(self, x: Tensor, a: Tensor) -> Tensor:
        """Return critic scores, shape (B,)."""
        h = F.leaky_relu(self.fc1(torch.cat((x, a), dim=1)), self.slope)
        return self.fc2(h).squeeze(1)

    def scores_and_input_gradient(self, x: Tensor, a: Tensor, x_hat: Tensor, a_hat: Tensor) -> tuple[Tensor, Tensor]:
        """D(x, a) per row of ``x`` and ∇_x̂ D(x̂, â) per row of ``x_hat``, in one pass through fc1.

        Both are differentiable in the critic's parameters, as autograd's double backward makes
        them; the inputs are treated as constants (the critic step's batches need no gradient).
        """
        if any(t.requires_grad for t in (x, a, x_hat, a_hat)):
            raise ValueError("scores_and_input_gradient treats its inputs as constants: pass detached tensors")
        n, feature_dim = x.shape
        inputs = torch.cat((torch.cat((x, x_hat)), torch.cat((a, a_hat))), dim=1)
        if not torch.is_autocast_enabled():
            return _FusedWGANGP.apply(inputs, n, feature_dim, self.fc1.weight, self.fc1.bias, self.fc2.weight,
                                      self.fc2.bias, self.slope)
        # under autocast (bf16 on CUDA): the same closed form in autograd's ops, which autocast casts
        pre = self.fc1(inputs)
        scores = self.fc2(F.leaky_relu(pre[:n], self.slope)).squeeze(1)
        grads = (_slopes(pre[n:].detach(), self.slope) * self.fc2.weight) @ self.fc1.weight[:, :feature_dim]
        return scores, grads
