"""Forward-forward (Hinton 2022): the layer-local goodness loss and its closed-form gradient.

One FF layer maps its (length-normalised) input ``x [B, F]`` to ``h = relu(x @ W.T + b) [B, N]``.
Its *goodness* is ``g = s * sum_j h_j**2`` with ``s = scale`` (``goodness = "sum_sq"``) or
``s = scale/N`` (``"mean_sq"``); ``scale`` (default 1) acts as an inverse temperature of the logistic
loss below (``theta`` is in the same units as ``g``). The layer is trained alone, from two forward passes, to push the goodness of positive
data above a threshold ``theta`` and that of negative data below it::

    L = mean_b softplus(theta - g_pos[b]) + mean_b softplus(g_neg[b] - theta)
        + peer * mean_j (m_j - mean_k m_k)**2                     (optional peer normalisation)

where ``m = momentum * m_running + (1 - momentum) * mean_b h_pos`` is the running mean activity of
each unit on positive data (state ``FFState.mean_activity``; the gradient flows only through the
current batch's term). Closed form, with ``B`` the batch size and ``N`` the width::

    dL/dg_pos = -sigmoid(theta - g_pos) / B           dL/dg_neg = sigmoid(g_neg - theta) / B
    dL/dz     = dL/dg * 2 s h   (h = 0 where z <= 0, so no separate ReLU mask is needed)
              + [pos only] peer * 2/N * (m_j - mean m) * (1 - momentum) / B * 1[z > 0]
    dL/dW     = dz_pos.T @ x_pos + dz_neg.T @ x_neg        dL/db = sum_b dz_pos + sum_b dz_neg

The rule returns the *gradient* ``(dL/dW, dL/db)``; the caller applies it (``W -= lr * dW`` or hands
it to an optimizer as ``.grad``). Nothing here ever sees another layer: inputs are plain tensors, and
``ff_layer_grad`` runs under ``torch.no_grad`` so no autograd graph can reach a previous layer.
``kernels/ff.py`` is the Numba twin of :func:`ff_layer_grad` (same signature on numpy arrays).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, NamedTuple, get_args

import torch
import torch.nn.functional as F

from neuro.errors import ConfigError

GoodnessName = Literal["sum_sq", "mean_sq"]
GOODNESS: tuple[str, ...] = get_args(GoodnessName)


@dataclass(frozen=True)
class FFParams:
    """Hyper-parameters of one FF layer's local loss.

    theta: goodness threshold (> 0); with ``"mean_sq"`` goodness ~1-2 is typical, with ``"sum_sq"``
        about the layer width. goodness: ``"sum_sq"`` or ``"mean_sq"``.
    scale: multiplies the goodness (> 0): the sharpness of the logistic loss (e.g. bounded spike
        rates with ``"mean_sq"``: ``scale = 50, theta = 10`` is threshold 0.2 at temperature 1/50).
    peer: weight of the peer-normalisation penalty (>= 0; 0 disables it).
    momentum: decay of the running mean activity used by peer normalisation, in [0, 1).
    eps: added to the input length in :func:`normalize` (> 0).
    """

    theta: float = 1.0
    goodness: GoodnessName = "mean_sq"
    peer: float = 0.0
    scale: float = 1.0
    momentum: float = 0.9
    eps: float = 1e-4

    def __post_init__(self) -> None:
        _check("theta", self.theta, 0.0, 1e9, open_lo=True)
        if self.goodness not in GOODNESS:
            raise ConfigError(f"goodness={self.goodness!r} is not supported; allowed: {', '.join(GOODNESS)}.")
        _check("peer", self.peer, 0.0, 1e6)
        _check("scale", self.scale, 0.0, 1e6, open_lo=True)
        _check("momentum", self.momentum, 0.0, 0.999999)
        _check("eps", self.eps, 0.0, 1.0, open_lo=True)


class FFState(NamedTuple):
    """Per-layer state: running mean activity ``[N]`` of each unit on positive data (peer norm)."""

    mean_activity: torch.Tensor


def _check(name: str, v, lo: float, hi: float, open_lo: bool = False) -> None:
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v <= hi \
        and (v > lo if open_lo else v >= lo)
    if not ok:
        bound = f"({lo}, {hi}]" if open_lo else f"[{lo}, {hi}]"
        raise ConfigError(f"ff {name}={v!r} is out of range; allowed: a number in {bound}.")


def initial_state(n_units: int, device=None, dtype=torch.float32) -> FFState:
    return FFState(torch.zeros(n_units, device=device, dtype=dtype))


def goodness_scale(p: FFParams, n_units: int) -> float:
    """``s`` in ``g = s * sum h**2``."""
    return p.scale if p.goodness == "sum_sq" else p.scale / n_units


def normalize(x: torch.Tensor, eps: float = 1e-4) -> torch.Tensor:
    """Length normalisation of each row, ``x / (||x||_2 / sqrt(F) + eps)``: rows get unit RMS, so only
    the *direction* of the previous layer's activity reaches the next layer (its goodness is hidden)."""
    rms = x.pow(2).mean(-1, keepdim=True).sqrt()
    return x / (rms + eps)


