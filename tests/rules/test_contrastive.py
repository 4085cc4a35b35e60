"""Known answers for the contrastive Hebbian rules (``neuro.rules.contrastive``): the EP gradient
approaches the true gradient of the loss at the free fixed point as beta -> 0 (centred faster than
one-sided), dual propagation equals backprop in the small-nudge limit, torch/Numba parity, and the
rules train through ``neuro train`` on digits."""

from __future__ import annotations

import pytest
import torch

from neuro.errors import ConfigError
from neuro.rules import contrastive as cr


def _net(dtype=torch.float64, sizes=(12, 9, 4), seed=0, scale=0.35):
    g = torch.Generator().manual_seed(seed)
    ws = [(torch.rand(b, a, generator=g, dtype=dtype) * 2 - 1) * scale for a, b in zip(sizes[:-1], sizes[1:])]
    bs = [torch.rand(b, generator=g, dtype=dtype) * 0.4 + 0.1 for b in sizes[1:]]
    x = torch.rand(6, sizes[0], generator=g, dtype=dtype)
    y = torch.nn.functional.one_hot(torch.arange(6) % sizes[-1], sizes[-1]).to(dtype)
    return x, y, ws, bs


def _true_ep_grad(x, y, ws, bs, steps=400):
    """dC(s*)/dtheta by recurrent backprop: autograd through many solver sweeps started at the
    converged free fixed point (the sweep map is a contraction here, so this is the implicit gradient)."""
    free = cr.ep_settle(x, [x.new_zeros(x.shape[0], w.shape[0]) for w in ws], ws, bs, 500)
    wr = [w.clone().requires_grad_(True) for w in ws]
    br = [b.clone().requires_grad_(True) for b in bs]
    s = [t.clone() for t in free]
    for _ in range(steps):
        for layer in range(len(wr)):
            below = x if layer == 0 else s[layer - 1]
            h = below @ wr[layer].t() + br[layer]
            if layer < len(wr) - 1:
                h = h + s[layer + 1] @ wr[layer + 1]
            s[layer] = h.clamp(0.0, 1.0)
    (0.5 * ((s[-1] - y) ** 2).sum() / x.shape[0]).backward()
    return [(w.grad, b.grad) for w, b in zip(wr, br)]


def _rel_err(est, true):
    num = sum(float(((a - c) ** 2).sum() + ((b - d) ** 2).sum()) for (a, b), (c, d) in zip(est, true))
    den = sum(float((c ** 2).sum() + (d ** 2).sum()) for c, d in true)
    return (num / den) ** 0.5


def test_ep_gradient_approaches_true_gradient_as_beta_shrinks():
    x, y, ws, bs = _net()
    true = _true_ep_grad(x, y, ws, bs)
    assert sum(float(g.abs().sum()) for g, _ in true) > 1e-3
    errs = {}
    for centered in (True, False):
        for beta in (0.1, 0.01, 0.001):
            p = cr.EPParams(beta=beta, free_steps=500, nudged_steps=500, centered=centered)
            est, _ = cr.ep_grads(x, y, ws, bs, p)
            errs[centered, beta] = _rel_err(est, true)
    assert errs[True, 0.001] < 1e-5 and errs[False, 0.001] < 1e-2
    assert errs[True, 0.1] > errs[True, 0.01] > errs[True, 0.001]  # O(beta^2)
    assert errs[False, 0.1] > errs[False, 0.01] > errs[False, 0.001]  # O(beta)
    assert errs[True, 0.01] < errs[False, 0.01] / 10  # centring removes the first-order bias


def _backprop_grads(x, y, ws, bs):
    wr = [w.clone().requires_grad_(True) for w in ws]
    br = [b.clone().requires_grad_(True) for b in bs]
    h = x
    for k, (w, b) in enumerate(zip(wr, br)):
        h = h @ w.t() + b
        if k < len(wr) - 1:
            h = torch.relu(h)
    torch.nn.functional.cross_entropy(h, y).backward()
    return [(w.grad, b.grad) for w, b in zip(wr, br)]


@pytest.mark.parametrize("alpha", [0.5, 0.0, 1.0])
def test_dual_propagation_equals_backprop_in_small_nudge_limit(alpha):
    x, _, ws, bs = _net(sizes=(12, 10, 8, 5), scale=0.6)
    bs = [b - 0.3 for b in bs]  # some ReLUs off
    y = torch.arange(6) % 5
    true = _backprop_grads(x, y, ws, bs)
    errs = [_rel_err(cr.dp_grads(x, y, ws, bs, cr.DPParams(beta=beta, alpha=alpha))[0], true)
            for beta in (0.3, 1e-3, 1e-6)]
    if alpha == 0.5:  # symmetric: ReLU is piecewise linear, so once the nudge crosses no kink,
        assert errs[1] < 1e-8 and errs[2] < 1e-6  # DP *is* backprop (up to rounding)
    else:  # one-sided: the layer inputs sbar move by O(beta), so the error shrinks like beta
        assert errs[1] < errs[0] / 50 and errs[2] < 1e-5
    assert errs[0] > 1e-3  # a large nudge crosses kinks: not backprop


