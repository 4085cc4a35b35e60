"""Forward-forward: loss, closed-form gradient vs autograd, Numba parity, no gradient across layers,
label-embedding inference on a separable toy set, negatives, physical black boxes, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kernels import ff as kff
from neuro.errors import ConfigError
from neuro.models.ff import FFNet, SaturableNoisy, SpikingFFNet, WaveMixing, measure
from neuro.rules import ff as ffr

VARIANTS = [ffr.FFParams(), ffr.FFParams(goodness="sum_sq", theta=5.0),
            ffr.FFParams(peer=0.5, momentum=0.7), ffr.FFParams(goodness="sum_sq", theta=2.0, peer=2.0, momentum=0.0),
            ffr.FFParams(theta=3.0, scale=7.5, peer=0.3)]


def _case(seed, B=24, F=11, N=7, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    xp = torch.randn(B, F, generator=g, dtype=dtype)
    xn = torch.randn(B, F, generator=g, dtype=dtype)
    w = torch.randn(N, F, generator=g, dtype=dtype) * 0.5
    b = torch.randn(N, generator=g, dtype=dtype) * 0.1
    m = torch.rand(N, generator=g, dtype=dtype)
    return xp, xn, w, b, ffr.FFState(m)


def test_ff_loss_known_values():
    g_pos = torch.tensor([3.0, 1.0])
    g_neg = torch.tensor([0.0, 2.0])
    # softplus(theta - g_pos) mean + softplus(g_neg - theta) mean with theta = 2
    want = (np.log1p(np.exp(-1.0)) + np.log1p(np.exp(1.0))) / 2 + (np.log1p(np.exp(-2.0)) + np.log(2.0)) / 2
    assert float(ffr.ff_loss(g_pos, g_neg, 2.0)) == pytest.approx(want, rel=1e-6)
    h = torch.tensor([[1.0, 2.0, 0.0, 3.0]])
    assert float(ffr.goodness(h, ffr.FFParams(goodness="sum_sq"))) == 14.0
    assert float(ffr.goodness(h, ffr.FFParams(goodness="mean_sq"))) == 3.5
    assert float(ffr.goodness(h, ffr.FFParams(goodness="mean_sq", scale=4.0))) == 14.0  # scale multiplies g
    assert float(ffr.goodness(h, ffr.FFParams(goodness="sum_sq", scale=0.5))) == 7.0


@pytest.mark.parametrize("vi", range(len(VARIANTS)))
def test_closed_form_gradient_matches_autograd(vi):
    p = VARIANTS[vi]
    xp, xn, w, b, st = _case(vi)
    dw, db, new, loss, gp, gn = ffr.ff_layer_grad(xp, xn, w, b, st, p)
    w_ = w.clone().requires_grad_(True)
    b_ = b.clone().requires_grad_(True)
    ref_loss, ref_state = ffr.layer_loss(xp, xn, w_, b_, st, p)
    rw, rb = torch.autograd.grad(ref_loss, (w_, b_))
    assert float(dw.abs().sum()) > 1e-3
    # (1e-7, not 1e-12: torch's softplus turns linear above 20, where the exact sigmoid is 1 - 2e-9)
    torch.testing.assert_close(dw, rw, rtol=1e-7, atol=1e-9)
    torch.testing.assert_close(db, rb, rtol=1e-7, atol=1e-9)
    torch.testing.assert_close(loss, ref_loss.detach(), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(new[0], ref_state[0])
    # the in-layer autograd backend gives the same
    aw, ab, _, aloss, _, _ = ffr.ff_layer_grad_autograd(xp, xn, w, b, st, p)
    torch.testing.assert_close(aw, dw, rtol=1e-7, atol=1e-9)
    torch.testing.assert_close(ab, db, rtol=1e-7, atol=1e-9)


def test_peer_penalty_changes_the_gradient():
    xp, xn, w, b, st = _case(7)
    d0 = ffr.ff_layer_grad(xp, xn, w, b, st, ffr.FFParams(peer=0.0))[0]
    d1 = ffr.ff_layer_grad(xp, xn, w, b, st, ffr.FFParams(peer=5.0))[0]
    assert float((d1 - d0).abs().max()) > 1e-4


@pytest.mark.parametrize("vi", range(len(VARIANTS)))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_numba_kernel_matches_torch(vi, dtype):
    p = VARIANTS[vi]
    xp, xn, w, b, st = _case(10 + vi, B=40, F=17, N=13)
    t = ffr.ff_layer_grad(xp, xn, w, b, st, p)
    args = [a.numpy().astype(dtype) for a in (xp, xn, w, b)]
    n = kff.ff_layer_grad(*args, (st[0].numpy().astype(dtype),), p)
    tol = dict(rtol=1e-10, atol=1e-12) if dtype == np.float64 else dict(rtol=1e-4, atol=1e-6)
    for a, c in zip((t[0], t[1], t[2][0], t[4], t[5]), (n[0], n[1], n[2][0], n[4], n[5])):
        np.testing.assert_allclose(a.numpy(), c, **tol)
    assert n[3] == pytest.approx(float(t[3]), rel=1e-5)
    assert n[0].dtype == dtype


def test_numba_bad_shapes_are_config_errors():
    xp, xn, w, b, st = _case(0)
    with pytest.raises(ConfigError, match="do not fit"):
        kff.ff_layer_grad(xp.numpy(), xn.numpy()[:, :5], w.numpy(), b.numpy(), (st[0].numpy(),), ffr.FFParams())


def _net(**kw):
    torch.manual_seed(0)
    return FFNet(6, [8, 5, 4], 3, ffr.FFParams(), **kw).double()


def test_no_gradient_crosses_a_layer_boundary():
    net = _net()
    x = torch.randn(16, 6, dtype=torch.float64, requires_grad=True)
    y = torch.arange(16) % 3
    xp, xn = net.prepare_input(x, y), net.prepare_input(x, (y + 1) % 3)
    # every layer's input is a graph-free tensor even though x and the weights require grad
    a = xp
    for i in range(3):
        xin = net.layer_input(i, a)
        assert not xin.requires_grad and xin.grad_fn is None
        a = net.layer_output(i, xin)
        assert a.grad_fn is not None  # the layer itself is differentiable ...
    # ... but training touches each layer from its own loss only: grads equal the single-layer rule,
    for backend in ("torch", "autograd", "numba"):
        net.zero_grad(set_to_none=True)
        net.ff_step(xp, xn, backend)
        assert x.grad is None
        a_p, a_n = xp, xn
        for i, layer in enumerate(net.layers):
            ip, in_ = net.layer_input(i, a_p), net.layer_input(i, a_n)
            dw = ffr.ff_layer_grad(ip, in_, layer.weight.detach(), layer.bias.detach(),
                                   ffr.FFState(torch.zeros(layer.out_features, dtype=torch.float64)), net.p)[0]
            torch.testing.assert_close(layer.weight.grad, dw.to(layer.weight.grad.dtype), rtol=1e-5, atol=1e-7)
            a_p, a_n = net.layer_output(i, ip).detach(), net.layer_output(i, in_).detach()
    # ... whereas end-to-end autograd of the summed layer losses (no detach) would give layer 0 a different
    # gradient: the test above could tell the two apart.
    w0 = net.layers[0].weight
    a_p, a_n, total = xp.detach(), xn.detach(), 0.0
    for i, layer in enumerate(net.layers):
        ip, in_ = ffr.normalize(a_p), ffr.normalize(a_n)
        hp, hn = torch.relu(layer(ip)), torch.relu(layer(in_))
        total = total + ffr.ff_loss(ffr.goodness(hp, net.p), ffr.goodness(hn, net.p), net.p.theta)
        a_p, a_n = hp, hn
    (g_e2e,) = torch.autograd.grad(total, w0)
    net.zero_grad(set_to_none=True)
    net.ff_step(xp, xn, "torch")
    assert float((g_e2e - w0.grad).abs().max()) > 1e-4


def test_spiking_layers_train_inside_the_layer_only():
    from neuro.neurons.lif import LIFParams

    torch.manual_seed(0)
    net = SpikingFFNet(6, [12, 8], 3, ffr.FFParams(theta=0.2), LIFParams(beta=0.8, v_th=0.5), num_steps=6)
    x = torch.rand(10, 6, requires_grad=True)
    y = torch.arange(10) % 3
    stats = net.ff_step(net.prepare_input(x, y), net.prepare_input(x, (y + 1) % 3))
    assert x.grad is None and len(stats) == 2
    assert all(float(layer.weight.grad.abs().sum()) > 0 for layer in net.layers)


@pytest.mark.parametrize("kind", ["relu", "spiking", "model_free"])
@pytest.mark.parametrize("readout_from,label_scale", [(0, 1.0), (1, 2.5), (2, 0.0)])
def test_goodness_per_label_shares_the_first_layer_and_matches_one_pass_per_label(kind, readout_from,
                                                                                   label_scale):
    """The batched inference (image part of layer 0 computed once for all labels) equals the plain
    definition: one full forward pass per embedded label, goodness summed over layers readout_from..."""
    from neuro.neurons.lif import LIFParams

    torch.manual_seed(1)
    kw = dict(label_scale=label_scale, readout_from=readout_from)
    spiking = kind == "spiking"
    if spiking:
        net = SpikingFFNet(9, [16, 12, 7], 5, ffr.FFParams(theta=0.2), LIFParams(beta=0.8, v_th=0.5), num_steps=5,
                           **kw)
    else:
        phys = [None, WaveMixing(16, seed=3), SaturableNoisy(12, noise=0.0)] if kind == "model_free" else None
        net = FFNet(9, [16, 12, 7], 5, ffr.FFParams(), physical=phys, **kw)
    x = torch.rand(11, 9, dtype=torch.float32) * 2
    ref = []
    for c in range(5):
        a, g = net.prepare_input(x, torch.full((11,), c)), 0.0
        for i in range(3):
            xin = net.layer_input(i, a)
            if spiking:
                a, act = net._run(i, xin)
            else:
                a = act = torch.relu(net.layers[i](xin))
            if i >= readout_from:
                g = g + ffr.goodness(act, net.p)
        ref.append(g)
    got = net.goodness_per_label(x)
    assert got.shape == (11, 5) and float(got.abs().sum()) > 0
    torch.testing.assert_close(got, torch.stack(ref, 1), rtol=1e-5, atol=1e-5)


def _toy(n_per=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    centers = torch.tensor([[3.0, 0, 0, 0], [0, 3.0, 0, 0], [0, 0, 3.0, 0], [0, 0, 0, 3.0]])
    x = torch.cat([c + 0.3 * torch.randn(n_per, 4, generator=g) for c in centers]).abs()
    y = torch.arange(4).repeat_interleave(n_per)
    return x, y


@pytest.mark.parametrize("backend", ["torch", "numba"])
def test_label_embedding_inference_reaches_100_percent_on_separable_toy(backend):
    x, y = _toy()
    xt, yt = _toy(seed=1)
    torch.manual_seed(0)
    net = FFNet(4, [32, 32], 4, ffr.FFParams(theta=1.0), label_scale=1.0, readout_from=0)
    opt = torch.optim.Adam([p for layer in net.layers for p in layer.parameters()], lr=0.01)
    g = torch.Generator().manual_seed(0)
    before = float((net.predict(xt) == yt).float().mean())
    for _ in range(60):
        yn = ffr.wrong_labels(y, 4, g, net.goodness_per_label(x))
        net.ff_step(net.prepare_input(x, y), net.prepare_input(x, yn), backend)
        opt.step()
    acc = float((net.predict(xt) == yt).float().mean())
    assert before < 0.9 and acc == 1.0


def test_wrong_labels_are_wrong_and_hard_ones_follow_scores():
    g = torch.Generator().manual_seed(0)
    y = torch.arange(1000) % 5
    yn = ffr.wrong_labels(y, 5, g)
    assert bool((yn != y).all()) and set(yn.tolist()) == set(range(5))
    scores = torch.zeros(1000, 5)
    scores[:, 3] = 50.0  # label 3 has by far the highest goodness: it is the hard negative (unless true)
    yh = ffr.wrong_labels(y, 5, g, scores)
    assert bool((yh != y).all())
    assert bool((yh[y != 3] == 3).all())


def test_hybrid_negatives_mix_two_images_in_large_regions():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(64, 28 * 28)
    neg = ffr.hybrid_negatives(x, (28, 28), g)
    assert neg.shape == x.shape
    from_self = (neg == x).float().mean(1)
    assert 0.1 < float(from_self.mean()) < 0.9  # both images contribute
    m = (neg == x).view(64, 28, 28).float()
    # large regions: neighbouring pixels mostly come from the same image
    same_as_right = (m[:, :, 1:] == m[:, :, :-1]).float().mean()
    assert float(same_as_right) > 0.8  # an unblurred random mask gives 0.5


def test_physical_layers_are_black_boxes():
    wm, sat = WaveMixing(20, seed=3), SaturableNoisy(20, sat=1.0, noise=0.0, seed=3)
    x = torch.randn(5, 20, requires_grad=True)
    y = measure(wm, x)
    assert not y.requires_grad and y.grad_fn is None and y.shape == (5, 20)
    np.testing.assert_array_equal(measure(wm, x).numpy(), y.numpy())  # deterministic
    assert float(y.min()) >= 0.0  # square-law detector
    s = measure(sat, 10 * x)
    assert float(s.abs().max()) < 1.0  # saturates below sat
    noisy = SaturableNoisy(20, noise=0.1, seed=3)
    a, b = measure(noisy, x), measure(noisy, x)
    assert 0.05 < float((a - b).std()) < 0.2  # each call is a fresh measurement


@pytest.mark.parametrize("kw", [{"theta": 0.0}, {"goodness": "abs"}, {"peer": -1.0}, {"momentum": 1.0}, {"scale": 0.0},
                                {"eps": 0.0}])
def test_bad_params_are_config_errors(kw):
    with pytest.raises(ConfigError, match="allowed"):
        ffr.FFParams(**kw)
