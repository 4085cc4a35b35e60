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
