"""The LIF neuron: snnTorch equivalence, surrogate gradients, parameter and input checks."""

from __future__ import annotations

import numpy as np
import pytest
import snntorch
import snntorch.surrogate
import torch

from neuro.errors import ConfigError
from neuro.neurons.lif import LIF, LIFParams, initial_state, lif_multistep, step


def _snntorch_run(x: torch.Tensor, beta: float, v_th: float, reset: str):
    """Run snnTorch's own Leaky over the time axis of ``x``."""
    leaky = snntorch.Leaky(beta=beta, threshold=v_th, reset_mechanism=reset)
    mem = leaky.init_leaky()
    spks, mems = [], []
    for t in range(x.shape[0]):
        spk, mem = leaky(x[t], mem)
        spks.append(spk)
        mems.append(mem)
    return torch.stack(spks), torch.stack(mems)


@pytest.mark.parametrize("beta,v_th,reset", [
    (0.9, 1.0, "subtract"), (0.5, 0.3, "subtract"), (0.95, 2.0, "zero"), (1.0, 1.0, "zero"), (0.0, 0.5, "subtract"),
])
def test_forward_identical_to_snntorch_leaky(beta, v_th, reset):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(200, 8, 64, generator=g) * 0.8 + 0.3
    ref_s, ref_v = _snntorch_run(x, beta, v_th, reset)
    s, v, _ = lif_multistep(x, LIFParams(beta=beta, v_th=v_th, reset=reset))
    assert ref_s.sum() > 100  # the comparison exercises spikes and resets
    assert torch.equal(s, ref_s)
    assert torch.equal(v, ref_v)


@pytest.mark.parametrize("name,snn_fn", [
    ("fast_sigmoid", lambda: snntorch.surrogate.fast_sigmoid(slope=25)),
    ("atan", lambda: snntorch.surrogate.atan(alpha=2.0)),
    ("straight_through", lambda: snntorch.surrogate.straight_through_estimator()),
])
def test_surrogate_gradients_match_snntorch(name, snn_fn):
    g = torch.Generator().manual_seed(2)
    x = (torch.randn(20, 4, 32, generator=g) * 0.7 + 0.2)
    x1 = x.clone().requires_grad_(True)
    x2 = x.clone().requires_grad_(True)
    leaky = snntorch.Leaky(beta=0.8, threshold=1.0, spike_grad=snn_fn())
    mem = leaky.init_leaky()
    out = []
    for t in range(x2.shape[0]):
        spk, mem = leaky(x2[t], mem)
        out.append(spk)
    torch.stack(out).sum().backward()
    s, _, _ = lif_multistep(x1, LIFParams(beta=0.8, v_th=1.0, surrogate=name))
    s.sum().backward()
    assert x1.grad.abs().sum() > 0
    torch.testing.assert_close(x1.grad, x2.grad, rtol=1e-5, atol=1e-6)


def test_fast_sigmoid_gradient_known_value():
    # d spike / d v at v - v_th = 0.1 with slope 10 is 1 / (1 + 1)^2 = 0.25
    x = torch.tensor([[1.1]], requires_grad=True)
    s, _ = step(x, initial_state(x), LIFParams(beta=0.5, v_th=1.0, surrogate="fast_sigmoid", surrogate_slope=10.0))
    s.sum().backward()
    assert s.item() == 1.0
    assert x.grad.item() == pytest.approx(0.25)


def test_refractory_blocks_input_for_the_given_steps():
    # constant drive 0.75 (exact in binary), beta 1, v_th 1, reset by subtraction.
    # R=2: v = .75 1.5* | .5 .5 (blocked) 1.25* | .25 .25 1.0 1.75* | .75 .75 1.5*
    x = torch.full((12, 1, 1), 0.75)
    s, v, _ = lif_multistep(x, LIFParams(beta=1.0, v_th=1.0, refractory_steps=2))
    assert s.flatten().tolist() == [0, 1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 1]
    assert v.flatten().tolist() == [0.75, 1.5, 0.5, 0.5, 1.25, 0.25, 0.25, 1.0, 1.75, 0.75, 0.75, 1.5]
    # R=0: v = .75 1.5* 1.25* 1.0 1.75* 1.5* 1.25* 1.0 ... (1.0 is not > v_th)
    s0, _, _ = lif_multistep(x, LIFParams(beta=1.0, v_th=1.0, refractory_steps=0))
    assert s0.flatten().tolist() == [0, 1, 1, 0, 1, 1, 1, 0, 1, 1, 1, 0]


def test_module_state_is_explicit():
    m = LIF(LIFParams(beta=0.9))
    x = torch.rand(10, 2, 5)
    a, _ = m(x)
    b, _ = m(x)
    assert torch.equal(a, b)  # no hidden state carried between calls
    assert not list(m.buffers()) and not list(m.parameters())


@pytest.mark.parametrize("kwargs,needle", [
    ({"beta": 1.5}, "beta=1.5"), ({"beta": -0.1}, "[0.0, 1.0]"), ({"v_th": 0.0}, "v_th=0.0"),
    ({"reset": "none"}, "subtract, zero"), ({"refractory_steps": -1}, ">= 0"),
    ({"refractory_steps": 1.5}, "integer"), ({"surrogate": "sigmoid"}, "fast_sigmoid"),
    ({"surrogate_slope": float("nan")}, "> 0"), ({"beta": float("nan")}, "finite"),
])
def test_bad_params_name_the_value_and_range(kwargs, needle):
    with pytest.raises(ConfigError) as e:
        LIFParams(**kwargs)
    assert needle in str(e.value)


def test_bad_inputs():
    p = LIFParams()
    with pytest.raises(ConfigError, match="NaN"):
        lif_multistep(torch.tensor([[[float("nan")]]]), p)
    with pytest.raises(ConfigError, match="dims"):
        lif_multistep(torch.zeros(5), p)
    with pytest.raises(ConfigError, match="floating"):
        lif_multistep(torch.zeros(3, 2, 2, dtype=torch.int64), p)


def test_from_tau():
    p = LIFParams.from_tau(tau_mem_ms=10.0, dt_ms=1.0)
    assert p.beta == pytest.approx(np.exp(-0.1))


@pytest.mark.parametrize("kwargs", [{}, {"beta": 0.7, "reset": "zero"}, {"beta": 0.95, "refractory_steps": 2},
                                    {"beta": 1.0, "v_th": 0.5, "reset": "zero", "refractory_steps": 1}])
def test_inference_path_equals_autograd_path(kwargs):
    """Under no_grad lif_multistep takes an in-place path; it must give the same bits."""
    p = LIFParams(**kwargs)
    x = torch.randn(80, 4, 33, generator=torch.Generator().manual_seed(5)) * 0.7 + 0.3
    s_g, v_g, st_g = lif_multistep(x, p)
    with torch.no_grad():
        s_i, v_i, st_i = lif_multistep(x, p)
    assert s_g.sum() > 100
    assert torch.equal(s_g, s_i) and torch.equal(v_g, v_i)
    for a, b in zip(st_g, st_i):
        assert torch.equal(a, b)
    with torch.no_grad():  # and snnTorch under no_grad too
        ref_s, ref_v = _snntorch_run(x, p.beta, p.v_th, p.reset) if p.refractory_steps == 0 else (s_i, v_i)
    assert torch.equal(ref_s, s_i) and torch.equal(ref_v, v_i)
