"""The liquid builder (``neuro.models.liquid``): seeded, 80/20 split, distance-dependent connection
probability matching C * exp(-(D/lambda)^2) per class pair, no self-connections, input density, CSR
round trip with signed weights, clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from neuro.errors import ConfigError
from neuro.models.liquid import EXC, INH, LiquidParams, build_liquid, connection_probability


def test_seeded_split_and_structure():
    p = LiquidParams(grid=(10, 10, 10), seed=3, n_input=50, input_density=0.2)
    a, b = build_liquid(p), build_liquid(p)
    assert np.array_equal(a.w, b.w) and np.array_equal(a.w_in, b.w_in) and np.array_equal(a.cls, b.cls)
    assert not np.array_equal(a.w, build_liquid(LiquidParams(seed=4, n_input=50)).w)
    assert a.w.shape == (1000, 1000) and (a.cls == EXC).sum() == 800 and (a.cls == INH).sum() == 200
    assert np.all(np.diag(a.w) == 0)
    assert abs((a.w_in != 0).mean() - 0.2) < 0.01


def test_connection_probability_follows_the_distance_law():
    p = LiquidParams(grid=(12, 12, 12), lam=2.0, seed=1, n_input=0)
    liq = build_liquid(p)
    d = np.sqrt(((liq.positions[:, None, :] - liq.positions[None, :, :]) ** 2).sum(-1))  # [post, pre]
    for pair, (a, b) in {"ee": (EXC, EXC), "ei": (EXC, INH), "ie": (INH, EXC), "ii": (INH, INH)}.items():
        sel = (liq.cls[None, :] == a) & (liq.cls[:, None] == b) & (d > 0)
        for lo, hi in ((0.5, 1.5), (1.5, 2.5), (2.5, 3.5)):
            band = sel & (d >= lo) & (d < hi)
            observed = (liq.w[band] != 0).mean()
            expected = connection_probability(p, d[band], pair).mean()
            n = band.sum()
            assert abs(observed - expected) < 4 * np.sqrt(expected * (1 - expected) / n) + 1e-3, (pair, lo, observed, expected)


def test_csr_round_trip_signed():
    liq = build_liquid(LiquidParams(grid=(6, 6, 6), seed=2, n_input=10))
    indptr, indices, data = liq.csr()
    dense = np.zeros_like(liq.w)
    for j in range(len(indptr) - 1):
        dense[j, indices[indptr[j]:indptr[j + 1]]] = data[indptr[j]:indptr[j + 1]]
    assert np.array_equal(dense, liq.w * liq.sign[None, :])
    assert (data < 0).sum() == (liq.w[:, liq.cls == INH] != 0).sum()


def test_bad_params():
    with pytest.raises(ConfigError, match="liquid.c has keys"):
        LiquidParams(c={"ee": 0.3})
    with pytest.raises(ConfigError, match="liquid.frac_exc"):
        LiquidParams(frac_exc=1.5)
    with pytest.raises(ConfigError, match="liquid.grid"):
        LiquidParams(grid=(10, 10))
