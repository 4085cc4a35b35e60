"""Krotov & Hopfield competing hidden units and SoftHebb: known answers on synthetic prototypes, torch vs
Numba parity, validation, and training through ``neuro train`` on digits (accuracy floors, resume)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import kernels.krotov as kk
import kernels.softhebb as ks
from neuro.errors import ConfigError
from neuro.rules.krotov import KrotovParams, decayed_lr, krotov_update, p_norms
from neuro.rules.softhebb import SoftHebbParams, init_weights, soft_wta, softhebb_update, triangle
from neuro.train.config import load_config

P, F, K = 4, 40, 12
CONV_FLOOR = 0.93        # measured 94.15 % (seed 0, 359 test images)


def _prototypes(seed: int = 0):
    """4 sparse non-negative prototypes in 40-D and 4,000 noisy samples of them (clamped at 0)."""
    g = torch.Generator().manual_seed(seed)
    protos = (torch.rand(P, F, generator=g) < 0.3).float() + 0.05
    lab = torch.randint(0, P, (4000,), generator=g)
    x = (protos[lab] + 0.05 * torch.randn(4000, F, generator=g)).clamp_min(0)
    return protos, x, g


def _best_cos(w: torch.Tensor, protos: torch.Tensor) -> torch.Tensor:
    """For each prototype, the largest cosine with any unit: ``[P]``."""
    c = (w / w.norm(dim=1, keepdim=True)) @ (protos / protos.norm(dim=1, keepdim=True)).T
    return c.max(0).values


def test_krotov_units_find_the_prototypes_with_unit_p_norm():
    protos, x, g = _prototypes()
    w = torch.randn(K, F, generator=g)                      # the paper's N(0, 1) start: norms ~4 > 1
    epochs = 20
    for e in range(epochs):
        p = KrotovParams(lr=decayed_lr(0.05, e, epochs), p=3.0, k=3, delta=0.2)
        w, _ = krotov_update(w, x.view(-1, 20, F), p)
    assert float(_best_cos(w, protos).min()) >= 0.95
    winners = torch.bincount((x @ (w * w.abs()).T).argmax(1), minlength=K) > 0
    assert int(winners.sum()) >= P
    np.testing.assert_allclose(p_norms(w[winners], 3.0).numpy(), 1.0, atol=2e-3)   # the fixed point ||W||_3 = 1


def test_krotov_decay_and_normalised_step():
    assert decayed_lr(0.04, 0, 100) == 0.04 and decayed_lr(0.04, 50, 100) == pytest.approx(0.02)
    g = torch.Generator().manual_seed(1)
    w, x = torch.randn(10, 6, generator=g, dtype=torch.float64), torch.rand(8, 6, generator=g, dtype=torch.float64)
    w2, _ = krotov_update(w, x, KrotovParams(lr=0.01, k=2))
    assert float((w2 - w).abs().max()) == pytest.approx(0.01, rel=1e-12)       # max|step| = lr exactly
    changed = ((w2 - w).abs().sum(1) > 0).sum()
    assert 1 <= int(changed) <= 2 * len(x)                  # only winners and k-th ranked units move


def test_softhebb_units_find_the_prototypes_and_shrink_to_unit_norm():
    protos, x, g = _prototypes()
    xn = x / x.norm(dim=1, keepdim=True)
    w = init_weights(K, F, 25.0, g)
    assert 20 < float(w.norm(dim=1).mean()) < 40
    for _ in range(20):
        w, _ = softhebb_update(w, xn.view(-1, 20, F), SoftHebbParams(lr=0.05, temperature=0.1))
    cos = (w / w.norm(dim=1, keepdim=True)) @ (protos / protos.norm(dim=1, keepdim=True)).T
    assert float(cos.max(0).values.min()) >= 0.95
    best = cos.argmax(0)
    np.testing.assert_allclose(w[best].norm(dim=1).numpy(), 1.0, atol=0.02)   # aligned units sit on the sphere


def test_softhebb_soft_wta_and_adaptive_rate():
    u = torch.tensor([[1.0, 2.0, 0.5]])
    y = soft_wta(u, SoftHebbParams(temperature=1.0, anti_hebbian=False))
    np.testing.assert_allclose(y.numpy(), torch.softmax(u, 1).numpy(), rtol=1e-6)
    ya = soft_wta(u, SoftHebbParams(temperature=1.0))
    assert float(ya[0, 1]) > 0 and float(ya[0, 0]) < 0 and float(ya[0, 2]) < 0
    np.testing.assert_allclose(ya.abs().numpy(), y.numpy(), rtol=1e-6)
    # a unit already on the unit sphere (and one sample it represents exactly) does not move
    w = torch.tensor([[0.6, 0.8], [3.0, -4.0]], dtype=torch.float64)
    x = torch.tensor([[0.6, 0.8]], dtype=torch.float64)
    w2, _ = softhebb_update(w, x, SoftHebbParams(lr=0.1))
    np.testing.assert_allclose(w2[0].numpy(), [0.6, 0.8], atol=1e-5)
    assert float((w2[1] - w[1]).abs().max()) > 1e-3
    np.testing.assert_allclose(triangle(torch.tensor([[1.0, 2.0, 3.0]])).numpy(), [[0.0, 0.0, 1.0]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("seed", [0, 1])
def test_torch_numba_parity(dtype, seed):
    rng = np.random.default_rng(seed)
    x = rng.random((15, 32, 20)).astype(dtype)
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-11)
    w = rng.standard_normal((30, 20)).astype(dtype)
    for p in (KrotovParams(k=4), KrotovParams(p=2.0, k=2, delta=0.3, lr=0.1)):
        wt, _ = krotov_update(torch.from_numpy(w), torch.from_numpy(x), p)
        wn, _ = kk.krotov_update(w, x, p)
        assert wn.dtype == dtype and float(np.abs(wn - w).max()) > 1e-2
        np.testing.assert_allclose(wt.numpy(), wn, **tol)
    w = (rng.standard_normal((30, 20)) * 4).astype(dtype)
    for p in (SoftHebbParams(temperature=0.5), SoftHebbParams(anti_hebbian=False, adaptive=False, lr=0.02)):
        wt, _ = softhebb_update(torch.from_numpy(w), torch.from_numpy(x), p)
        wn, _ = ks.softhebb_update(w, x, p)
        np.testing.assert_allclose(wt.numpy(), wn, **tol)


def test_bad_params_and_shapes_are_clear_errors():
    with pytest.raises(ConfigError, match="k=1"):
        KrotovParams(k=1)
    with pytest.raises(ConfigError, match="delta=1.5"):
        KrotovParams(delta=1.5)
    with pytest.raises(ConfigError, match="temperature=0"):
        SoftHebbParams(temperature=0)
    with pytest.raises(ConfigError, match="at least k hidden units"):
        krotov_update(torch.zeros(3, 4), torch.zeros(2, 4), KrotovParams(k=5))
    with pytest.raises(ConfigError, match="same F"):
        kk.krotov_update(np.zeros((8, 4)), np.zeros((2, 5)), KrotovParams(k=2))
    with pytest.raises(ConfigError, match="same F"):
        softhebb_update(torch.zeros(3, 4), torch.zeros(2, 5), SoftHebbParams())
    with pytest.raises(ConfigError, match="hebbian.k"):
        load_config(None, ["train.rule=\"krotov\"", "hebbian.k=0"])


def _cfg(rule: str, *extra: str):
    base = ["data.name=\"digits\"", "model.kind=\"ann_mlp\"", f"train.rule=\"{rule}\"", "train.batch_size=32",
            "train.lr=1e-2", "train.device=\"cpu\"", "hebbian.hidden_batch_size=20"]
    if rule == "krotov":
        base += ["model.hidden=[200]", "train.epochs=15", "hebbian.hidden_epochs=10", "hebbian.lr=0.04", "hebbian.k=3"]
    else:
        base += ["model.hidden=[200]", "train.epochs=15", "hebbian.hidden_epochs=5", "hebbian.temperature=0.1"]
    return load_config(None, base + list(extra))


@pytest.mark.parametrize("rule,floor", [("krotov", 0.95), ("softhebb", 0.945)])
def test_neuro_train_on_digits_reaches_floor(tmp_path, rule, floor):
    from neuro.train.trainer import train

    torch.set_num_threads(1)
    m = train(_cfg(rule), tmp_path / rule, progress=False)
    assert m["rule"] == rule and m["epochs"] == 15
    assert m["test_accuracy"] >= floor, m
    for name in ("config.toml", "checkpoint.pt", "metrics.json", "history.csv", "curves.png", "receptive_fields.png"):
        assert (tmp_path / rule / name).stat().st_size > 0
    assert not list((tmp_path / rule).glob(".*tmp"))


@pytest.mark.parametrize("stop", [3, 7])          # krotov: inside the hidden phase (5 epochs), inside the top phase
def test_resume_equals_uninterrupted(tmp_path, stop):
    from neuro.train.trainer import train

    torch.set_num_threads(1)
    cfg = _cfg("krotov", "model.hidden=[40]", "hebbian.hidden_epochs=5", "train.epochs=4")
    full = train(cfg, tmp_path / "full", progress=False)
    train(cfg, tmp_path / "cut", progress=False, stop_after_epoch=stop)
    with pytest.raises(ConfigError, match="--resume"):
        train(cfg, tmp_path / "cut", progress=False)
    resumed = train(cfg, tmp_path / "cut", resume=True, progress=False)
    assert resumed["test_accuracy"] == full["test_accuracy"]
    a = torch.load(tmp_path / "full" / "checkpoint.pt", weights_only=False)["model"]
    b = torch.load(tmp_path / "cut" / "checkpoint.pt", weights_only=False)["model"]
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)
    with pytest.raises(ConfigError, match="already finished"):
        train(cfg, tmp_path / "cut", resume=True, progress=False)


def test_softhebb_conv_block_on_digits(tmp_path):
    """The conv variant: 16 filters of 3x3 on unit-length patches, triangle, 2x2 max-pool, linear readout."""
    from neuro.train.trainer import train

    torch.set_num_threads(1)
    cfg = _cfg("softhebb", "model.kind=\"ann_conv\"", "model.channels=[16, 16]", "model.kernel_size=3",
               "hebbian.hidden_epochs=1", "hebbian.lr=0.1", "hebbian.temperature=0.05", "hebbian.pool=2")
    m = train(cfg, tmp_path / "conv", progress=False)
    assert m["hidden"] == [16] and m["params"] == 16 * 9 + 16 * 16 * 10
    assert m["test_accuracy"] >= CONV_FLOOR, m
    with pytest.raises(ConfigError, match="one hidden layer"):
        train(_cfg("krotov", "model.kind=\"ann_conv\""), tmp_path / "k", progress=False)
