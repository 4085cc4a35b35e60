"""NALSM liquid: known answers on a hand-built two-neuron network (synaptic kernel, refractory period,
STDP weight change, astrocyte), the astrocyte's sign, reproducible per-sample input, the branching
factor on a ring, the pipeline on digits, and input errors. Torch/Numba parity is in tests/test_registry.py."""

from __future__ import annotations

import math

import numpy as np
import pytest

from neuro.errors import ConfigError
from neuro.models import nalsm as nm
from neuro.train.config import load_config
from neuro.train.trainer import train


def _pair(w: float, w_max: float = 30.0) -> tuple[nm.NALSMParams, nm.Network]:
    """Liquid neuron 0 (excitatory) fed by one synapse of weight ``w`` from input neuron 1."""
    p = nm.NALSMParams(grid=(1, 1, 1), frac_exc=1.0, n_input=1, input_density=1.0, w_max=w_max, lr_decay=1.0)
    net = nm.Network(
        n_liq=1, cls=np.array([nm.CLASS_EXC, nm.CLASS_INPUT], np.int8), positions=np.zeros((1, 3)),
        out_ptr=np.array([0, 0, 1], np.int64), out_post=np.array([0], np.int32), w0=np.array([w], np.float32),
        in_ptr=np.array([0, 1, 1], np.int64), in_syn=np.array([0], np.int64),
        in_pre=np.array([1], np.int32))
    return p, net


@pytest.mark.parametrize("backend", ["numba", "torch"])
def test_two_neuron_spike_times_known_answer(backend):
    # input fires every ms it can: driven at t=0, spikes at t=1, refractory (t_ref = 2) -> t=4, 7, ...
    # the liquid neuron gets w g(0) = 25 >= v_th at the input's spike step and spikes one step later:
    # t = 2, 5, 8, ... (its own refractory period ends exactly then)
    p, net = _pair(25.0)
    r = nm.simulate(p, net, np.ones((1, 1)), np.array([0]), mode="none", duration=30, n_record=1,
                    backend=backend, dtype=np.float64)
    assert np.flatnonzero(r.raster[0, :, 0]).tolist() == list(range(2, 30, 3))
    # w = 19 < v_th: the kernel's tail (19 e^-1 at t=2) adds to the leaky membrane; compare with the
    # membrane rolled by hand
    p, net = _pair(19.0)
    r = nm.simulate(p, net, np.ones((1, 1)), np.array([0]), mode="none", duration=8, n_record=1,
                    backend=backend, dtype=np.float64)
    v = 0.0
    first = None
    for t in range(8):  # hand-rolled membrane: input spikes at t = 1, 4, 7
        if first is None and v >= 20:
            first = t
            break
        age = (t - 1) % 3 if t >= 1 else None
        cur = 19.0 * math.exp(-age) if age is not None else 0.0
        v = v + cur - v / 64.0
    assert first is not None and np.flatnonzero(r.raster[0, :, 0])[0] == first


@pytest.mark.parametrize("mode", ["astro", "stdp"])
def test_stdp_weight_change_known_answer(mode):
    # t=1: input spikes (pre trace becomes 0.1 e^-0.1; depression uses the post trace, still 0);
    # t=2: the liquid neuron spikes -> w += a_plus * 0.1 * e^-0.1 (no rate decay in the init phase)
    _, net = _pair(25.0)
    p = nm.NALSMParams(grid=(1, 1, 1), frac_exc=1.0, n_input=1, input_density=1.0, w_max=30.0,
                       plasticity=mode, init_duration=3)
    w = nm.initialize(p, net, np.ones((1, 1)), np.array([0]), dtype=np.float64)
    assert w[0] == pytest.approx(25.0 + 0.15 * 0.1 * math.exp(-0.1), rel=1e-12)
    # t=4: the input spikes again; the post trace is 0.1 e^-0.1 e^-0.1 -> depression by A * that, where
    # for "stdp" A = a_plus and for "astro" A is the astrocyte's state after steps 0..3
    p5 = nm.NALSMParams(**{**{f: getattr(p, f) for f in p.__dataclass_fields__}, "init_duration": 5})
    w5 = nm.initialize(p5, net, np.ones((1, 1)), np.array([0]), dtype=np.float64)
    if mode == "stdp":
        a = 0.15
    else:
        a, aw, b = 0.15, p.astro_w, 0.15
        for n_res, n_inp in ((0, 0), (0, 1), (1, 0), (0, 0)):  # spikes at t = 0..3
            a += (aw * (n_res - n_inp) + b - a) / p.astro_tau
    expect = 25.0 + 0.15 * 0.1 * math.exp(-0.1) - a * 0.1 * math.exp(-0.2)
    assert w5[0] == pytest.approx(expect, rel=1e-12)


def _fan(k: int, w: float) -> nm.Network:
    """``k`` excitatory liquid neurons, each fed by the single input neuron ``k`` with weight ``w``."""
    return nm.Network(
        n_liq=k, cls=np.array([nm.CLASS_EXC] * k + [nm.CLASS_INPUT], np.int8), positions=np.zeros((k, 3)),
        out_ptr=np.array([0] * (k + 1) + [k], np.int64), out_post=np.arange(k, dtype=np.int32),
        w0=np.full(k, w, np.float32),
        in_ptr=np.array(list(range(k + 1)) + [k], np.int64), in_syn=np.arange(k, dtype=np.int64),
        in_pre=np.full(k, k, np.int32))


