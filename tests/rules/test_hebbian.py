"""Hebbian rules: known answers (Oja -> first PC, Sanger -> top-k PCs, BCM selectivity), one hand-computed
step, torch vs Numba parity (single and fused steps, fit), bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kernels import hebbian as kh
from neuro.errors import ConfigError
from neuro.rules import hebbian as H


def _gaussian(n, eigenvalues, seed):
    """Zero-mean Gaussian data with the given covariance eigenvalues along a random rotation."""
    rng = np.random.default_rng(seed)
    F_ = len(eigenvalues)
    q, _ = np.linalg.qr(rng.standard_normal((F_, F_)))
    return (rng.standard_normal((n, F_)) * np.sqrt(eigenvalues)) @ q.T


def _cos(a, b):
    return abs(float(np.dot(a, b))) / (np.linalg.norm(a) * np.linalg.norm(b))


def test_oja_single_step_by_hand():
    w = torch.tensor([1.0, 0.0], dtype=torch.float64)
    x = torch.tensor([[1.0, 2.0], [3.0, -1.0]], dtype=torch.float64)
    # y = [1, 3]; mean(y x) = ([1, 2] + [9, -3]) / 2 = [5, -0.5]; mean(y^2) w = 5 * [1, 0]
    w1, _ = H.oja_update(w, x, H.OjaParams(lr=0.1))
    np.testing.assert_allclose(w1.numpy(), [1.0 + 0.1 * 0.0, 0.1 * -0.5])
    w1n, _ = kh.oja_update(w.numpy(), x.numpy(), H.OjaParams(lr=0.1))
    np.testing.assert_allclose(w1n, w1.numpy(), rtol=1e-15)


@pytest.mark.parametrize("backend", ["torch", "numba"])
def test_oja_finds_first_pc_of_2d_gaussian(backend):
    rng = np.random.default_rng(0)
    x = rng.multivariate_normal([0, 0], [[3.0, 1.2], [1.2, 1.0]], size=4000)
    pc = H.principal_components(x, 1)[0]
    w0 = torch.tensor(rng.standard_normal(2) * 0.1)
    assert _cos(w0.numpy(), pc) < 0.99
    w, _ = H.fit("oja", w0, torch.from_numpy(x), H.OjaParams(lr=0.01), epochs=2, batch_size=10,
                 backend=backend, progress=False)
    assert isinstance(w, torch.Tensor)
    assert _cos(w.numpy(), pc) >= 0.99
    assert abs(float(w.norm()) - 1.0) < 0.02  # Oja normalises the weight vector


@pytest.mark.parametrize("backend", ["torch", "numba"])
def test_oja_finds_first_pc_in_12_dimensions(backend):
    x = _gaussian(6000, [6.0, 3.0, 2.0] + [1.0] * 9, seed=1)
    pc = H.principal_components(x, 1)[0]
    w0 = np.random.default_rng(2).standard_normal(12) * 0.1
    w, _ = H.fit("oja", w0, x, H.OjaParams(lr=0.005), epochs=3, batch_size=10, backend=backend, progress=False)
    assert isinstance(w, np.ndarray)
    assert _cos(w0, pc) < 0.5 and _cos(w, pc) >= 0.99


@pytest.mark.parametrize("backend", ["torch", "numba"])
def test_sanger_recovers_top_3_pcs_in_order(backend):
    x = _gaussian(6000, [8.0, 4.0, 2.0, 0.5, 0.4, 0.3, 0.2, 0.2, 0.1, 0.1], seed=3)
    pcs = H.principal_components(x, 3)
    w0 = np.random.default_rng(4).standard_normal((3, 10)) * 0.1
    w, _ = H.fit("sanger", w0, x, H.SangerParams(lr=0.005), epochs=4, batch_size=10, backend=backend,
                 progress=False)
    cos = [_cos(w[k], pcs[k]) for k in range(3)]
    assert min(cos) >= 0.98, cos
    np.testing.assert_allclose(w @ w.T, np.eye(3), atol=0.05)  # orthonormal rows


def test_bcm_becomes_selective_to_one_of_two_patterns():
    pats = np.array([[1.0, 0.3], [0.3, 1.0]])
    winners = set()
    for seed in range(6):
        rng = np.random.default_rng(seed)
        data = pats[rng.integers(0, 2, 4000)]
        w0 = rng.uniform(0.1, 0.5, (1, 2))
        y0 = pats @ w0.T
        assert float(y0.min()) > 0.1  # responds to both at the start
        w, st = H.fit("bcm", w0, data, H.BCMParams(lr=0.02, theta_decay=0.8), epochs=2, batch_size=1,
                      backend="numba", seed=seed, progress=False)
        y = np.maximum(pats @ w.T, 0).ravel()
        # fixed point of theta = <y^2> with two equiprobable inputs: y = 2 for one, 0 for the other
        assert 1.4 < y.max() < 2.6 and y.min() < 0.05, (seed, y)
        assert 0.8 < float(st.theta[0]) < 3.0
        winners.add(int(y.argmax()))
    assert winners == {0, 1}  # symmetry breaking, not a bias towards one pattern


def test_bcm_linear_unit_in_torch_matches_numba_and_is_selective():
    pats = np.array([[1.0, 0.0, 0.2], [0.0, 1.0, 0.2]])
    data = pats[np.random.default_rng(5).integers(0, 2, 3000)]
    w0 = np.array([[0.3, 0.25, 0.1]])
    p = H.BCMParams(lr=0.02, theta_decay=0.8, activation="linear")
    wt, st = H.fit("bcm", torch.from_numpy(w0), torch.from_numpy(data), p, epochs=1, batch_size=1, progress=False)
    wn, sn = H.fit("bcm", w0, data, p, epochs=1, batch_size=1, backend="numba", progress=False)
    np.testing.assert_allclose(wt.numpy(), wn, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(st.theta.numpy(), sn.theta, rtol=1e-5, atol=1e-5)
    y = (pats @ wn.T).ravel()
    assert abs(y.max() - 2.0) < 0.6 and abs(y.min()) < 0.1, y


RULES = [("oja", H.OjaParams(lr=0.03), H.oja_update, kh.oja_update),
         ("sanger", H.SangerParams(lr=0.03), H.sanger_update, kh.sanger_update),
         ("bcm", H.BCMParams(lr=0.03, theta_decay=0.7), H.bcm_update, kh.bcm_update),
         ("bcm", H.BCMParams(lr=0.03, theta_decay=0.0, activation="linear"), H.bcm_update, kh.bcm_update)]


@pytest.mark.parametrize("rule,p,t_fn,n_fn", RULES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_numba_matches_torch_single_and_fused_steps(rule, p, t_fn, n_fn, dtype):
    rng = np.random.default_rng(7)
    x = (np.abs(rng.standard_normal((60, 8, 11))) * 0.4).astype(dtype)
    w = (rng.standard_normal(11 if rule == "oja" else (5, 11)) * 0.3).astype(dtype)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)
    # one step
    a, _ = t_fn(torch.from_numpy(w), torch.from_numpy(x[0]), p, None)
    b, _ = n_fn(w, x[0], p, None)
    np.testing.assert_allclose(a.numpy(), b, **tol)
    assert b.dtype == dtype and not np.array_equal(b, w)
    # 60 fused steps == 60 single steps == the torch loop
    a, sa = t_fn(torch.from_numpy(w), torch.from_numpy(x), p, None)
    b, sb = n_fn(w, x, p, None)
    c, sc = w, None
    for s in range(len(x)):
        c, sc = n_fn(c, x[s], p, sc)
    np.testing.assert_allclose(a.numpy(), b, **tol)
    np.testing.assert_allclose(c, b, rtol=1e-12, atol=0)
    if rule == "bcm":
        np.testing.assert_allclose(sa.theta.numpy(), sb[0], **tol)
        np.testing.assert_array_equal(sb[0], sc[0])


def test_fit_backends_agree_and_inputs_are_untouched():
    x = _gaussian(800, [3.0, 1.0, 0.5, 0.5], seed=8)
    w0 = np.random.default_rng(9).standard_normal((2, 4)) * 0.2
    keep = w0.copy()
    wt, _ = H.fit("sanger", torch.from_numpy(w0), torch.from_numpy(x), H.SangerParams(lr=0.01), epochs=2,
                  batch_size=16, seed=3, progress=False)
    wn, _ = H.fit("sanger", w0, x, H.SangerParams(lr=0.01), epochs=2, batch_size=16, seed=3, backend="numba",
                  progress=False)
    np.testing.assert_allclose(wt.numpy(), wn, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(w0, keep)


def test_principal_components_match_numpy_svd():
    x = _gaussian(500, [5.0, 2.0, 1.0], seed=10)
    pcs = H.principal_components(x, 2)
    _, _, vt = np.linalg.svd(x - x.mean(0), full_matrices=False)
    for k in range(2):
        assert _cos(pcs[k], vt[k]) > 1 - 1e-10


@pytest.mark.parametrize("cls,kw", [(H.OjaParams, {"lr": 0.0}), (H.SangerParams, {"lr": -1.0}),
                                    (H.BCMParams, {"theta_decay": 1.0}), (H.BCMParams, {"activation": "tanh"}),
                                    (H.OjaParams, {"lr": float("nan")})])
def test_bad_params_are_config_errors(cls, kw):
    with pytest.raises(ConfigError, match="allowed"):
        cls(**kw)


def test_bad_shapes_and_arguments_are_config_errors():
    with pytest.raises(ConfigError, match="allowed: w \\[F\\]"):
        H.oja_update(torch.zeros(3), torch.zeros(4, 5), H.OjaParams())
    with pytest.raises(ConfigError, match="same F"):
        kh.sanger_update(np.zeros((2, 3)), np.zeros((4, 5)), H.SangerParams())
    with pytest.raises(ConfigError, match="theta"):
        kh.bcm_update(np.zeros((2, 3)), np.zeros((4, 3)), H.BCMParams(), (np.zeros(5),))
    with pytest.raises(ConfigError, match="allowed: oja, bcm, sanger"):
        H.fit("hebb", np.zeros(3), np.zeros((10, 3)), H.OjaParams(), progress=False)
    with pytest.raises(ConfigError, match="batch_size"):
        H.fit("oja", np.zeros(3), np.zeros((10, 3)), H.OjaParams(), batch_size=20, progress=False)
