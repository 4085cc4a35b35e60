"""Hebbian rules: Oja's rule, BCM with a sliding threshold, Sanger's generalised Hebbian algorithm.

All three are *batched* rate rules on linear(-ish) units ``y = W x``. One update takes a batch
``x [B, F]`` and applies the batch-mean weight change; a leading step axis ``x [S, B, F]`` runs S
updates in sequence (the Numba twins in ``kernels/hebbian.py`` fuse that loop into one call)::

    oja     w [F]       y_b = w . x_b                 w += lr * mean_b (y_b x_b - y_b**2 w)
    sanger  W [K, F]    y_b = W x_b                   W += lr * mean_b (y_b x_b^T - LT(y_b y_b^T) W)
    bcm     W [N, F]    y_b = act(W x_b)              theta = d * theta + (1 - d) * mean_b y_b**2
                                                      W += lr * mean_b y_b (y_b - theta) x_b^T

``LT`` keeps the lower triangle with the diagonal. Oja's unit converges to the unit-length first
principal component of zero-mean data (Oja 1982); Sanger's rows converge to the first K principal
components in order (Sanger 1989); a BCM unit (Bienenstock, Cooper & Munro 1982, with the
Intrator-Cooper threshold ``theta = <y**2>``) becomes selective: with P equiprobable linearly
independent inputs it answers ``y = P`` to one of them and 0 to the rest. ``theta`` must track
``<y**2>`` faster than ``W`` moves (a small ``theta_decay`` relative to ``lr``).

Calling convention (the registry's ``oja`` / ``bcm`` / ``sanger`` pairs; torch tensors on any device
here, numpy arrays in the kernels): ``update(w, x, params, state) -> (w_new, state)``. Oja and Sanger
are stateless (``state`` is passed through, usually ``None``); BCM's state is ``BCMState(theta [N])``.
Unlike the gradient-style rules (``ff``) these return the *new* weights, because S fused steps only
make sense when each step sees the previous one's weights. :func:`fit` trains on a data set with a
progress bar.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple, get_args

import numpy as np
import torch

from neuro.checks import check_number
from neuro.errors import ConfigError

Activation = Literal["linear", "relu"]
ACTIVATIONS: tuple[str, ...] = get_args(Activation)
RULES = ("oja", "bcm", "sanger")


def _check(rule: str, name: str, v, lo: float, hi: float, open_lo: bool = False) -> None:
    check_number(f"{rule} {name}", v, lo=lo, hi=hi, lo_open=open_lo)


@dataclass(frozen=True)
class OjaParams:
    """lr: learning rate per batch update (> 0, at most 10)."""

    lr: float = 0.01

    def __post_init__(self) -> None:
        _check("oja", "lr", self.lr, 0.0, 10.0, open_lo=True)


@dataclass(frozen=True)
class SangerParams:
    """lr: learning rate per batch update (> 0, at most 10)."""

    lr: float = 0.01

    def __post_init__(self) -> None:
        _check("sanger", "lr", self.lr, 0.0, 10.0, open_lo=True)


@dataclass(frozen=True)
class BCMParams:
    """lr: learning rate (> 0). theta_decay: ``d`` of the sliding threshold's running average of
    ``y**2`` per batch, in [0, 1) (0: theta = this batch's mean ``y**2``). activation: ``"linear"``
    (``y = W x``) or ``"relu"`` (``y = max(W x, 0)``, a rate neuron)."""

    lr: float = 0.01
    theta_decay: float = 0.9
    activation: Activation = "relu"

    def __post_init__(self) -> None:
        _check("bcm", "lr", self.lr, 0.0, 10.0, open_lo=True)
        _check("bcm", "theta_decay", self.theta_decay, 0.0, 0.999999)
        if self.activation not in ACTIVATIONS:
            raise ConfigError(f"bcm activation={self.activation!r} is not supported; allowed: {', '.join(ACTIVATIONS)}.")


class BCMState(NamedTuple):
    """theta ``[N]``: each unit's sliding modification threshold (running average of ``y**2``)."""

    theta: torch.Tensor


def bcm_initial_state(n_units: int, theta0: float = 0.0, device=None, dtype=torch.float32) -> BCMState:
    return BCMState(torch.full((n_units,), float(theta0), device=device, dtype=dtype))


def _steps(x: torch.Tensor, w: torch.Tensor, rule: str, w_ndim: int) -> torch.Tensor:
    """``x`` as ``[S, B, F]``; shape errors name the rule and the expected shapes."""
    F_ = w.shape[-1]
    if w.ndim != w_ndim or x.ndim not in (2, 3) or x.shape[-1] != F_:
        want = "w [F]" if w_ndim == 1 else "w [K, F]"
        raise ConfigError(f"{rule} update got w {tuple(w.shape)} and x {tuple(x.shape)}; allowed: {want} with "
                          f"x [B, F] (one update) or [S, B, F] (S updates in sequence), same F.")
    return x.unsqueeze(0) if x.ndim == 2 else x


@torch.no_grad()
def oja_update(w: torch.Tensor, x: torch.Tensor, p: OjaParams, state=None):
    """Oja's rule for one linear unit. w ``[F]``, x ``[B, F]`` or ``[S, B, F]`` -> ``(w_new [F], state)``."""
    xs = _steps(x, w, "oja", 1)
    w = w.clone()
    for xb in xs:
        y = xb @ w
        w += p.lr * (y @ xb - (y * y).sum() * w) / xb.shape[0]
    return w, state


@torch.no_grad()
def sanger_update(w: torch.Tensor, x: torch.Tensor, p: SangerParams, state=None):
    """Generalised Hebbian algorithm. w ``[K, F]``, x ``[B, F]`` or ``[S, B, F]`` -> ``(w_new, state)``."""
    xs = _steps(x, w, "sanger", 2)
    w = w.clone()
    for xb in xs:
        y = xb @ w.T
        w += p.lr * (y.T @ xb - torch.tril(y.T @ y) @ w) / xb.shape[0]
    return w, state


@torch.no_grad()
def bcm_update(w: torch.Tensor, x: torch.Tensor, p: BCMParams, state: BCMState | None = None):
    """BCM with a sliding threshold. w ``[N, F]``, x ``[B, F]`` or ``[S, B, F]``, state ``BCMState`` (None:
    theta = 0) -> ``(w_new [N, F], BCMState)``. Per step: y from the current W, theta updated first,
    then ``W += lr * mean_b y (y - theta) x^T``."""
    xs = _steps(x, w, "bcm", 2)
    theta = torch.zeros(w.shape[0], dtype=w.dtype, device=w.device) if state is None else state[0].clone()
    if theta.shape != (w.shape[0],):
        raise ConfigError(f"bcm state theta {tuple(theta.shape)} does not fit w {tuple(w.shape)}; allowed: theta [N].")
    w = w.clone()
    for xb in xs:
        y = xb @ w.T
        if p.activation == "relu":
            y = torch.relu(y)
        theta = p.theta_decay * theta + (1.0 - p.theta_decay) * (y * y).mean(0)
        w += p.lr * ((y * (y - theta)).T @ xb) / xb.shape[0]
    return w, BCMState(theta)


def principal_components(x, k: int) -> np.ndarray:
    """The top ``k`` principal directions (rows, unit length, sign fixed so the largest entry is
    positive) of data ``x [n, F]`` after removing the mean: numpy's ``eigh`` of the covariance."""
    x = np.asarray(x, dtype=np.float64)
    x = x - x.mean(0)
    vals, vecs = np.linalg.eigh(x.T @ x / len(x))
    pcs = vecs[:, ::-1][:, :k].T.copy()
    return pcs * np.sign(pcs[np.arange(k), np.abs(pcs).argmax(1)])[:, None]


def fit(rule: str, w, data, p, state=None, *, epochs: int = 1, batch_size: int = 32, seed: int = 0,
        backend: str = "torch", progress: bool = True):
    """Train ``w`` with a Hebbian ``rule`` (``"oja"``, ``"bcm"``, ``"sanger"``) on ``data [n, F]``.

    Each epoch shuffles the rows (``seed``; the same order on both backends), drops the last partial
    batch and runs ``n // batch_size`` updates: one Python step per batch on ``"torch"`` (tensors stay
    on their device), one fused kernel call per epoch on ``"numba"``. A tqdm bar counts epochs.
    ``w``/``data`` may be torch tensors or numpy arrays; the result has the type of ``w``.
    Returns ``(w, state)``.
    """
    from tqdm.auto import tqdm

    from neuro.registry import get

    if rule not in RULES:
        raise ConfigError(f"rule={rule!r} is not a Hebbian rule; allowed: {', '.join(RULES)}.")
    if backend not in ("torch", "numba"):
        raise ConfigError(f"backend={backend!r} is not supported; allowed: torch, numba.")
    for name, v, lo in (("epochs", epochs, 1), ("batch_size", batch_size, 1)):
        if not isinstance(v, int) or isinstance(v, bool) or v < lo:
            raise ConfigError(f"{name}={v!r} is out of range; allowed: an integer >= {lo}.")
    n = len(data)
    if n < batch_size:
        raise ConfigError(f"batch_size={batch_size} is larger than the data ({n} rows); allowed: 1..{n}.")
    as_torch = isinstance(w, torch.Tensor)
    impl = get(rule, backend)
    if backend == "numba":
        w_ = w.detach().cpu().numpy() if as_torch else np.asarray(w)
        d_ = data.detach().cpu().numpy() if isinstance(data, torch.Tensor) else np.asarray(data)
        d_ = d_.astype(w_.dtype, copy=False)
        st = None if state is None else tuple(s.detach().cpu().numpy() if isinstance(s, torch.Tensor) else s
                                               for s in state)
    else:
        w_ = w if as_torch else torch.from_numpy(np.asarray(w))
        d_ = data if isinstance(data, torch.Tensor) else torch.from_numpy(np.asarray(data))
        d_ = d_.to(w_.device, w_.dtype)
        st = None if state is None else BCMState(*(torch.as_tensor(s, device=w_.device) for s in state))
    rng = np.random.default_rng(seed)
    S = n // batch_size
    for _ in tqdm(range(epochs), desc=f"fit {rule} ({backend})", unit="epoch", disable=not progress):
        perm = rng.permutation(n)[: S * batch_size]
        if backend == "numba":
            w_, st = impl(w_, d_[perm].reshape(S, batch_size, -1), p, st)
        else:
            idx = torch.from_numpy(perm).to(d_.device).view(S, batch_size)
            for s in range(S):
                w_, st = impl(w_, d_[idx[s]], p, st)
    if backend == "numba":
        if as_torch:
            w_ = torch.from_numpy(w_).to(w.device)
            st = None if st is None else BCMState(*(torch.from_numpy(s).to(w.device) for s in st))
        elif st is not None:
            st = BCMState(*st)
    elif not as_torch:
        w_ = w_.numpy()
        st = None if st is None else BCMState(*(s.numpy() for s in st))
    return w_, st
