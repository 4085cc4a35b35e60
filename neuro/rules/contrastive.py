"""The contrastive Hebbian family: equilibrium propagation (EP), contrastive Hebbian learning (CHL) and
dual propagation (DP). Each returns *gradient estimates* (``dL/dW``, ``dL/db`` per layer) that the
caller hands to an optimizer, exactly like backprop's ``.grad``; nothing here builds an autograd graph.

**EP / CHL** (Scellier & Bengio 2017; centred variant of Laborieux et al. 2021) on a layered
Hopfield-style network with states ``s_1..s_L`` in ``[0, 1]`` (``s_0 = x`` clamped) and energy::

    E(s) = 1/2 sum_l |s_l|^2 - sum_l s_l . (W_l s_{l-1} + b_l)          C(s) = 1/2 |s_L - y|^2

The fixed-point solver sweeps the layers in order (Gauss-Seidel), each set to the minimiser of
``E + beta C`` in that layer given its neighbours, clipped to ``[0, 1]``::

    s_l <- clip(W_l s_{l-1} + b_l + W_{l+1}^T s_{l+1}, 0, 1)              (l < L)
    s_L <- clip((W_L s_{L-1} + b_L + beta y) / (1 + beta), 0, 1)    (beta > -1; for beta <= -1 the
                                    layer's energy is concave and its box minimum is 0 or 1)

Free phase: ``beta = 0`` for ``free_steps`` sweeps; nudged phases start from the free fixed point
with ``+beta`` (and ``-beta`` when ``centered``) for ``nudged_steps`` sweeps. As ``beta -> 0``::

    dL/dW_l = -(1 / (b1 - b2)) (s_l^{b1} s_{l-1}^{b1 T} - s_l^{b2} s_{l-1}^{b2 T})    (batch mean)

with ``(b1, b2) = (beta, -beta)`` (centred) or ``(beta, 0)``; ``L = C(s*)`` at the free fixed point.
CHL (``clamp=True``) clamps ``s_L = y`` in the second phase and uses ``(b1, b2) = (1, 0)``.

**DP** (Hoier, Staudt & Zach 2023, dyadic neurons, closed-form layerwise inference) on a feed-forward
net ``z_k = W_k sbar_{k-1} + b_k``, ``sbar_k = relu(z_k)`` (output linear, softmax cross-entropy).
After a forward pass, the output pair is nudged ``s_L^+ = z_L - alpha beta g``,
``s_L^- = z_L + (1 - alpha) beta g`` (``g = dloss/dz_L``), then one backward sweep sets for each
hidden layer ``d = s_{k+1}^+ - s_{k+1}^-``::

    s_k^+ = relu(z_k + alpha W_{k+1}^T d)        s_k^- = relu(z_k - (1 - alpha) W_{k+1}^T d)

and ``dL/dW_k = -(1/beta) (s_k^+ - s_k^-) sbar_{k-1}^T``, ``sbar = alpha s^+ + (1 - alpha) s^-``
(a single phase: no second relaxation). For ``beta -> 0`` this is backprop's gradient.

``kernels/contrastive.py`` holds the Numba twins of :func:`ep_settle` and :func:`dp_sweep`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from neuro.checks import check_number


def _check(name: str, v, lo: float, hi: float, integer: bool = False, open_lo: bool = False) -> None:
    check_number(name, v, lo=lo, hi=hi, lo_open=open_lo, integer=integer)


@dataclass(frozen=True)
class EPParams:
    """Equilibrium propagation / CHL settings (see the module docstring).

    beta: nudging strength (> 0). free_steps, nudged_steps: solver sweeps per phase (>= 1).
    centered: ``+-beta`` nudged phases (unbiased to second order) instead of ``+beta`` and free.
    clamp: contrastive Hebbian learning (output clamped to the target in the second phase).
    """

    beta: float = 0.5
    free_steps: int = 20
    nudged_steps: int = 4
    centered: bool = True
    clamp: bool = False

    def __post_init__(self) -> None:
        _check("ep.beta", self.beta, 0.0, 100.0, open_lo=True)
        _check("ep.free_steps", self.free_steps, 1, 100000, integer=True)
        _check("ep.nudged_steps", self.nudged_steps, 1, 100000, integer=True)


@dataclass(frozen=True)
class DPParams:
    """Dual propagation settings: nudging ``beta`` (> 0) and the dyadic split ``alpha`` in [0, 1]
    (1/2: symmetric nudging, the paper's recommended choice)."""

    beta: float = 0.1
    alpha: float = 0.5

    def __post_init__(self) -> None:
        _check("dp.beta", self.beta, 0.0, 100.0, open_lo=True)
        _check("dp.alpha", self.alpha, 0.0, 1.0)


# -- EP / CHL ---------------------------------------------------------------------------------------

@torch.no_grad()
def ep_settle(x: torch.Tensor, states: list[torch.Tensor], weights: list[torch.Tensor], biases: list[torch.Tensor],
              steps: int, beta: float = 0.0, target: torch.Tensor | None = None, clamp: bool = False) -> list[torch.Tensor]:
    """Run ``steps`` Gauss-Seidel sweeps of the solver in place on ``states`` (``[B, n_l]`` each) and
    return them. ``weights[l]``: ``[n_{l+1}, n_l]`` (layer l+1 from layer l, l = 0 is the input)."""
    L = len(weights)
    for _ in range(steps):
        for l in range(L):
            below = x if l == 0 else states[l - 1]
            h = torch.addmm(biases[l], below, weights[l].t())
            if l < L - 1:
                h.addmm_(states[l + 1], weights[l + 1])
                states[l].copy_(h.clamp_(0.0, 1.0))
            elif clamp:
                states[l].copy_(target)
            elif beta > -1.0:
                if beta != 0.0:
                    h.add_(target, alpha=beta).div_(1.0 + beta)
                states[l].copy_(h.clamp_(0.0, 1.0))
            else:  # 1 + beta <= 0: E + beta C is concave in s_L, its box minimum is a corner
                c = h.add_(target, alpha=beta)
                states[l].copy_((c > 0.5 * (1.0 + beta)).to(c.dtype))
    return states


def _outer_terms(x, states):
    """Per layer ``(s_l^T s_{l-1}, sum_b s_l)`` — the Hebbian statistics ``-dE/dW_l``, ``-dE/db_l``."""
    below = [x] + states[:-1]
    return [(s.t() @ a, s.sum(0)) for s, a in zip(states, below)]


@torch.no_grad()
def ep_grads(x: torch.Tensor, y: torch.Tensor, weights, biases, p: EPParams, states=None, backend: str = "torch"):
    """EP (or CHL) gradient estimates for one batch. ``y``: targets in ``[0, 1]`` ``[B, n_L]`` (one-hot).
    ``states``: the free phase's starting point (zeros when ``None``; persistent particles allowed).
    Returns ``(grads [(dW, db) per layer], free states)``; the free output is the prediction."""
    B = x.shape[0]
    settle = ep_settle if backend == "torch" else _numba_settle
    if states is None:
        states = [x.new_zeros(B, w.shape[0]) for w in weights]
    free = settle(x, [s.clone() for s in states], weights, biases, p.free_steps)
    if p.clamp:
        pos = settle(x, [s.clone() for s in free], weights, biases, p.nudged_steps, 0.0, y, clamp=True)
        neg, scale = free, 1.0
    else:
        pos = settle(x, [s.clone() for s in free], weights, biases, p.nudged_steps, p.beta, y)
        if p.centered:
            neg = settle(x, [s.clone() for s in free], weights, biases, p.nudged_steps, -p.beta, y)
            scale = 2.0 * p.beta
        else:
            neg, scale = free, p.beta
    grads = [(-(wp - wn) / (scale * B), -(bp - bn) / (scale * B))
             for (wp, bp), (wn, bn) in zip(_outer_terms(x, pos), _outer_terms(x, neg))]
    return grads, free


def _numba_settle(x, states, weights, biases, steps, beta=0.0, target=None, clamp=False):
    from kernels.contrastive import ep_settle_kernel
    from numba.typed import List

    xs = x.detach().contiguous().numpy()
    st = List([s.detach().contiguous().numpy() for s in states])
    ws = List([w.detach().contiguous().numpy() for w in weights])
    bs = List([b.detach().contiguous().numpy() for b in biases])
    tg = target.detach().contiguous().numpy() if target is not None else xs[:, :1] * 0
    ep_settle_kernel(xs, st, ws, bs, int(steps), float(beta), tg, bool(clamp))
    return [torch.from_numpy(a) for a in st]


# -- DP ---------------------------------------------------------------------------------------------

@torch.no_grad()
def dp_grads(x: torch.Tensor, y: torch.Tensor, weights, biases, p: DPParams, backend: str = "torch"):
    """Dual-propagation gradient estimates for one batch of a ReLU MLP with a linear output and
    softmax cross-entropy (``y``: int64 labels). Returns ``(grads [(dW, db) per layer], logits)``."""
    zs, sbar = [], [x]
    for k, (w, b) in enumerate(zip(weights, biases)):
        z = torch.addmm(b, sbar[-1], w.t())
        zs.append(z)
        if k < len(weights) - 1:
            sbar.append(torch.relu(z))
    logits = zs[-1]
    B = x.shape[0]
    g = (torch.softmax(logits, 1) - torch.nn.functional.one_hot(y, logits.shape[1]).to(logits.dtype)) / B
    if backend == "torch":
        diffs, sbar = dp_sweep(zs, sbar, weights, g, p.beta, p.alpha)
    else:
        from kernels.contrastive import dp_sweep_kernel
        from numba.typed import List

        f = g.numpy().dtype.type  # scalars in the arrays' dtype: float32 rounding as torch's
        d_np, sb_np = dp_sweep_kernel(List([z.contiguous().numpy() for z in zs]),
                                      List([s.contiguous().numpy() for s in sbar]),
                                      List([w.detach().contiguous().numpy() for w in weights]),
                                      g.contiguous().numpy(), f(p.alpha * p.beta), f((1.0 - p.alpha) * p.beta),
                                      f(p.alpha), f(1.0 - p.alpha))
        diffs, sbar = [torch.from_numpy(d) for d in d_np], [torch.from_numpy(s) for s in sb_np]
    grads = [(-(d.t() @ a) / p.beta, -d.sum(0) / p.beta) for d, a in zip(diffs, sbar)]
    return grads, logits


def dp_sweep(zs, sbar, weights, g, beta: float, alpha: float):
    """The closed-form backward sweep: per layer the difference ``s^+ - s^-`` and the layer inputs
    ``sbar`` (``sbar[0] = x``; hidden ``sbar_k = alpha s^+ + (1 - alpha) s^-``)."""
    L = len(weights)
    sp = zs[-1] - (alpha * beta) * g
    sm = zs[-1] + ((1.0 - alpha) * beta) * g
    diffs = [None] * L
    diffs[-1] = sp - sm
    sbar = list(sbar)
    for k in range(L - 2, -1, -1):
        u = diffs[k + 1] @ weights[k + 1]
        sp = torch.relu(zs[k] + alpha * u)
        sm = torch.relu(zs[k] - (1.0 - alpha) * u)
        diffs[k] = sp - sm
        sbar[k + 1] = alpha * sp + (1.0 - alpha) * sm
    return diffs, sbar
