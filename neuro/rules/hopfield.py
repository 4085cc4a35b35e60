"""Associative memories: the pairwise Hopfield network and dense associative memories.

States and patterns are ``+-1`` vectors; a batch of states is ``s [B, N]``, stored patterns
``xi [P, N]``. The torch functions here run on the tensors' device; ``kernels/hopfield.py`` holds
their Numba twins (same arguments on numpy arrays), registered as ``hopfield`` and ``dense_am``.

Pairwise (Hopfield 1982)
    Hebbian storage ``W = xi^T xi / N`` with a zero diagonal (:func:`hebbian_weights`). Retrieval
    (:func:`hopfield_retrieve`) sets ``s_i <- sign(h_i)``, ``h = W s``; a unit whose field is within
    ``tie_eps`` of 0 keeps its state. ``mode="sync"`` updates all units at once per step;
    ``"async"`` updates one unit at a time, each sweep in a random order (:func:`async_orders`, a pure
    function of ``seed``, so both backends visit the units in the same order). Random patterns are
    stable up to ``P ~ 0.138 N`` (Amit, Gutfreund & Sompolinsky 1985).

Dense associative memory (Krotov & Hopfield 2016; Demircigil et al. 2017)
    Energy ``E(s) = -sum_mu F(o_mu)`` of the overlaps ``o_mu = xi_mu . s`` with ``F(x) = x**n``
    (``"poly"``), ``max(x, 0)**n`` (``"rect_poly"``) or ``exp(beta x)`` (``"exp"``). Unit ``i`` goes to
    the sign of ``field_i = -(E(s_i=+1) - E(s_i=-1))`` = ``sum_mu [F(a_mu + xi_mu,i) - F(a_mu - xi_mu,i)]``
    with ``a_mu = o_mu - xi_mu,i s_i`` the overlap without unit ``i``. Because every entry is ``+-1``
    the field of all units needs one matrix product (:func:`dense_field`)::

        field = H @ xi + s * c[:, None],   H = (F(o + 2) - F(o - 2)) / 2,   c = sum_mu (2 F(o) - F(o + 2) - F(o - 2)) / 2

    Implementation scalings that leave every sign (and every argmax across units) unchanged: the
    polynomials see ``x / 2**k`` with ``2**k >= N + 2`` (terms in [-1, 1], exact in float64 while
    ``n k + log2(P) <= 53``, so ties are exact), and the exponential sees ``beta (x - m)`` with
    ``m = max_mu o_mu + 2`` per state (no overflow). ``n = 2`` is the pairwise network: its field is
    ``4 N (W s) / 4**k``. Capacity grows like ``N**(n-1)`` (poly) and exponentially (exp).
    A field of exactly 0 keeps the unit's state. ``free`` restricts the update to some units (the
    label units of :class:`neuro.models.hopfield.DenseAMClassifier`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import torch

from neuro.checks import check_number
from neuro.errors import ConfigError

Mode = Literal["sync", "async"]
MODES: tuple[str, ...] = get_args(Mode)
Energy = Literal["poly", "rect_poly", "exp"]
ENERGIES: tuple[str, ...] = get_args(Energy)


def _check_int(rule: str, name: str, v, lo: int, hi: int) -> None:
    check_number(f"{rule} {name}", v, lo=lo, hi=hi, integer=True)


def _check_float(rule: str, name: str, v, lo: float, hi: float, open_lo: bool = False) -> None:
    check_number(f"{rule} {name}", v, lo=lo, hi=hi, lo_open=open_lo)


@dataclass(frozen=True)
class HopfieldParams:
    """Pairwise retrieval. mode: ``"sync"`` or ``"async"``. max_steps: synchronous steps or
    asynchronous sweeps at most (>= 1; retrieval stops earlier at a fixed point). seed: the unit
    order of the asynchronous sweeps. tie_eps: fields with ``|h| <= tie_eps`` keep the state (>= 0;
    the Hebbian fields are multiples of ``1/N``, far above the default)."""

    mode: Mode = "async"
    max_steps: int = 50
    seed: int = 0
    tie_eps: float = 1e-6

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"hopfield mode={self.mode!r} is not supported; allowed: {', '.join(MODES)}.")
        _check_int("hopfield", "max_steps", self.max_steps, 1, 1_000_000)
        _check_int("hopfield", "seed", self.seed, 0, 2**63 - 1)
        _check_float("hopfield", "tie_eps", self.tie_eps, 0.0, 1.0)


@dataclass(frozen=True)
class DenseAMParams:
    """Dense associative memory. energy: ``"poly"`` (``F = x**n``), ``"rect_poly"`` (``max(x,0)**n``)
    or ``"exp"`` (``F = exp(beta x)``). n: polynomial degree in [2, 30]. beta: inverse temperature of
    the exponential (> 0, per unit of overlap). mode / max_steps / seed as in :class:`HopfieldParams`."""

    energy: Energy = "poly"
    n: int = 3
    beta: float = 1.0
    mode: Mode = "async"
    max_steps: int = 50
    seed: int = 0

    def __post_init__(self) -> None:
        if self.energy not in ENERGIES:
            raise ConfigError(f"dense_am energy={self.energy!r} is not supported; allowed: {', '.join(ENERGIES)}.")
        _check_int("dense_am", "n", self.n, 2, 30)
        _check_float("dense_am", "beta", self.beta, 0.0, 100.0, open_lo=True)
        if self.mode not in MODES:
            raise ConfigError(f"dense_am mode={self.mode!r} is not supported; allowed: {', '.join(MODES)}.")
        _check_int("dense_am", "max_steps", self.max_steps, 1, 1_000_000)
        _check_int("dense_am", "seed", self.seed, 0, 2**63 - 1)


ENERGY_CODES = {"poly": 0, "rect_poly": 1, "exp": 2}


def poly_scale(n_units: int) -> float:
    """``1 / 2**k`` with ``2**k >= n_units + 2``: the polynomial energies see ``x * poly_scale(N)``."""
    return 2.0 ** -math.ceil(math.log2(n_units + 2))


def async_orders(n_units: int, sweeps: int, seed: int) -> np.ndarray:
    """Unit order of each asynchronous sweep, ``int64 [sweeps, n_units]`` (a fresh permutation per
    sweep from ``numpy.random.default_rng(seed)``); both backends use it."""
    rng = np.random.default_rng(seed)
    return np.stack([rng.permutation(n_units) for _ in range(sweeps)]).astype(np.int64)


def random_patterns(n_patterns: int, n_units: int, seed: int = 0, dtype=torch.float32, device=None) -> torch.Tensor:
    """``[P, N]`` independent uniform ``+-1`` patterns (seeded, generated on the CPU)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 2, (n_patterns, n_units), generator=g).to(dtype) * 2 - 1
    return x.to(device)


