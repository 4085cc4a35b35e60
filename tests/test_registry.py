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


#: components whose calling convention is not a neuron's ``multistep``: their own parity case.
PARITY_CASES = {"ff": _ff_parity}


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