def goodness(h: torch.Tensor, p: FFParams) -> torch.Tensor:
    """``g [B]`` (or ``[...]``) of activities ``h [..., N]``."""
    return goodness_scale(p, h.shape[-1]) * h.pow(2).sum(-1)


def ff_loss(g_pos: torch.Tensor, g_neg: torch.Tensor, theta: float) -> torch.Tensor:
    """Logistic FF loss around ``theta``: mean softplus(theta - g_pos) + mean softplus(g_neg - theta)."""
    return F.softplus(theta - g_pos).mean() + F.softplus(g_neg - theta).mean()


def layer_loss(x_pos, x_neg, w, b, state: FFState, p: FFParams) -> tuple[torch.Tensor, FFState]:
    """The full layer loss as a differentiable torch expression (autograd reference of
    :func:`ff_layer_grad`). Inputs are the layer's (already normalised) inputs."""
    h_pos = torch.relu(x_pos @ w.T + b)
    h_neg = torch.relu(x_neg @ w.T + b)
    loss = ff_loss(goodness(h_pos, p), goodness(h_neg, p), p.theta)
    m = p.momentum * state[0].detach() + (1.0 - p.momentum) * h_pos.mean(0)
    if p.peer > 0:
        loss = loss + p.peer * (m - m.mean()).pow(2).mean()
    return loss, FFState(m.detach())


@torch.no_grad()
def ff_layer_grad(x_pos: torch.Tensor, x_neg: torch.Tensor, w: torch.Tensor, b: torch.Tensor,
                  state: FFState, p: FFParams):
    """Closed-form gradient of the FF layer loss (see the module docstring).

    x_pos, x_neg: ``[B, F]`` layer inputs (normalised); w ``[N, F]``; b ``[N]``; state ``FFState``.
    Returns ``(dW [N, F], db [N], new_state, loss (0-d), g_pos [B], g_neg [B])``.
    """
    B, N = x_pos.shape[0], w.shape[0]
    s = goodness_scale(p, N)
    h_pos = torch.relu(x_pos @ w.T + b)
    h_neg = torch.relu(x_neg @ w.T + b)
    g_pos, g_neg = s * h_pos.pow(2).sum(1), s * h_neg.pow(2).sum(1)
    loss = F.softplus(p.theta - g_pos).mean() + F.softplus(g_neg - p.theta).mean()
    m = p.momentum * state[0] + (1.0 - p.momentum) * h_pos.mean(0)
    dz_pos = (-torch.sigmoid(p.theta - g_pos) / B * 2.0 * s).unsqueeze(1) * h_pos
    dz_neg = (torch.sigmoid(g_neg - p.theta) / B * 2.0 * s).unsqueeze(1) * h_neg
    if p.peer > 0:
        dev = m - m.mean()
        loss = loss + p.peer * dev.pow(2).mean()
        dz_pos = dz_pos + (p.peer * 2.0 / N * (1.0 - p.momentum) / B) * dev * (h_pos > 0).to(h_pos.dtype)
    dw = dz_pos.T @ x_pos + dz_neg.T @ x_neg
    db = dz_pos.sum(0) + dz_neg.sum(0)
    return dw, db, FFState(m), loss, g_pos, g_neg


