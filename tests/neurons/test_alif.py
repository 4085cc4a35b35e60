"""The ALIF neuron: reduction to LIF, hand-computed trajectories, gradients through the adaptive
threshold, parameter checks and torch vs Numba parity."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import kernels.alif
import kernels.lif
from neuro.errors import ConfigError
from neuro.neurons.alif import ALIF, ALIFParams, ALIFState, alif_multistep, initial_state, step, threshold
from neuro.neurons.lif import LIFParams, lif_multistep

LIF_CASES = [
    dict(beta=0.9, v_th=1.0, reset="subtract"),
    dict(beta=0.5, v_th=0.3, reset="subtract", refractory_steps=2),
    dict(beta=0.95, v_th=2.0, reset="zero"),
    dict(beta=1.0, v_th=0.7, reset="zero", refractory_steps=1),
    dict(beta=0.0, v_th=0.5, reset="subtract"),
]


def _spike_times(s) -> list[int]:
    return [int(t) for t in np.flatnonzero(np.asarray(s).reshape(-1))]


# -- adapt = 0 is the LIF neuron, bit for bit -----------------------------------------------------

@pytest.mark.parametrize("case", LIF_CASES)
@pytest.mark.parametrize("rho", [0.0, 0.9, 1.0])
def test_adapt_zero_is_lif_bit_exact(case, rho):
    g = torch.Generator().manual_seed(3)
    x = torch.randn(150, 4, 33, generator=g) * 0.8 + 0.3
    s_ref, v_ref, st_ref = lif_multistep(x, LIFParams(**case))
    s, v, st = alif_multistep(x, ALIFParams(rho=rho, adapt=0.0, **case))
    assert s_ref.sum() > 100
    assert torch.equal(s, s_ref) and torch.equal(v, v_ref)
    assert torch.equal(st.v, st_ref.v) and torch.equal(st.s, st_ref.s) and torch.equal(st.r, st_ref.r)
    # the numba backends agree too
    s_n, v_n, _ = kernels.alif.alif_multistep(x.numpy(), ALIFParams(rho=rho, adapt=0.0, **case))
    s_ln, v_ln, _ = kernels.lif.lif_multistep(x.numpy(), LIFParams(**case))
    np.testing.assert_array_equal(s_n, s_ln)
    np.testing.assert_array_equal(v_n, v_ln)


@pytest.mark.parametrize("surrogate", ["fast_sigmoid", "atan", "straight_through"])
def test_adapt_zero_gradients_equal_lif(surrogate):
    g = torch.Generator().manual_seed(4)
    x = torch.randn(40, 3, 16, generator=g) * 0.7 + 0.3
    x1, x2 = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    s1, v1, _ = lif_multistep(x1, LIFParams(beta=0.8, surrogate=surrogate))
    s2, v2, _ = alif_multistep(x2, ALIFParams(beta=0.8, rho=0.9, adapt=0.0, surrogate=surrogate))
    (s1.sum() + 0.1 * v1.sum()).backward()
    (s2.sum() + 0.1 * v2.sum()).backward()
    assert x1.grad.abs().sum() > 0
    assert torch.equal(x1.grad, x2.grad)


# -- hand-computed trajectories (constant drive; all numbers exact in binary) ---------------------

def test_known_answer_interspike_interval_grows():
    # x = 0.5, beta = 1, v_th = 1, adapt = 0.25, rho = 1 (no decay: a counts the spikes so far, so
    # after k spikes the threshold is 1 + k/4). Reset subtracts the threshold that was crossed.
    #   t  0   1   2    3    4    5    6    7    8    9    10   11   12  13  14  15
    #   v .5  1  1.5*  1   1.5*  .75 1.25 1.75* .75 1.25 1.75 2.25* 1  1.5  2  2.5*
    #  th  1  1   1   1.25 1.25 1.5  1.5  1.5 1.75 1.75 1.75 1.75   2   2   2   2
    # (a spike needs v > th strictly: at t=1 v = th = 1 does not fire.) Then th = 2.25, v = .25 + ...:
    # .75 1.25 1.75 2.25 2.75* (t=19), th = 2.5: .25 .75 1.25 1.75 2.25 2.75* (t=24).
    # Inter-spike intervals 2, 3, 4, 4, 4, 5 (LIF, adapt=0: a spike every 2nd step).
    p = ALIFParams(beta=1.0, v_th=1.0, adapt=0.25, rho=1.0)
    x = torch.full((25, 1, 1), 0.5)
    s, v, st = alif_multistep(x, p)
    assert _spike_times(s) == [2, 4, 7, 11, 15, 19, 24]
    assert np.diff(_spike_times(s)).tolist() == [2, 3, 4, 4, 4, 5]
    assert v.flatten()[:16].tolist() == [0.5, 1.0, 1.5, 1.0, 1.5, 0.75, 1.25, 1.75,
                                         0.75, 1.25, 1.75, 2.25, 1.0, 1.5, 2.0, 2.5]
    assert st.a.item() == 6.0 and threshold(st, p).item() == 2.5  # 6 spikes before the last step
    s0, _, _ = alif_multistep(x, ALIFParams(beta=1.0, v_th=1.0, adapt=0.0, rho=1.0))
    assert _spike_times(s0) == list(range(2, 25, 2))
    s_n, v_n, st_n = kernels.alif.alif_multistep(x.numpy(), p)
    np.testing.assert_array_equal(s_n, s.numpy())
    np.testing.assert_array_equal(v_n, v.numpy())
    assert st_n[3].item() == 6.0


def test_known_answer_zero_reset():
    # As above with reset to zero: after k spikes v climbs .5 1 1.5 ... from 0 and must pass 1 + k/4.
    # th 1: spike at v=1.5 (t=2); th 1.25: v .5 1 1.5* (t=5); th 1.5: .5 1 1.5 2* (t=9);
    # th 1.75: .5 1 1.5 2* (t=13); th 2: .5 1 1.5 2 2.5* (t=18); th 2.25: .5 .. 2.5* (t=23).
    p = ALIFParams(beta=1.0, v_th=1.0, adapt=0.25, rho=1.0, reset="zero")
    x = np.full((25, 1, 1), 0.5, np.float32)
    s, v, _ = alif_multistep(torch.from_numpy(x), p)
    assert _spike_times(s) == [2, 5, 9, 13, 18, 23]
    assert v.flatten()[:10].tolist() == [0.5, 1.0, 1.5, 0.5, 1.0, 1.5, 0.5, 1.0, 1.5, 2.0]
    s_n, v_n, _ = kernels.alif.alif_multistep(x, p)
    np.testing.assert_array_equal(s_n, s.numpy())
    np.testing.assert_array_equal(v_n, v.numpy())


def test_known_answer_adaptation_decays():
    # x = 0.5, beta = 1, v_th = 1, adapt = 0.5, rho = 0.5: each spike adds 0.5 to the threshold on
    # the next step, halving every step after. a and th per step:
    #  t   0   1   2    3     4     5     6     7      8       9
    #  a   0   0   0    1    1/2   5/4   5/8   5/16  37/32   37/64
    #  th  1   1   1   3/2   5/4   13/8  21/16 37/32 101/64  165/128
    #  v  1/2  1  3/2*  1   3/2*   3/4   5/4   7/4*  35/32  51/32*
    # e.g. t=3: v = 3/2 + 1/2 - 1 (th at t=2) = 1; t=5: v = 3/2 + 1/2 - 5/4 = 3/4.
    p = ALIFParams(beta=1.0, v_th=1.0, adapt=0.5, rho=0.5)
    x = torch.full((16, 1, 1), 0.5)
    s, v, st = alif_multistep(x, p)
    assert _spike_times(s) == [2, 4, 7, 9, 12, 14]
    assert v.flatten()[:10].tolist() == [0.5, 1.0, 1.5, 1.0, 1.5, 0.75, 1.25, 1.75, 35 / 32, 51 / 32]
    # the per-step thresholds, by stepping one at a time
    state, ths = initial_state(x[0]), []
    for t in range(10):
        _, state = step(x[t], state, p)
        ths.append(threshold(state, p).item())
    assert ths == [1.0, 1.0, 1.0, 1.5, 1.25, 13 / 8, 21 / 16, 37 / 32, 101 / 64, 165 / 128]
    s_n, v_n, _ = kernels.alif.alif_multistep(x.numpy(), p)
    np.testing.assert_array_equal(s_n, s.numpy())
    np.testing.assert_array_equal(v_n, v.numpy())


# -- gradients ------------------------------------------------------------------------------------

@pytest.mark.parametrize("surrogate", ["fast_sigmoid", "atan", "straight_through"])
@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_gradients_flow_through_time(surrogate, reset):
    g = torch.Generator().manual_seed(5)
    x = (torch.randn(50, 4, 32, generator=g) * 0.7 + 0.3).requires_grad_(True)
    s, v, st = alif_multistep(x, ALIFParams(beta=0.9, rho=0.95, adapt=0.3, reset=reset, surrogate=surrogate))
    assert s.sum() > 100
    (s.sum() + st.a.sum()).backward()
    assert torch.isfinite(x.grad).all()
    assert (x.grad[:-1] != 0).float().mean() > 0.5  # earlier steps receive gradient (BPTT)
    assert x.grad.abs().sum() > 0


def test_gradient_through_adaptation_known_value():
    # beta = 0: the membrane forgets, the reset is detached, so the only path from x_k to s_5 for
    # k < 5 is s_k -> a_{k+1} -> ... -> theta_5. With the straight-through surrogate (d s / d(v - th)
    # = 1): d s_5 / d x_5 = 1, d s_5 / d x_4 = -adapt, and each earlier step multiplies by
    # (rho - adapt) (decay of a, minus the route through the intermediate spike's threshold):
    # d s_5 / d x_k = -adapt * (rho - adapt)**(4 - k) = -0.25 * 0.25**(4 - k).
    x = torch.full((8, 1, 1), 0.5, requires_grad=True)
    s, _, _ = alif_multistep(x, ALIFParams(beta=0.0, rho=0.5, adapt=0.25, surrogate="straight_through"))
    s[5].sum().backward()
    assert x.grad.flatten().tolist() == [-0.25 * 0.25 ** (4 - k) for k in range(5)] + [1.0, 0.0, 0.0]
    # without adaptation nothing reaches the earlier steps
    x0 = torch.full((8, 1, 1), 0.5, requires_grad=True)
    s0, _, _ = alif_multistep(x0, ALIFParams(beta=0.0, rho=0.5, adapt=0.0, surrogate="straight_through"))
    s0[5].sum().backward()
    assert x0.grad.flatten().tolist() == [0.0] * 5 + [1.0, 0.0, 0.0]


def test_no_grad_path_equals_grad_path():
    g = torch.Generator().manual_seed(6)
    x = torch.randn(30, 2, 9, generator=g) * 0.7 + 0.3
    p = ALIFParams(beta=0.85, rho=0.9, adapt=0.4, refractory_steps=2)
    s1, v1, st1 = alif_multistep(x.clone().requires_grad_(True), p)
    with torch.no_grad():
        s2, v2, st2 = alif_multistep(x, p)
    assert torch.equal(s1.detach(), s2) and torch.equal(v1.detach(), v2)
    assert all(torch.equal(a.detach(), b) for a, b in zip(st1, st2))


# -- torch vs numba -------------------------------------------------------------------------------

PARITY_CASES = [
    {},
    dict(beta=0.7, rho=0.5, v_th=0.5, adapt=0.8, reset="zero"),
    dict(beta=0.95, rho=0.99, adapt=0.05, refractory_steps=3),
    dict(beta=1.0, rho=1.0, v_th=2.0, adapt=0.1, reset="zero", refractory_steps=1),
    dict(beta=0.0, rho=0.0, v_th=0.3, adapt=1.5),
    dict(beta=0.9, rho=0.97, v_th=1.0, adapt=0.0),
]


@pytest.mark.parametrize("case", PARITY_CASES)
def test_parity_torch_vs_numba(case):
    p = ALIFParams(**case)
    rng = np.random.default_rng(7)
    x = (rng.standard_normal((80, 3, 5, 13)) * 0.6 + 0.3).astype(np.float32)
    s_t, v_t, st_t = alif_multistep(torch.from_numpy(x), p)
    s_n, v_n, st_n = kernels.alif.alif_multistep(x, p)
    assert s_t.sum() > 100
    np.testing.assert_allclose(s_t.numpy(), s_n, rtol=0, atol=1e-6)
    np.testing.assert_allclose(v_t.numpy(), v_n, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(v_t.numpy(), v_n)  # bit-exact in practice
    for a, b in zip(st_t, st_n):
        np.testing.assert_array_equal(a.numpy(), b)
    # a state carried into a second run equals one long run, on both backends
    s2_n, _, _ = kernels.alif.alif_multistep(x, p, st_n)
    s2_t, _, _ = alif_multistep(torch.from_numpy(x), p, st_t)
    s_long, _, _ = kernels.alif.alif_multistep(np.concatenate([x, x]), p)
    np.testing.assert_array_equal(s_long[80:], s2_n)
    np.testing.assert_array_equal(s2_t.numpy(), s2_n)


def test_numba_leaves_the_given_state_untouched():
    x = np.full((5, 1, 2), 0.6, np.float32)
    st = tuple(np.full((1, 2), val, np.float32) for val in (0.5, 1.0, 0.0, 2.0))
    before = [a.copy() for a in st]
    kernels.alif.alif_multistep(x, ALIFParams(), st)
    assert all(np.array_equal(a, b) for a, b in zip(st, before))


def test_numba_bad_inputs():
    p = ALIFParams()
    with pytest.raises(ConfigError, match="float32"):
        kernels.alif.alif_multistep(np.zeros((3, 2, 2), np.float64), p)
    with pytest.raises(ConfigError, match=r"state\.a"):
        z = np.zeros((2, 2), np.float32)
        kernels.alif.alif_multistep(np.zeros((3, 2, 2), np.float32), p, (z, z, z, np.zeros(3, np.float32)))
    with pytest.raises(ConfigError, match="4"):
        z = np.zeros((2, 2), np.float32)
        kernels.alif.alif_multistep(np.zeros((3, 2, 2), np.float32), p, (z, z, z))


# -- params and module ----------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs,needle", [
    ({"beta": 1.5}, "beta=1.5"), ({"beta": -0.1}, "[0.0, 1.0]"),
    ({"rho": 1.01}, "rho=1.01"), ({"rho": -0.5}, "[0.0, 1.0]"), ({"rho": float("inf")}, "finite"),
    ({"v_th": 0.0}, "v_th=0.0"), ({"v_th": -1.0}, "> 0"),
    ({"adapt": -0.1}, "adapt=-0.1"), ({"adapt": -0.1}, ">= 0"), ({"adapt": float("nan")}, "finite"),
    ({"reset": "none"}, "subtract, zero"), ({"refractory_steps": -1}, ">= 0"),
    ({"refractory_steps": 1.5}, "integer"), ({"surrogate": "sigmoid"}, "fast_sigmoid"),
    ({"surrogate_slope": 0.0}, "> 0"),
])
def test_bad_params_name_the_value_and_range(kwargs, needle):
    with pytest.raises(ConfigError) as e:
        ALIFParams(**kwargs)
    assert needle in str(e.value)


def test_bad_inputs():
    p = ALIFParams()
    with pytest.raises(ConfigError, match="NaN"):
        alif_multistep(torch.tensor([[[float("nan")]]]), p)
    with pytest.raises(ConfigError, match="dims"):
        alif_multistep(torch.zeros(5), p)


def test_from_tau():
    p = ALIFParams.from_tau(tau_mem_ms=20.0, tau_adapt_ms=200.0, dt_ms=1.0, adapt=0.07)
    assert p.beta == pytest.approx(math.exp(-1 / 20)) and p.rho == pytest.approx(math.exp(-1 / 200))
    assert p.adapt == 0.07
    with pytest.raises(ConfigError, match="tau_adapt_ms"):
        ALIFParams.from_tau(tau_mem_ms=20.0, tau_adapt_ms=0.0)


def test_module_state_is_explicit():
    m = ALIF(ALIFParams(beta=0.9))
    x = torch.rand(10, 2, 5)
    a, _ = m(x)
    b, _ = m(x)
    assert torch.equal(a, b)
    assert not list(m.buffers()) and not list(m.parameters())
    assert isinstance(alif_multistep(x, m.params)[2], ALIFState)