def flip_bits(s: torch.Tensor, fraction: float, seed: int = 0) -> torch.Tensor:
    """A copy of ``s [B, N]`` with exactly ``round(fraction * N)`` randomly chosen entries of each row
    negated (seeded; the same flips on every device)."""
    _check_float("flip_bits", "fraction", fraction, 0.0, 1.0)
    if s.ndim != 2:
        raise ConfigError(f"flip_bits got s {tuple(s.shape)}; allowed: [B, N].")
    B, N = s.shape
    k = int(round(fraction * N))
    g = torch.Generator().manual_seed(seed)
    idx = torch.rand(B, N, generator=g).argsort(1)[:, :k].to(s.device)
    out = s.clone()
    out.scatter_(1, idx, -out.gather(1, idx))
    return out


def overlap(s: torch.Tensor, xi: torch.Tensor) -> torch.Tensor:
    """``m = s . xi / N``: 1 for the pattern itself, about 0 for an unrelated one. Shapes ``[B, N]``
    with ``[B, N]`` (row by row, -> ``[B]``) or ``[P, N]`` with ``P != B`` (all pairs, -> ``[B, P]``)."""
    if s.shape == xi.shape:
        return (s * xi).sum(-1) / s.shape[-1]
    return s @ xi.T / s.shape[-1]


def _pm1(name: str, a: torch.Tensor, n_units: int | None = None) -> None:
    if a.ndim != 2 or (n_units is not None and a.shape[1] != n_units):
        want = "[B, N]" if n_units is None else f"[*, {n_units}]"
        raise ConfigError(f"{name} has shape {tuple(a.shape)}; allowed: {want}.")
    if not bool((a.abs() == 1).all()):
        raise ConfigError(f"{name} has entries other than +1/-1; allowed: +-1 states (binarise with "
                          f"torch.where(x > t, 1, -1)).")


# ---------------------------------------------------------------------------------------------
# pairwise network


def hebbian_weights(xi: torch.Tensor) -> torch.Tensor:
    """``W = xi^T xi / N`` with a zero diagonal; xi ``[P, N]`` -> ``W [N, N]``."""
    _pm1("xi", xi)
    w = xi.T @ xi / xi.shape[1]
    w.fill_diagonal_(0)
    return w


@torch.no_grad()
def hopfield_retrieve(s: torch.Tensor, w: torch.Tensor, p: HopfieldParams):
    """Run the pairwise network from ``s [B, N]`` with weights ``w [N, N]``.

    Returns ``(s_final [B, N], steps)``: steps (or sweeps) run, the last being the one that changed
    nothing (``max_steps`` when no fixed point was reached).
    """
    _pm1("s", s, w.shape[0])
    s = s.clone()
    eps = p.tie_eps
    if p.mode == "sync":
        for t in range(p.max_steps):
            h = s @ w.T
            new = torch.where(h > eps, 1.0, torch.where(h < -eps, -1.0, s)).to(s.dtype)
            changed = bool((new != s).any())
            s = new
            if not changed:
                return s, t + 1
        return s, p.max_steps
    orders = torch.from_numpy(async_orders(w.shape[0], p.max_steps, p.seed))
    for t in range(p.max_steps):
        changed = False
        for i in orders[t].tolist():
            h = s @ w[i]
            new = torch.where(h > eps, 1.0, torch.where(h < -eps, -1.0, s[:, i])).to(s.dtype)
            if not changed and bool((new != s[:, i]).any()):
                changed = True
            s[:, i] = new
        if not changed:
            return s, t + 1
    return s, p.max_steps


