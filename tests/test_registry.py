"""The registry, and the parity test that walks it: torch vs numba on the same inputs."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import torch

from neuro.errors import BackendError
from neuro.registry import PARAMS, REGISTRY, Registry

# Parameter sets each component is checked with (the component's defaults plus variants).
VARIANTS = {
    "lif": [{}, {"beta": 0.7, "v_th": 0.5, "reset": "zero"}, {"beta": 0.95, "refractory_steps": 3},
            {"beta": 1.0, "v_th": 2.0, "reset": "zero", "refractory_steps": 1}],
    "alif": [{}, {"beta": 0.7, "rho": 0.5, "v_th": 0.5, "adapt": 0.8, "reset": "zero"},
             {"beta": 0.95, "rho": 0.99, "adapt": 0.05, "refractory_steps": 3},
             {"beta": 1.0, "rho": 1.0, "v_th": 2.0, "adapt": 0.1, "reset": "zero", "refractory_steps": 1}],
}
VARIANTS["ff"] = [{}, {"goodness": "sum_sq", "theta": 6.0}, {"peer": 0.3, "momentum": 0.5},
                  {"goodness": "sum_sq", "theta": 3.0, "peer": 1.0, "momentum": 0.0}]


def _ff_parity(component, p, variant):
    """Learning rules: (x_pos, x_neg, w, b, state, params) -> (dW, db, state, loss, g_pos, g_neg)."""
    rng = np.random.default_rng(200 + variant)
    xp, xn = (rng.standard_normal((32, 13)).astype(np.float32) for _ in range(2))
    w = (rng.standard_normal((9, 13)) * 0.4).astype(np.float32)
    b = (rng.standard_normal(9) * 0.1).astype(np.float32)
    m = np.abs(rng.standard_normal(9)).astype(np.float32)
    t = REGISTRY.get(component, "torch")(*map(torch.from_numpy, (xp, xn, w, b)), (torch.from_numpy(m),), p)
    n = REGISTRY.get(component, "numba")(xp, xn, w, b, (m,), p)
    assert float(t[0].abs().sum()) > 1e-3
    for a, c in zip((t[0], t[1], t[2][0], t[4], t[5]), (n[0], n[1], n[2][0], n[4], n[5])):
        np.testing.assert_allclose(a.numpy(), c, rtol=1e-4, atol=1e-6)
    assert abs(float(t[3]) - n[3]) < 1e-5


VARIANTS["oja"] = [{}, {"lr": 0.05}]
VARIANTS["sanger"] = [{}, {"lr": 0.05}]
VARIANTS["bcm"] = [{}, {"lr": 0.05, "theta_decay": 0.5, "activation": "linear"}, {"theta_decay": 0.0}]
VARIANTS["hopfield"] = [{}, {"mode": "sync"}, {"mode": "async", "seed": 3, "max_steps": 2}]
VARIANTS["dense_am"] = [{}, {"mode": "sync"}, {"energy": "rect_poly", "n": 4}, {"energy": "exp", "beta": 0.5},
                        {"energy": "exp", "mode": "sync", "max_steps": 2}]


def _hebbian_parity(component, p, variant):
    """Hebbian rules: (w, x [S, B, F], params, state) -> (w_new, state); 40 fused steps vs a torch loop."""
    rng = np.random.default_rng(300 + variant)
    x = np.abs(rng.standard_normal((40, 16, 9))).astype(np.float32) * 0.5
    w = (rng.standard_normal(9 if component == "oja" else (4, 9)) * 0.3).astype(np.float32)
    state = (np.full(4, 0.2, np.float32),) if component == "bcm" else None
    from neuro.rules.hebbian import BCMState

    t_state = None if state is None else BCMState(torch.from_numpy(state[0]))
    wt, st = REGISTRY.get(component, "torch")(torch.from_numpy(w), torch.from_numpy(x), p, t_state)
    wn, sn = REGISTRY.get(component, "numba")(w, x, p, state)
    assert float(np.abs(wn - w).max()) > 1e-3
    np.testing.assert_allclose(wt.numpy(), wn, rtol=1e-5, atol=1e-5)
    if state is not None:
        np.testing.assert_allclose(st[0].numpy(), sn[0], rtol=1e-5, atol=1e-5)


def _memory_parity(component, p, variant):
    """Associative memories: (s [B, N], w or xi, params) -> (s_final, steps) from noisy probes."""
    from neuro.rules.hopfield import flip_bits, hebbian_weights, random_patterns

    xi = random_patterns(24 if component == "hopfield" else 40, 64, seed=variant)
    s0 = flip_bits(xi, 0.15, seed=10 + variant)
    if component == "hopfield":
        mem_t, mem_n = hebbian_weights(xi), hebbian_weights(xi).numpy()
    else:
        xi, s0 = xi.double(), s0.double()
        mem_t, mem_n = xi, xi.numpy()
    st, kt = REGISTRY.get(component, "torch")(s0, mem_t, p)
    sn, kn = REGISTRY.get(component, "numba")(s0.numpy(), mem_n, p)
    assert float((st != s0).float().mean()) > 0.01
    np.testing.assert_array_equal(st.numpy(), sn)
    assert kt == kn


VARIANTS["ep"] = [{}, {"centered": False, "beta": 0.3}, {"clamp": True, "free_steps": 8}]
VARIANTS["dualprop"] = [{}, {"beta": 0.05, "alpha": 0.0}]


def _contrastive_parity(component, p, variant):
    """EP/CHL and dual propagation: gradient estimates of a 10-8-6-3 net, torch vs numba (float32)."""
    g = torch.Generator().manual_seed(400 + variant)
    ws = [torch.rand(b, a, generator=g) * 0.8 - 0.4 for a, b in ((10, 8), (8, 6), (6, 3))]
    bs = [torch.rand(b, generator=g) * 0.3 for b in (8, 6, 3)]
    x = torch.rand(5, 10, generator=g)
    y = torch.arange(5) % 3
    if component == "ep":
        y = torch.nn.functional.one_hot(y, 3).float()
    (gt, _), (gn, _) = (REGISTRY.get(component, b)(x, y, ws, bs, p) for b in ("torch", "numba"))
    for (a, b), (c, d) in zip(gt, gn):
        assert float(a.abs().max()) > 0
        np.testing.assert_allclose(c.numpy(), a.numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(d.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)


VARIANTS["krotov"] = [{"k": 3}, {"p": 2.0, "k": 2, "delta": 0.0}, {"p": 4.5, "k": 5, "delta": 0.1, "lr": 0.1}]
VARIANTS["softhebb"] = [{}, {"anti_hebbian": False, "adaptive": False, "temperature": 0.3},
                        {"normalize": False, "lr": 0.001, "temperature": 0.1}]


def _competing_parity(component, p, variant):
    """Krotov / SoftHebb: (w [K, F], x [S, B, F], params, state) -> (w_new, state); 10 fused steps (float64:
    the winner ranking is discontinuous, so both sides must see the same inputs to the last bit)."""
    rng = np.random.default_rng(500 + variant)
    x = rng.random((10, 16, 9))
    w = rng.standard_normal((12, 9)) * (3.0 if component == "softhebb" else 1.0)
    wt, _ = REGISTRY.get(component, "torch")(torch.from_numpy(w), torch.from_numpy(x), p)
    wn, _ = REGISTRY.get(component, "numba")(w, x, p)
    assert float(np.abs(wn - w).max()) > 1e-3
    np.testing.assert_allclose(wt.numpy(), wn, rtol=1e-9, atol=1e-10)


VARIANTS["stdp"] = [{}, {"pairing": "nearest", "decay": 0.99}, {"a_minus": 0.05, "w_max": 0.6}]


def _stdp_parity(component, p, variant):
    """STDP over random spike trains with a connectivity mask and a third factor, torch vs numba."""
    rng = np.random.default_rng(500 + variant)
    pre = (rng.random((50, 2, 9)) < 0.15).astype(np.float32)
    post = (rng.random((50, 2, 6)) < 0.15).astype(np.float32)
    mask = (rng.random((6, 9)) < 0.7).astype(np.float32)
    w0 = (rng.random((2, 6, 9)) * 0.5 + 0.05).astype(np.float32) * mask
    mod = (rng.random((2, 6)) + 0.5).astype(np.float32)
    wt, _ = REGISTRY.get(component, "torch")(torch.from_numpy(w0), torch.from_numpy(pre), torch.from_numpy(post), p,
                                             mask=torch.from_numpy(mask), modulation=torch.from_numpy(mod))
    wn, _ = REGISTRY.get(component, "numba")(w0, pre, post, p, mask=mask, modulation=mod)
    assert np.abs(wn - w0).max() > 1e-3
    np.testing.assert_allclose(wn, wt.numpy(), rtol=1e-5, atol=1e-6)


#: components whose calling convention is not a neuron's ``multistep``: their own parity case.
PARITY_CASES = {"stdp": _stdp_parity, "ep": _contrastive_parity, "dualprop": _contrastive_parity, "ff": _ff_parity, "oja": _hebbian_parity, "sanger": _hebbian_parity, "bcm": _hebbian_parity,
                "hopfield": _memory_parity, "dense_am": _memory_parity}
PARITY_CASES.update(krotov=_competing_parity, softhebb=_competing_parity)

VARIANTS["amsu"] = [{}, {"feedback": "threshold", "astro_gain": 0.8, "tau_astro": 20.0},
                    {"reset": "zero", "astro_gain": -0.5, "tau_astro": 5.0, "beta": 0.7}]


def _amsu_parity(component, p, variant):
    """Recurrent AM-SU: (x [T, B, N], w_rec, params, state, gain) -> (spikes, membrane, astrocyte, state), float64
    (the recurrent sum's order differs between matmul and the kernel's dot product: spikes must still match)."""
    rng = np.random.default_rng(600 + variant)
    x = rng.standard_normal((50, 4, 12)) * 0.6 + 0.3
    w = rng.standard_normal((12, 12)) * 0.3
    g = rng.standard_normal(12) * 0.5
    st, vt, at, ft = REGISTRY.get(component, "torch")(*map(torch.from_numpy, (x, w)), p, gain=torch.from_numpy(g))
    sn, vn, an, fn = REGISTRY.get(component, "numba")(x, w, p, gain=g)
    assert st.sum() > 50
    np.testing.assert_array_equal(st.numpy(), sn)
    np.testing.assert_allclose(vt.numpy(), vn, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(at.numpy(), an, rtol=1e-12, atol=1e-12)
    for a, b in zip(ft, fn):
        np.testing.assert_allclose(a.numpy(), b, rtol=1e-12, atol=1e-12)


PARITY_CASES["amsu"] = _amsu_parity

VARIANTS["nalsm"] = [{"grid": (4, 4, 3), "n_input": 30, "duration": 40},
                     {"grid": (4, 4, 3), "n_input": 30, "duration": 40, "plasticity": "stdp", "tau_syn": 2.5},
                     {"grid": (3, 4, 3), "n_input": 30, "duration": 40, "plasticity": "none", "t_ref": 0, "w_max": 6.0}]


def _nalsm_parity(component, p, variant):
    from neuro.models.nalsm import build_network

    net = build_network(p)
    rng = np.random.default_rng(variant)
    probs = rng.random((5, p.n_input)) * 0.6
    keys = np.arange(5) + 11 * variant
    w = net.w0.astype(np.float64)
    kw = dict(w=w, mode=p.plasticity, duration=p.duration, decay=True, n_record=5)
    a = REGISTRY.get(component, "torch")(p, net, probs, keys, **kw)
    b = REGISTRY.get(component, "numba")(p, net, probs, keys, **kw)
    assert a.counts.sum() > 0
    assert np.array_equal(a.counts, b.counts) and np.array_equal(a.raster, b.raster)
    np.testing.assert_allclose(a.astro, b.astro, rtol=1e-9, atol=1e-12)


PARITY_CASES["nalsm"] = _nalsm_parity


def _params_cls(component):
    module, _, attr = PARAMS[component].partition(":")
    return getattr(importlib.import_module(module), attr)


def test_every_component_has_both_backends_and_variants():
    for component in REGISTRY.components():
        assert (component, "torch") in REGISTRY and (component, "numba") in REGISTRY
        assert component in VARIANTS and component in PARAMS


@pytest.mark.parametrize("component,variant", [(c, i) for c in REGISTRY.components() for i in range(len(VARIANTS[c]))])
def test_parity_torch_vs_numba(component, variant):
    p = _params_cls(component)(**VARIANTS[component][variant])
    if component in PARITY_CASES:
        return PARITY_CASES[component](component, p, variant)
    rng = np.random.default_rng(100 + variant)
    x = (rng.standard_normal((60, 3, 7, 11)) * 0.6 + 0.25).astype(np.float32)
    s_t, v_t, st_t = REGISTRY.get(component, "torch")(torch.from_numpy(x), p)
    s_n, v_n, st_n = REGISTRY.get(component, "numba")(x, p)
    assert s_t.sum() > 50
    np.testing.assert_allclose(s_t.numpy(), s_n, rtol=0, atol=1e-6)
    np.testing.assert_allclose(v_t.numpy(), v_n, rtol=1e-6, atol=1e-6)
    for a, b in zip(st_t, st_n):
        np.testing.assert_allclose(a.numpy(), b, rtol=1e-6, atol=1e-6)
    # carrying the final state into a second run equals one long run
    s2_n, _, _ = REGISTRY.get(component, "numba")(x, p, st_n)
    s_long, _, _ = REGISTRY.get(component, "numba")(np.concatenate([x, x]), p)
    np.testing.assert_array_equal(s_long[60:], s2_n)


def test_unknown_pair_lists_registered():
    with pytest.raises(BackendError) as e:
        REGISTRY.get("lif", "verilog")
    assert "lif/numba" in str(e.value) and "lif/torch" in str(e.value)


def test_double_registration_is_an_error():
    r = Registry([("x", "torch", "math:sqrt")])
    assert r.get("x", "torch")(4.0) == 2.0
    with pytest.raises(BackendError, match="already registered"):
        r.register("x", "torch", "math:cos")
