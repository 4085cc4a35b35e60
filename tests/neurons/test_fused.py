"""Fused multi-step LIF/ALIF (``neuro.neurons.fused``): forward bit-identical to the reference loop,
gradients equal to the reference's autograd (1e-5 relative in float32, 1e-10 in float64),
``torch.autograd.gradcheck`` in float64, what is saved for backward, implementation selection, and a
digits training run that reaches the reference path's accuracy at the same seed."""

from __future__ import annotations

import itertools

import pytest
import torch

from neuro.errors import BackendError, ConfigError
from neuro.neurons import fused
from neuro.neurons.alif import ALIFParams, ALIFState, alif_multistep
from neuro.neurons.lif import LIFParams, LIFState, lif_multistep
from neuro.rules.surrogate import SURROGATES

ENGINES = ["numba", "torch"]
RESETS = ["subtract", "zero"]
CASES = list(itertools.product(RESETS, SURROGATES, [0, 2]))


def _lif_params(reset, surrogate, refractory, **kw):
    return LIFParams(beta=0.85, v_th=1.0, reset=reset, refractory_steps=refractory, surrogate=surrogate, **kw)


def _alif_params(reset, surrogate, refractory, **kw):
    return ALIFParams(beta=0.85, rho=0.9, v_th=1.0, adapt=0.3, reset=reset, refractory_steps=refractory,
                      surrogate=surrogate, **kw)


def _run(neuron, x, p, state, impl, weights):
    """Forward + backward of a loss using spikes, membrane and the final state; returns the outputs
    and the gradients of x and of every differentiable state field."""
    x = x.clone().requires_grad_(True)
    state = type(state)(*[t.clone().requires_grad_(t.is_floating_point() and i != 2) for i, t in enumerate(state)])
    fn = lif_multistep if neuron == "lif" else alif_multistep
    s, v, st = fn(x, p, state, impl=impl)
    ws, wv, wf = weights
    loss = (s * ws).sum() + (v * v * wv).sum() + (st.v * wf).sum()
    if neuron == "alif":
        loss = loss + (st.a * wf).sum()
    loss.backward()
    grads = [x.grad] + [t.grad for i, t in enumerate(state) if i != 2 and (neuron == "alif" or i == 0)]
    return s, v, st, grads


