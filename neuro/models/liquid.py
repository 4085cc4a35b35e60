"""Liquid builder for liquid state machines (Maass, Natschlaeger & Markram 2002; NALSM, Ivanov &
Michmizos 2021): neurons on a 3-D grid, a fraction excitatory, the rest inhibitory, each ordered pair
connected with probability ``C[class_pre, class_post] * exp(-(D / lam)**2)`` (``D``: Euclidean grid
distance, no self-connections), plus a random input projection of a given density. Seeded and
deterministic; weights are magnitudes (the sign is the presynaptic class, ``Liquid.sign``), so
``neuro.rules.stdp`` can work on them. Connectivity comes out dense (``[n_post, n_pre]``) and as CSR
(rows = postsynaptic neurons) for the Numba kernels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from neuro.errors import ConfigError

EXC, INH = 0, 1


@dataclass(frozen=True)
class LiquidParams:
    """grid: neurons per axis (``n = prod(grid)``; NALSM-1000 is 10x10x10, NALSM-8000 20x20x20).
    frac_exc: excitatory fraction. lam: connection length (grid units). c: connection scale per
    ``(pre, post)`` class pair, keys ``"ee" "ei" "ie" "ii"`` (default: Maass et al. 2002).
    w: initial weight magnitude per class pair. n_input, input_density, w_input: the input projection
    (each (input, liquid neuron) pair connected with probability ``input_density``); input_sign:
    ``"positive"`` or ``"random"`` (each input synapse excitatory or inhibitory with probability 1/2, as
    in NALSM; ``Liquid.in_sign``). seed: RNG seed."""

    grid: tuple[int, int, int] = (10, 10, 10)
    frac_exc: float = 0.8
    lam: float = 2.0
    c: dict = field(default_factory=lambda: {"ee": 0.3, "ei": 0.2, "ie": 0.4, "ii": 0.1})
    w: dict = field(default_factory=lambda: {"ee": 1.0, "ei": 1.0, "ie": 1.0, "ii": 1.0})
    n_input: int = 784
    input_density: float = 0.1
    w_input: float = 1.0
    input_sign: str = "positive"
    seed: int = 0

    def __post_init__(self) -> None:
        if len(self.grid) != 3 or any(not isinstance(g, int) or g < 1 for g in self.grid):
            raise ConfigError(f"liquid.grid={self.grid!r} is not supported; allowed: three positive integers, e.g. (10, 10, 10).")
        for name, v, lo, hi in (("frac_exc", self.frac_exc, 0.0, 1.0), ("lam", self.lam, 1e-9, 1e6),
                                ("input_density", self.input_density, 0.0, 1.0), ("w_input", self.w_input, 0.0, 1e9)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not lo <= v <= hi:
                raise ConfigError(f"liquid.{name}={v!r} is out of range; allowed: a number in [{lo}, {hi}].")
        for table in ("c", "w"):
            d = getattr(self, table)
            if set(d) != {"ee", "ei", "ie", "ii"}:
                raise ConfigError(f"liquid.{table} has keys {sorted(d)}; allowed: exactly ee, ei, ie, ii.")
            hi = 1.0 if table == "c" else 1e9
            for k, v in d.items():
                if not (isinstance(v, (int, float)) and 0.0 <= v <= hi):
                    raise ConfigError(f"liquid.{table}.{k}={v!r} is out of range; allowed: a number in [0, {hi}].")
        if self.input_sign not in ("positive", "random"):
            raise ConfigError(f"liquid.input_sign={self.input_sign!r} is not supported; allowed: positive, random.")
        if not isinstance(self.n_input, int) or self.n_input < 0:
            raise ConfigError(f"liquid.n_input={self.n_input!r} is out of range; allowed: an integer >= 0.")

    @property
    def n(self) -> int:
        return int(np.prod(self.grid))


class Liquid(NamedTuple):
    positions: np.ndarray  # [n, 3] grid coordinates
    cls: np.ndarray        # [n] int8, EXC (0) or INH (1)
    w: np.ndarray          # [n_post, n_pre] float32 magnitudes (0 = no synapse)
    w_in: np.ndarray       # [n, n_input] float32 input magnitudes
    in_sign: np.ndarray | None = None  # [n, n_input] +-1 (input_sign = "random"); None: all +1

    @property
    def sign(self) -> np.ndarray:
        """+1 for excitatory, -1 for inhibitory presynaptic neurons ``[n]``."""
        return np.where(self.cls == EXC, 1.0, -1.0).astype(np.float32)

    @property
    def mask(self) -> np.ndarray:
        return (self.w != 0).astype(np.float32)

    def csr(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(indptr [n + 1], indices, data)``: row ``j`` lists the presynaptic neurons of ``j`` and
        the *signed* weights (sorted by presynaptic index)."""
        rows, cols = np.nonzero(self.w)
        data = (self.w[rows, cols] * self.sign[cols]).astype(np.float32)
        indptr = np.zeros(self.w.shape[0] + 1, np.int64)
        np.add.at(indptr, rows + 1, 1)
        return np.cumsum(indptr), cols.astype(np.int32), data


def build_liquid(p: LiquidParams = LiquidParams()) -> Liquid:
    """A seeded random liquid (see the module docstring)."""
    rng = np.random.default_rng(p.seed)
    gx, gy, gz = p.grid
    pos = np.stack(np.meshgrid(np.arange(gx), np.arange(gy), np.arange(gz), indexing="ij"), -1).reshape(-1, 3)
    n = len(pos)
    n_exc = int(round(p.frac_exc * n))
    cls = np.full(n, INH, np.int8)
    cls[rng.permutation(n)[:n_exc]] = EXC
    d2 = ((pos[:, None, :] - pos[None, :, :]) ** 2).sum(-1).astype(np.float64)  # [post, pre]
    key = {(EXC, EXC): "ee", (EXC, INH): "ei", (INH, EXC): "ie", (INH, INH): "ii"}
    c = np.empty((n, n))
    wmag = np.empty((n, n), np.float32)
    for (a, b), k in key.items():  # a = pre class, b = post class
        sel = (cls[None, :] == a) & (cls[:, None] == b)
        c[sel], wmag[sel] = p.c[k], p.w[k]
    prob = c * np.exp(-d2 / (p.lam ** 2))
    np.fill_diagonal(prob, 0.0)
    conn = rng.random((n, n)) < prob
    w = np.where(conn, wmag, 0.0).astype(np.float32)
    w_in = np.where(rng.random((n, p.n_input)) < p.input_density, p.w_input, 0.0).astype(np.float32)
    in_sign = None
    if p.input_sign == "random":
        in_sign = np.where(rng.random((n, p.n_input)) < 0.5, -1.0, 1.0).astype(np.float32)
    return Liquid(pos, cls, w, w_in, in_sign)


def connection_probability(p: LiquidParams, d: np.ndarray, pair: str) -> np.ndarray:
    """The model's connection probability at distance ``d`` for class pair ``pair`` (``"ee"``...)."""
    return p.c[pair] * np.exp(-(np.asarray(d, np.float64) / p.lam) ** 2)