@pytest.mark.parametrize("backend", ["numba", "torch"])
def test_astrocyte_more_liquid_than_input_raises_depression(backend):
    # one input neuron firing every 3 ms drives k liquid neurons that each fire once per input spike:
    # liquid activity = k x input activity. Against the astrocyte's course without input (astro_w = 0),
    # its depression rate rises for k = 3 (liquid > input) and falls for k = 0 weight (silent liquid)
    base = dict(grid=(1, 1, 1), frac_exc=1.0, n_input=1, input_density=1.0, w_max=30.0, duration=60)
    course = {}
    for name, k, w, aw in (("more", 3, 25.0, 0.015), ("silent", 3, 0.0, 0.015), ("bias", 3, 25.0, 0.0)):
        p = nm.NALSMParams(**base, astro_w=aw)
        r = nm.simulate(p, _fan(k, w), np.ones((1, 1)), np.array([0]), n_record=1, backend=backend, dtype=np.float64)
        course[name] = r.astro[0]
        if name == "more":
            assert r.counts[0].tolist() == [20.0, 20.0, 20.0]  # t = 2, 5, ..., 59
    assert (course["more"][10:] > course["bias"][10:]).all()
    assert (course["silent"][10:] < course["bias"][10:]).all()


def test_sample_input_is_independent_of_batch():
    p = nm.NALSMParams(grid=(4, 4, 4), n_input=20, duration=50)
    net = nm.build_network(p)
    probs = np.random.default_rng(0).random((6, 20)) * 0.5
    keys = np.arange(100, 106)
    full = nm.simulate(p, net, probs, keys)
    alone = nm.simulate(p, net, probs[3:4], keys[3:4])
    assert np.array_equal(full.counts[3], alone.counts[0])
    again = nm.simulate(p, net, probs, keys)
    assert np.array_equal(full.counts, again.counts)
    other = nm.simulate(p, net, probs, keys + 1)
    assert not np.array_equal(full.counts, other.counts)


def test_branching_factor_ring_is_one():
    # liquid ring 0 -> 1 -> 2 -> 0 firing in turn: every spike has as many descendants as ancestors
    n = 3
    pre = np.array([0, 1, 2])
    post = np.array([1, 2, 0])
    net = nm.Network(n, np.zeros(n, np.int8), np.zeros((n, 3)), np.array([0, 1, 2, 3], np.int64),
                     post.astype(np.int32), np.ones(3, np.float32), np.array([0, 1, 2, 3], np.int64), np.array([2, 0, 1], np.int64),
                     pre[[2, 0, 1]].astype(np.int32))
    raster = np.zeros((120, n), np.uint8)
    for t in range(120):
        raster[t, t % 3] = 1
    assert nm.branching_factor(raster, net) == pytest.approx(1.0)
    # neuron 1 fires again one step after each of its spikes: more descendants than ancestors (> 1)
    raster2 = raster.copy()
    raster2[2::3, 1] = 1
    assert nm.branching_factor(raster2, net) > 1.0


def test_input_errors():
    p = nm.NALSMParams(grid=(3, 3, 3), n_input=10, duration=5)
    net = nm.build_network(p)
    with pytest.raises(ConfigError, match=r"shape \(2, 9\); allowed: \[B, 10\]"):
        nm.simulate(p, net, np.zeros((2, 9)), np.arange(2))
    with pytest.raises(ConfigError, match="must lie in"):
        nm.simulate(p, net, np.full((1, 10), np.nan), np.arange(1))
    with pytest.raises(ConfigError, match="keys"):
        nm.simulate(p, net, np.zeros((2, 10)), np.arange(3))
    with pytest.raises(ConfigError, match="NaN"):
        nm.encode(np.array([[np.nan, 1.0]]), 1.0)
    with pytest.raises(ConfigError, match="nalsm.plasticity"):
        nm.NALSMParams(plasticity="hebb")
    with pytest.raises(ConfigError, match="nalsm.tau_v"):
        nm.NALSMParams(tau_v=0.0)
    with pytest.raises(ConfigError, match="nalsm.grid"):
        load_config(None, ["train.rule=\"nalsm\"", "nalsm.grid=[10, 10]"])


def test_pipeline_on_digits_and_resume(tmp_path):
    sets = ["data.name=\"digits\"", "data.val_fraction=0.2", "train.rule=\"nalsm\"", "train.epochs=20",
            "train.lr=3e-3", "train.batch_size=64", "nalsm.grid=[5, 5, 5]", "nalsm.init_samples=200",
            "nalsm.duration=100", "nalsm.chunk=400", "nalsm.record=4"]
    cfg = load_config(None, sets)
    assert train(cfg, tmp_path / "a", progress=False, stop_after_epoch=5) == {}
    m = train(cfg, tmp_path / "a", resume=True, progress=False)
    full = train(cfg, tmp_path / "b", progress=False)
    assert m["test_accuracy"] == full["test_accuracy"] and m["best_epoch"] == full["best_epoch"]
    assert m["test_accuracy"] >= 0.80, m  # 125-neuron liquid, 100 ms per digit
    assert 0.5 < m["branching_factor"] < 3.0 and m["liquid_rate_hz"] > 1.0
    assert np.array_equal(np.load(tmp_path / "a" / "w_init.npy"), np.load(tmp_path / "b" / "w_init.npy"))
    with pytest.raises(ConfigError, match="already holds a run"):
        train(cfg, tmp_path / "a", progress=False)
    with pytest.raises(ConfigError, match="different"):
        train(load_config(None, sets + ["nalsm.astro_w=0.03"]), tmp_path / "a", resume=True, progress=False)