def _inputs(neuron, dtype, T=40, B=3, N=29, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = (torch.randn(T, B, N, generator=g) * 0.7 + 0.35).to(dtype)
    v0 = torch.rand(B, N, generator=g).to(dtype)
    s0 = (torch.rand(B, N, generator=g) > 0.7).to(dtype)
    r0 = torch.zeros(B, N, dtype=dtype)
    weights = tuple(torch.randn(*shape, generator=g).to(dtype) for shape in ((T, B, N), (T, B, N), (B, N)))
    if neuron == "lif":
        return x, LIFState(v0, s0, r0), weights
    return x, ALIFState(v0, s0, r0, torch.rand(B, N, generator=g).to(dtype)), weights


@pytest.mark.parametrize("neuron", ["lif", "alif"])
@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("reset,surrogate,refractory", CASES)
def test_fused_equals_reference_float32(neuron, engine, reset, surrogate, refractory):
    x, state, weights = _inputs(neuron, torch.float32)
    p = (_lif_params if neuron == "lif" else _alif_params)(reset, surrogate, refractory)
    s_r, v_r, st_r, g_r = _run(neuron, x, p, state, "reference", weights)
    s_f, v_f, st_f, g_f = _run(neuron, x, p, state, engine, weights)
    assert 100 < s_r.sum() < 0.6 * s_r.numel()  # spikes, resets and silence all happen
    assert torch.equal(s_f, s_r) and torch.equal(v_f, v_r)  # the forward is bit-identical
    for a, b in zip(st_f, st_r):
        assert torch.equal(a, b)
    assert len(g_f) == len(g_r) == (2 if neuron == "lif" else 4)
    for gf, gr in zip(g_f, g_r):
        assert gr.abs().max() > 0
        torch.testing.assert_close(gf, gr, rtol=1e-5, atol=1e-5 * gr.abs().max().item())


@pytest.mark.parametrize("neuron", ["lif", "alif"])
@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("reset,surrogate,refractory", CASES)
def test_fused_jacobian_equals_reference_float64(neuron, engine, reset, surrogate, refractory):
    """Every surrogate path: in float64 the fused backward equals the reference autograd to 1e-10."""
    x, state, weights = _inputs(neuron, torch.float64, T=12, B=2, N=5, seed=1)
    p = (_lif_params if neuron == "lif" else _alif_params)(reset, surrogate, refractory)
    _, _, _, g_r = _run(neuron, x, p, state, "reference", weights)
    _, _, _, g_f = _run(neuron, x, p, state, engine, weights)
    for gf, gr in zip(g_f, g_r):
        torch.testing.assert_close(gf, gr, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("neuron", ["lif", "alif"])
@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("reset,surrogate,refractory", CASES)
def test_gradcheck_float64(neuron, engine, reset, surrogate, refractory):
    """``torch.autograd.gradcheck`` against finite differences. The spike is a step, so finite
    differences see its true derivative (zero) and no surrogate: the checked outputs are those whose
    true derivative the Function returns, the membrane (reset and ALIF's reset threshold detached) for
    every reset mode and surrogate, with spikes and resets happening along the way."""
    g = torch.Generator().manual_seed(7)
    T, B, N = 10, 2, 3
    x = (torch.randn(T, B * N, generator=g, dtype=torch.float64) * 0.6 + 0.45).requires_grad_(True)
    v0 = torch.rand(B * N, generator=g, dtype=torch.float64).requires_grad_(True)
    zeros = torch.zeros(B * N, dtype=torch.float64)
    if neuron == "lif":
        p = _lif_params(reset, surrogate, refractory)
        spk, _, _ = fused.LIFFused.apply(x, v0, zeros, zeros, p, engine)

        def fn(x, v0):
            return fused.LIFFused.apply(x, v0, zeros, zeros, p, engine)[1]
    else:
        p = _alif_params(reset, surrogate, refractory)
        spk, _, _, _ = fused.ALIFFused.apply(x, v0, zeros, zeros, zeros, p, engine)

        def fn(x, v0):
            return fused.ALIFFused.apply(x, v0, zeros, zeros, zeros, p, engine)[1]
    assert spk.sum() >= 5
    assert torch.autograd.gradcheck(fn, (x, v0), eps=1e-6, atol=1e-8, rtol=1e-6, fast_mode=True)


def test_alif_surrogate_path_known_value():
    """One ALIF neuron, two steps, fast_sigmoid slope 1, no spikes: s_1 depends on s_0 only through
    the threshold a_1 = s_0, so dL/dx_0 for L = s_1 is the chain through v (beta * sg(u_1)) plus the
    chain through s_0 (-adapt * sg(u_1) * sg(u_0))."""
    p = ALIFParams(beta=0.5, rho=0.5, v_th=1.0, adapt=0.25, surrogate="fast_sigmoid", surrogate_slope=1.0)
    x = torch.tensor([[[0.5]], [[0.0]]], requires_grad=True)
    s, v, _ = alif_multistep(x, p, impl="numba")
    s[1].sum().backward()
    # u_0 = 0.5 - 1 = -0.5, sg = 1/1.5^2 = 4/9; v_1 = 0.25, a_1 = 0, u_1 = -0.75, sg = 1/1.75^2 = 16/49
    sg0, sg1 = 4 / 9, 16 / 49
    assert s.sum().item() == 0
    assert x.grad[0].item() == pytest.approx(0.5 * sg1 - 0.25 * sg1 * sg0, rel=1e-6)
    assert x.grad[1].item() == pytest.approx(sg1, rel=1e-6)


@pytest.mark.parametrize("neuron", ["lif", "alif"])
@pytest.mark.parametrize("refractory", [0, 2])
def test_saved_for_backward_is_small(neuron, refractory):
    """Per step and neuron: LIF keeps the membrane (an output anyway, not copied), ALIF v - theta
    instead; 1 byte of flags only with a refractory period. No autograd graph per step."""
    x = torch.randn(30, 4, 50).requires_grad_(True)
    fn = lif_multistep if neuron == "lif" else alif_multistep
    p = (LIFParams if neuron == "lif" else ALIFParams)(refractory_steps=refractory)
    s, v, _ = fn(x, p, impl="numba")
    node = s.grad_fn
    while not type(node).__name__.endswith("FusedBackward"):
        node = node.next_functions[0][0]
    saved = node.saved_tensors
    per_element = sum(t.numel() * t.element_size() for t in saved) / x.numel()
    flags = 1.0 if refractory else 1.0 / x.numel()  # a 1x1 placeholder without a refractory period
    assert per_element == pytest.approx(4.0 + flags + 4.0 / 30)  # + the initial spikes [M]
    assert any(t.data_ptr() == v.data_ptr() for t in saved) == (neuron == "lif")


@pytest.mark.parametrize("reset,refractory", [("subtract", 0), ("zero", 2)])
def test_no_grad_paths_equal_reference(reset, refractory):
    x = torch.randn(60, 2, 3, 17, generator=torch.Generator().manual_seed(3)) * 0.8 + 0.3
    p = LIFParams(beta=0.9, reset=reset, refractory_steps=refractory)
    ap = ALIFParams(beta=0.9, reset=reset, refractory_steps=refractory)
    with torch.no_grad():
        ref = lif_multistep(x, p, impl="reference")
        aref = alif_multistep(x, ap, impl="reference")
        for impl in ("numba", "torch", "auto"):
            out = lif_multistep(x, p, impl=impl)
            aout = alif_multistep(x, ap, impl=impl)
            for a, b in itertools.chain(zip(out[:2], ref[:2]), zip(out[2], ref[2]),
                                        zip(aout[:2], aref[:2]), zip(aout[2], aref[2])):
                assert torch.equal(a, b)
    assert ref[0].sum() > 100


def test_non_contiguous_input_and_mem_only_loss():
    base = torch.randn(3, 20, 30, generator=torch.Generator().manual_seed(4)) * 0.8 + 0.3
    x = base.transpose(0, 1)  # [T=20, B=3, N=30], not contiguous
    assert not x.is_contiguous()
    p = LIFParams(reset="zero")
    grads = []
    for impl in ("reference", "numba"):
        xx = x.detach().clone().requires_grad_(True)
        assert not xx.is_contiguous()
        _, v, _ = lif_multistep(xx, p, impl=impl)
        v.mean().backward()  # the spikes get no gradient (membrane readout)
        grads.append(xx.grad)
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-5, atol=1e-8)


def test_impl_selection_and_errors(monkeypatch):
    x = torch.zeros(3, 1, 2)
    assert fused.resolve_impl(None, x) == "numba"
    assert fused.resolve_impl(None, x.to(torch.float16)) == "reference"
    monkeypatch.setenv("NEURO_NEURON_IMPL", "reference")
    assert fused.resolve_impl(None, x) == "reference"
    assert fused.resolve_impl("torch", x) == "torch"
    monkeypatch.setenv("NEURO_NEURON_IMPL", "fast")
    with pytest.raises(ConfigError, match="NEURO_NEURON_IMPL='fast'.*auto, reference, numba, triton, torch"):
        lif_multistep(x, LIFParams())
    with pytest.raises(ConfigError, match="impl='cuda'"):
        lif_multistep(x, LIFParams(), impl="cuda")
    with pytest.raises(BackendError, match="float16"):
        lif_multistep(x.to(torch.float16), LIFParams(), impl="numba")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_torch_engine_equals_cpu_reference():
    x, state, weights = _inputs("alif", torch.float32)
    p = _alif_params("subtract", "atan", 2)
    s_r, v_r, _, g_r = _run("alif", x, p, state, "reference", weights)
    dev = torch.device("cuda")
    s_c, v_c, _, g_c = _run("alif", x.to(dev), p, ALIFState(*[t.to(dev) for t in state]), None,
                            tuple(w.to(dev) for w in weights))
    assert torch.equal(s_c.cpu(), s_r)
    for gc, gr in zip(g_c, g_r):
        torch.testing.assert_close(gc.cpu(), gr, rtol=1e-4, atol=1e-5)


def test_digits_training_fused_matches_reference(tmp_path, monkeypatch):
    """The trainer on digits, same seed: the fused path (default) reaches the reference loop's accuracy."""
    from neuro.train.config import load_config
    from neuro.train.trainer import train

    cfg = load_config(None, ["data.num_steps=10", "model.hidden=[64]", "train.batch_size=64", "train.lr=3e-3",
                             "train.epochs=4"])
    metrics = {}
    for impl in ("reference", "auto"):
        monkeypatch.setenv("NEURO_NEURON_IMPL", impl)
        metrics[impl] = train(cfg, tmp_path / impl, progress=False)
    ref, fus = metrics["reference"], metrics["auto"]
    assert ref["test_accuracy_torch"] >= 0.8
    assert abs(fus["test_accuracy_torch"] - ref["test_accuracy_torch"]) <= 0.01
    assert abs(fus["train_accuracy"] - ref["train_accuracy"]) <= 0.01


@pytest.mark.parametrize("neuron", ["lif", "alif"])
@pytest.mark.parametrize("loss", ["spikes", "membrane", "both"])
def test_sum_losses_pass_broadcast_gradients(neuron, loss):
    """``.sum()`` hands backward an expanded scalar; the kernels take it without a [T, M] copy."""
    x0 = torch.randn(30, 2, 40, generator=torch.Generator().manual_seed(9)) * 0.7 + 0.35
    fn = lif_multistep if neuron == "lif" else alif_multistep
    p = LIFParams(reset="zero") if neuron == "lif" else ALIFParams(reset="zero")
    grads = []
    for impl in ("reference", "numba"):
        x = x0.clone().requires_grad_(True)
        s, v, _ = fn(x, p, impl=impl)
        {"spikes": s.sum() * 2.0, "membrane": v.sum() * 0.5, "both": s.sum() * 2.0 + v.sum() * 0.5}[loss].backward()
        grads.append(x.grad)
    assert grads[0].abs().max() > 0
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-5, atol=1e-5 * grads[0].abs().max().item())