# ---------------------------------------------------------------------------------------------
# dense associative memory


def _energy_fn(p: DenseAMParams, n_units: int, dtype):
    if p.energy == "exp":
        return lambda x, m: torch.exp(p.beta * (x - m))
    sc = poly_scale(n_units)
    if p.energy == "poly":
        return lambda x, m: (x * sc) ** p.n
    return lambda x, m: torch.relu(x * sc) ** p.n


def _field_terms(o: torch.Tensor, p: DenseAMParams, n_units: int):
    """``H [B, P]`` and ``c [B]`` of the module docstring from overlaps ``o [B, P]``."""
    F_ = _energy_fn(p, n_units, o.dtype)
    m = o.max(1, keepdim=True).values + 2 if p.energy == "exp" else None
    fp, f0, fm = F_(o + 2, m), F_(o, m), F_(o - 2, m)
    return (fp - fm) * 0.5, (2 * f0 - fp - fm).sum(1) * 0.5


@torch.no_grad()
def dense_field(s: torch.Tensor, xi: torch.Tensor, p: DenseAMParams, units=None) -> torch.Tensor:
    """The (scaled) field of ``units`` (index list/tensor; None: all) in states ``s [B, N]`` of the
    memory ``xi [P, N]``: ``[B, U]``. Positive means the unit lowers the energy by switching to +1."""
    _pm1("s", s, xi.shape[1])
    _pm1("xi", xi)
    u = torch.arange(xi.shape[1], device=s.device) if units is None else torch.as_tensor(units, device=s.device)
    H, c = _field_terms(s @ xi.T, p, xi.shape[1])
    return H @ xi[:, u] + s[:, u] * c[:, None]


@torch.no_grad()
def dense_energy(s: torch.Tensor, xi: torch.Tensor, p: DenseAMParams) -> torch.Tensor:
    """``E(s) = -sum_mu F(xi_mu . s)`` in the scaled units of :func:`dense_field` (the exponential
    without its per-state shift, so energies of different states compare): ``[B]``."""
    o = s @ xi.T
    if p.energy == "exp":
        return -torch.exp(p.beta * o).sum(1)
    return -_energy_fn(p, xi.shape[1], o.dtype)(o, None).sum(1)


def _free_mask(free, n_units: int, device) -> torch.Tensor:
    if free is None:
        return torch.ones(n_units, dtype=torch.bool, device=device)
    f = torch.as_tensor(free, device=device)
    if f.dtype != torch.bool:
        m = torch.zeros(n_units, dtype=torch.bool, device=device)
        m[f.long()] = True
        f = m
    if f.shape != (n_units,):
        raise ConfigError(f"free has shape {tuple(f.shape)}; allowed: a bool mask [{n_units}] or unit indices.")
    return f


@torch.no_grad()
def dense_retrieve(s: torch.Tensor, xi: torch.Tensor, p: DenseAMParams, free=None):
    """Run the dense associative memory ``xi [P, N]`` from ``s [B, N]``; only the ``free`` units (bool
    mask ``[N]`` or indices; None: all) are updated. Returns ``(s_final, steps)`` as
    :func:`hopfield_retrieve` does."""
    _pm1("s", s, xi.shape[1])
    _pm1("xi", xi)
    N = xi.shape[1]
    s = s.clone()
    mask = _free_mask(free, N, s.device)
    if p.mode == "sync":
        for t in range(p.max_steps):
            H, c = _field_terms(s @ xi.T, p, N)
            f = H @ xi + s * c[:, None]
            new = torch.where(f > 0, 1.0, torch.where(f < 0, -1.0, s)).to(s.dtype)
            new = torch.where(mask, new, s)
            changed = bool((new != s).any())
            s = new
            if not changed:
                return s, t + 1
        return s, p.max_steps
    orders = async_orders(N, p.max_steps, p.seed)
    free_np = mask.cpu().numpy()
    o = s @ xi.T
    for t in range(p.max_steps):
        changed = False
        for i in orders[t][free_np[orders[t]]].tolist():
            H, c = _field_terms(o, p, N)
            f = H @ xi[:, i] + s[:, i] * c
            old = s[:, i]
            new = torch.where(f > 0, 1.0, torch.where(f < 0, -1.0, old)).to(s.dtype)
            flip = new != old
            if bool(flip.any()):
                changed = True
                o += (flip.to(s.dtype) * 2 * new)[:, None] * xi[:, i][None, :]
                s[:, i] = new
        if not changed:
            return s, t + 1
    return s, p.max_steps
