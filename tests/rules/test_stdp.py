"""STDP (``neuro.rules.stdp`` + ``kernels/stdp.py``) and the NALSM astrocyte: hand-computed weight
changes on a two-neuron pair, pairing modes, masks/classes/clipping, the third factor, rate decay,
torch vs Numba parity, and the astrocyte raising depression when the liquid is more active than its input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from kernels import stdp as kstdp
from neuro.errors import ConfigError
from neuro.rules import stdp


def _pair(t_pre, t_post, T=30):
    pre, post = torch.zeros(T, 1, 1), torch.zeros(T, 1, 1)
    for t in np.atleast_1d(t_pre):
        pre[t, 0, 0] = 1.0
    for t in np.atleast_1d(t_post):
        post[t, 0, 0] = 1.0
    return pre, post


@pytest.mark.parametrize("backend", ["torch", "numba"])
def test_two_neuron_pair_known_answers(backend):
    p = stdp.STDPParams(a_plus=0.01, a_minus=0.012, tau_plus=20.0, tau_minus=10.0, dt=1.0, w_min=0.0, w_max=1.0)
    run = stdp.stdp_run if backend == "torch" else (lambda w, a, b, q, **k: kstdp.stdp_run(w.numpy(), a.numpy(), b.numpy(), q, **k))
    w0 = torch.full((1, 1, 1), 0.5)
    cases = {  # (pre times, post times) -> hand-computed dw
        ((3,), (8,)): 0.01 * math.exp(-5 / 20),            # pre 5 ms before post: LTP
        ((8,), (3,)): -0.012 * math.exp(-5 / 10),          # post 5 ms before pre: LTD
        ((4,), (4,)): 0.01,                                # simultaneous counts as pre-before-post
        ((2, 6), (10,)): 0.01 * (math.exp(-8 / 20) + math.exp(-4 / 20)),  # all-to-all: both pre spikes
        ((2,), (6, 10)): 0.01 * (math.exp(-4 / 20) + math.exp(-8 / 20)),  # both post spikes
    }
    for (tp, tq), want in cases.items():
        w, _ = run(w0, *_pair(tp, tq), p)
        assert float(np.asarray(w).reshape(-1)[0]) - 0.5 == pytest.approx(want, rel=1e-5)
    pn = stdp.STDPParams(a_plus=0.01, a_minus=0.012, tau_plus=20.0, tau_minus=10.0, pairing="nearest")
    w, _ = run(w0, *_pair((2, 6), (10,)), pn)  # nearest: only the last pre spike counts
    assert float(np.asarray(w).reshape(-1)[0]) - 0.5 == pytest.approx(0.01 * math.exp(-4 / 20), rel=1e-5)


def test_clipping_mask_classes_modulation_and_decay():
    p = stdp.STDPParams(a_plus=0.5, a_minus=0.5, decay=0.5)
    pre_class, post_class = torch.tensor([0, 1, 2]), torch.tensor([1, 2])
    lo, hi = stdp.class_bounds(pre_class, post_class, {(0, 1): (0.0, 0.6), (0, 2): (0.0, 0.7), (1, 1): (0.1, 0.9),
                                                        (1, 2): (0.2, 0.3), (2, 1): (0.0, 2.0), (2, 2): (0.0, 2.0)})
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    w0 = torch.clamp(torch.full((1, 2, 3), 0.25), lo, hi) * mask
    pre, post = torch.ones(1, 1, 3), torch.ones(1, 1, 2)  # every neuron spikes once at t = 0: LTP of 0.5
    w, st = stdp.stdp_run(w0, pre, post, p, mask=mask, w_min=lo, w_max=hi)
    assert torch.equal(w[0], torch.minimum(w0[0] + 0.5, hi) * mask)  # clipped per class, masked stays 0
    assert float(st.a_plus[0]) == 0.25 and float(st.a_minus[0]) == 0.25  # rates decayed
    w2, _ = stdp.stdp_run(w0, pre, post, p, mask=mask, w_min=lo, w_max=hi, modulation=torch.tensor([[0.0, 1.0]]))
    assert torch.equal(w2[0, 0], w0[0, 0])  # third factor 0 freezes post neuron 0
    with pytest.raises(ConfigError, match=r"class 0 to class 2"):
        stdp.class_bounds(pre_class, post_class, {(0, 1): (0, 1)})
    with pytest.raises(ConfigError, match="a_minus"):
        stdp.STDPParams(a_minus=-1.0)
    with pytest.raises(ConfigError, match="pre \\[T, 1, 3\\]"):
        stdp.stdp_run(w0, torch.ones(2, 1, 4), torch.ones(2, 1, 2), p)


@pytest.mark.parametrize("pairing", ["all_to_all", "nearest"])
@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 1e-5)])
def test_torch_numba_parity(pairing, dtype, tol):
    rng = np.random.default_rng(0)
    T, B, n_pre, n_post = 60, 3, 12, 7
    pre = (rng.random((T, B, n_pre)) < 0.1).astype(dtype)
    post = (rng.random((T, B, n_post)) < 0.1).astype(dtype)
    mask = (rng.random((n_post, n_pre)) < 0.6).astype(dtype)
    w0 = (rng.random((B, n_post, n_pre)) * 0.8 + 0.1).astype(dtype) * mask
    p = stdp.STDPParams(a_plus=0.02, a_minus=0.025, tau_plus=15.0, tau_minus=25.0, pairing=pairing, w_max=0.95,
                        decay=0.999)
    mod = (rng.random((B, n_post)) + 0.5).astype(dtype)
    wt, st = stdp.stdp_run(torch.from_numpy(w0), torch.from_numpy(pre), torch.from_numpy(post), p,
                           mask=torch.from_numpy(mask), modulation=torch.from_numpy(mod))
    wn, sn = kstdp.stdp_run(w0, pre, post, p, mask=mask, modulation=mod)
    assert np.abs(wn - w0).max() > 1e-3
    np.testing.assert_allclose(wn, wt.numpy(), rtol=tol, atol=tol)
    for a, b in zip(sn, st):
        np.testing.assert_allclose(a, b.numpy(), rtol=tol, atol=tol)


def test_astrocyte_more_liquid_than_input_raises_depression():
    p = stdp.AstrocyteParams(tau=50.0, w_liquid=0.02, w_input=0.02, a_minus0=0.001, gain=0.01)
    a = torch.zeros(3)
    n_input = torch.full((3,), 20.0)
    n_liquid = torch.tensor([10.0, 20.0, 60.0])  # quieter than, equal to, louder than the input
    for _ in range(300):
        a, am = stdp.astrocyte_step(a, n_liquid, n_input, p)
    assert am[0] == pytest.approx(0.001) and am[1] == pytest.approx(0.001)  # no excess: baseline rate
    assert float(am[2]) > 0.001 + 0.005  # excess liquid activity: depression rises
    # fixed point a* = w_liquid n_liquid - w_input n_input = 0.8 -> a_minus = 0.001 + 0.008
    assert float(am[2]) == pytest.approx(0.009, rel=1e-2)