def test_chl_is_contrast_of_clamped_and_free():
    x, y, ws, bs = _net(sizes=(5, 3))  # one layer: the clamped phase is y itself
    p = cr.EPParams(free_steps=50, nudged_steps=5, clamp=True)
    (gw, gb), = cr.ep_grads(x, y, ws, bs, p)[0]
    free = torch.clamp(x @ ws[0].t() + bs[0], 0, 1)
    torch.testing.assert_close(gw, -((y - free).t() @ x) / x.shape[0])
    torch.testing.assert_close(gb, -(y - free).mean(0))


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 1e-5)])
@pytest.mark.parametrize("rule", ["ep", "ep_beta1", "ep_one_sided", "chl", "dualprop"])
def test_torch_numba_parity(rule, dtype, tol):
    x, y, ws, bs = _net(dtype=dtype, sizes=(12, 9, 7, 4))
    if rule == "dualprop":
        args = (x, y.argmax(1), ws, bs, cr.DPParams(beta=0.2))
        fn = cr.dp_grads
    else:
        p = cr.EPParams(beta=1.0 if rule == "ep_beta1" else 0.3, free_steps=15, nudged_steps=6,
                        centered=rule in ("ep", "ep_beta1"), clamp=rule == "chl")
        args, fn = (x, y, ws, bs, p), cr.ep_grads
    (g_t, out_t), (g_n, out_n) = fn(*args), fn(*args, backend="numba")
    for (a, b), (c, d) in zip(g_t, g_n):
        assert a.abs().max() > 0
        torch.testing.assert_close(c, a, rtol=tol, atol=tol * float(a.abs().max()))
        torch.testing.assert_close(d, b, rtol=tol, atol=tol * float(b.abs().max()) + tol)
    o_t = out_t[-1] if isinstance(out_t, list) else out_t
    o_n = out_n[-1] if isinstance(out_n, list) else out_n
    torch.testing.assert_close(o_n, o_t, rtol=tol, atol=tol)


def test_params_reject_bad_values():
    with pytest.raises(ConfigError, match="ep.beta"):
        cr.EPParams(beta=0.0)
    with pytest.raises(ConfigError, match="dp.alpha"):
        cr.DPParams(alpha=1.5)
    from neuro.train.contrastive_config import ContrastiveConfig
    with pytest.raises(ConfigError, match="contrastive.free_steps"):
        ContrastiveConfig(free_steps=0)


@pytest.mark.parametrize("rule,floor", [("dualprop", 0.9), ("chl", 0.88), ("ep", 0.9)])
def test_rules_train_on_digits(tmp_path, rule, floor):
    """``neuro train`` with each rule on digits (fixed seed) reaches an accuracy floor; resume works."""
    from neuro.train.config import load_config
    from neuro.train.trainer import train

    sets = [f"train.rule=\"{rule}\"", "model.kind=\"ann_mlp\"", "model.hidden=[64]", "train.batch_size=16",
            "train.lr=3e-3", "train.epochs=6", "data.val_fraction=0.0", "train.schedule=\"none\""]
    cfg = load_config(None, sets)
    m = train(cfg, tmp_path / rule, progress=False, stop_after_epoch=3)
    cfg2 = load_config(None, sets)
    m = train(cfg2, tmp_path / rule, resume=True, progress=False)
    assert m["epochs"] == 6 and m["rule"] == rule
    assert m["test_accuracy"] >= floor, m


def test_output_corner_for_beta_at_or_below_minus_one():
    """For beta <= -1 the output's energy is concave: its box minimum is 0 or 1 (no division by 1 + beta)."""
    x = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    w, b = [torch.tensor([[0.2, 0.0], [0.9, 0.0]], dtype=torch.float64)], [torch.zeros(2, dtype=torch.float64)]
    y = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    for beta, want in ((-1.0, [0.0, 1.0]), (-2.0, [0.0, 1.0]), (-0.5, [0.0, 1.0])):
        s = cr.ep_settle(x, [torch.zeros(1, 2, dtype=torch.float64)], w, b, 1, beta, y)[0]
        # h = (0.2, 0.9): h + beta y = (0.2 + beta, 0.9)
        torch.testing.assert_close(s, torch.tensor([want], dtype=torch.float64))