def ff_layer_grad_autograd(x_pos, x_neg, w, b, state: FFState, p: FFParams):
    """Same result as :func:`ff_layer_grad` by autograd confined to this layer: the inputs are detached
    and fresh leaf copies of ``w``/``b`` are differentiated, so the graph holds one layer only."""
    w_ = w.detach().clone().requires_grad_(True)
    b_ = b.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        loss, new = layer_loss(x_pos.detach(), x_neg.detach(), w_, b_, state, p)
        dw, db = torch.autograd.grad(loss, (w_, b_))
    with torch.no_grad():
        h_pos = torch.relu(x_pos @ w.T + b)
        h_neg = torch.relu(x_neg @ w.T + b)
    return dw, db, new, loss.detach(), goodness(h_pos, p), goodness(h_neg, p)


# ---------------------------------------------------------------------------------------------
# negatives and label embedding


def embed_label(x: torch.Tensor, y: torch.Tensor, n_classes: int, scale: float = 1.0) -> torch.Tensor:
    """``[B, F]`` images with a one-hot label ``[B, C]`` (times ``scale``) appended: ``[B, F + C]``.
    ``y = None`` appends the neutral label ``scale / C`` everywhere (used by the linear readout)."""
    if y is None:
        lab = torch.full((x.shape[0], n_classes), scale / n_classes, dtype=x.dtype, device=x.device)
    else:
        lab = F.one_hot(y.long(), n_classes).to(x.dtype) * scale
    return torch.cat([x, lab], dim=1)


def wrong_labels(y: torch.Tensor, n_classes: int, gen: torch.Generator | None = None,
                 scores: torch.Tensor | None = None) -> torch.Tensor:
    """A wrong label per sample: uniform over the other classes, or (``scores [B, C]`` given, e.g. the
    goodness of every label) drawn in proportion to ``softmax(scores)`` over the wrong classes
    (Hinton's hard negatives)."""
    if scores is None:
        off = torch.randint(1, n_classes, y.shape, generator=gen, device="cpu").to(y.device)
        return (y + off) % n_classes
    logits = scores.float().clone()
    logits[torch.arange(len(y)), y] = -math.inf
    prob = torch.softmax(logits - logits.max(1, keepdim=True).values, 1)
    return torch.multinomial(prob.cpu(), 1, generator=gen).squeeze(1).to(y.device)


def hybrid_negatives(x: torch.Tensor, image_shape: tuple[int, int], gen: torch.Generator | None = None,
                     blur_steps: int = 6) -> torch.Tensor:
    """Unsupervised negatives (Hinton): a random bit image blurred ``blur_steps`` times with the filter
    ``[1/4, 1/2, 1/4]`` in both directions and thresholded at 0.5 gives a mask with large regions;
    the negative is ``mask * x + (1 - mask) * x[perm]`` (two different images mixed).
    x: ``[B, H*W]`` -> ``[B, H*W]``."""
    B = x.shape[0]
    H, W = image_shape
    m = torch.rand((B, 1, H, W), generator=gen).to(x.device, x.dtype)
    k = torch.tensor([0.25, 0.5, 0.25], dtype=x.dtype, device=x.device)
    for _ in range(blur_steps):
        m = F.conv2d(F.pad(m, (1, 1, 0, 0), mode="replicate"), k.view(1, 1, 1, 3))
        m = F.conv2d(F.pad(m, (0, 0, 1, 1), mode="replicate"), k.view(1, 1, 3, 1))
    mask = (m > 0.5).to(x.dtype).view(B, H * W)
    perm = torch.randperm(B, generator=gen).to(x.device)
    same = perm == torch.arange(B, device=x.device)
    perm[same] = (perm[same] + 1) % B
    return mask * x + (1.0 - mask) * x[perm]
