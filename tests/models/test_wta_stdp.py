"""Diehl & Cook style WTA STDP network (neuro.models.wta_stdp): selectivity on synthetic prototypes,
weight normalisation, adaptive thresholds, torch vs Numba parity, the STDP rule as the update, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neuro.errors import ConfigError
from neuro.models.wta_stdp import WTANetwork, WTAParams, initial_state, wta_dynamics
from neuro.rules.stdp import STDPParams, stdp_run

N_IN = 64


def _params(**kw) -> WTAParams:
    base = dict(n_neurons=8, n_inputs=N_IN, dt=1.0, t_present=100.0, max_rate=200.0, rate_step=100.0,
                norm_total=10.0, w_init_max=0.3,
                stdp=STDPParams(a_plus=0.1, a_minus=0.001, tau_plus=20.0, tau_minus=20.0, dt=1.0,
                                pairing="nearest", w_min=0.0, w_max=1.0),
                theta_plus=0.1, tau_theta=1e7, seed=0)
    base.update(kw)
    return WTAParams(**base)


def _prototypes(n_per: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """4 disjoint bars of 16 pixels on 8x8 (rows 0-1, 2-3, 4-5, 6-7 rearranged), intensity 0.8-1 plus
    background noise in [0, 0.25]; returns (images [4 n_per, 64], labels, prototypes [4, 64])."""
    protos = np.zeros((4, N_IN), np.float32)
    perm = np.random.default_rng(99).permutation(N_IN)
    for k in range(4):
        protos[k, perm[16 * k:16 * (k + 1)]] = 1.0
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.repeat(np.arange(4), n_per))
    x = protos[y] * rng.uniform(0.8, 1.0, (len(y), N_IN)) + rng.uniform(0, 0.25, (len(y), N_IN))
    return np.clip(x, 0, 1).astype(np.float32), y, protos


@pytest.fixture(scope="module")
def trained():
    x, y, protos = _prototypes(40, seed=1)
    net = WTANetwork(_params()).fit(x)
    return net, protos


def test_neurons_become_selective_and_classify_held_out_patterns(trained):
    net, protos = trained
    xa, ya, _ = _prototypes(15, seed=2)
    xt, yt, _ = _prototypes(25, seed=3)
    net.assign_labels(xa, ya, n_classes=4)
    # every prototype owns neurons, and its most responsive neuron is a different one for each prototype
    assert set(net.assignments.tolist()) == {0, 1, 2, 3}
    r = net.responses(xt)
    best = [int(r[torch.as_tensor(yt == k)].mean(0).argmax()) for k in range(4)]
    assert len(set(best)) == 4
    # the winner's weights look like its prototype (cosine ~0.43 for the random initial weights)
    w = net.w / net.w.norm(dim=1, keepdim=True)
    pr = torch.from_numpy(protos / np.linalg.norm(protos, axis=1, keepdims=True))
    cos = w @ pr.T
    for k, j in enumerate(best):
        others = torch.cat([cos[j, :k], cos[j, k + 1:]])
        assert float(cos[j, k]) > 0.65 and float(cos[j, k] - others.max()) > 0.25, cos[j]
    acc = float((net.vote(r).numpy() == yt).mean())
    assert acc >= 0.95, acc


def test_weights_normalised_and_bounded(trained):
    net, _ = trained
    assert float(net.w.min()) >= 0.0 and float(net.w.max()) <= 1.0
    torch.testing.assert_close(net.w.sum(1), torch.full((8,), 10.0), rtol=1e-4, atol=1e-4)


def test_threshold_rises_by_theta_plus_per_spike_and_is_frozen_at_inference():
    x, _, _ = _prototypes(2, seed=4)
    p = _params(tau_theta=1e3)
    net = WTANetwork(p)
    counts, _, _ = net.present(torch.from_numpy(x[:2]), torch.full((2,), p.max_rate), learn=True)
    assert float(counts.sum()) > 0
    expect = p.theta_plus * counts.sum(0) * np.exp(-p.t_present / p.tau_theta)
    torch.testing.assert_close(net.theta, expect, rtol=1e-5, atol=1e-6)
    before = net.theta.clone()
    net.responses(x)
    assert torch.equal(net.theta, before)


def test_numba_twin_matches_torch_dynamics():
    from kernels.wta_stdp import wta_dynamics as wta_numba

    p = _params(n_neurons=6, n_inputs=50, w_inh=3.0)
    g = torch.Generator().manual_seed(5)
    pre = (torch.rand(200, 3, 50, generator=g) < 0.08).to(torch.uint8)
    w = torch.rand(6, 50, generator=g)
    theta = torch.rand(6, generator=g)
    st_t = initial_state(3, p, theta)
    st_n = tuple(s.clone().numpy() for s in initial_state(3, p, theta))
    post_t = wta_dynamics(pre, w, st_t, p, learn=True)
    post_n = wta_numba(pre.numpy(), w.numpy(), st_n, p, True)
    assert post_t.sum() > 20
    np.testing.assert_array_equal(post_t.numpy(), post_n)
    for a, b in zip(st_t, st_n):
        np.testing.assert_allclose(a.numpy(), b, rtol=1e-4, atol=1e-4)


def test_update_is_the_projects_stdp_rule_then_normalisation():
    """One presentation's weight change = stdp_run (torch) on its recorded trains, clipped and rescaled;
    the numba and torch backends of the network agree."""
    x, _, _ = _prototypes(1, seed=6)
    nets = {b: WTANetwork(_params(backend=b)) for b in ("numba", "torch")}
    g = torch.Generator().manual_seed(7)
    pre = (torch.rand(100, 1, N_IN, generator=g) < 0.1).to(torch.uint8)
    post = (torch.rand(100, 1, 8, generator=g) < 0.05).to(torch.uint8)
    w0 = nets["torch"].w.clone()
    ref, _ = stdp_run(w0[None], pre.float(), post.float(), nets["torch"].p.stdp)
    ref = ref[0].clamp(0, 1)
    ref = (ref * (10.0 / ref.sum(1, keepdim=True))).clamp(0, 1)
    for net in nets.values():
        torch.testing.assert_close(net.w, w0)
        net._learn(pre, post)
        torch.testing.assert_close(net.w, ref, rtol=1e-5, atol=1e-6)
    assert float((ref - w0).abs().max()) > 1e-3


def test_poisson_input_rate_and_seed():
    from kernels.wta_stdp import poisson_spikes

    prob = np.array([[0.0, 0.02, 0.1, 0.5, 1.0]])
    a = poisson_spikes(prob, 20000, np.array([3], np.uint64))
    np.testing.assert_allclose(a.mean(0)[0], prob[0], atol=0.01)
    assert np.array_equal(a, poisson_spikes(prob, 20000, np.array([3], np.uint64)))
    assert not np.array_equal(a, poisson_spikes(prob, 20000, np.array([4], np.uint64)))


@pytest.mark.parametrize("kw, key", [({"n_neurons": 0}, "wta.n_neurons"), ({"dt": -1.0}, "wta.dt"),
                                     ({"backend": "cuda"}, "wta.backend"), ({"norm_total": 0.0}, "wta.norm_total"),
                                     ({"batch_size": 1.5}, "wta.batch_size"), ({"v_reset": -40.0}, "wta.v_reset"),
                                     ({"w_init_max": 2.0}, "wta.w_init_max"), ({"stdp": "x"}, "wta.stdp"),
                                     ({"stdp": STDPParams(dt=0.5)}, "wta.stdp.dt")])
def test_bad_params_name_the_key(kw, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        _params(**kw)


def test_bad_inputs_raise():
    net = WTANetwork(_params())
    with pytest.raises(ConfigError, match="allowed: \\[0, 1\\]"):
        net.fit(np.full((2, N_IN), 2.0, np.float32))
    with pytest.raises(ConfigError, match="n_inputs"):
        net.fit(np.zeros((2, 10), np.float32))
    with pytest.raises(ConfigError, match="assign_labels"):
        net.predict(np.zeros((2, N_IN), np.float32))


@pytest.mark.parametrize("backend", ["torch", "numba"])
def test_silent_images_are_shown_again_up_to_max_repeats(backend):
    x = np.zeros((3, N_IN), np.float32)
    x[0] = 1.0                                   # image 0 fires; the two blank ones never do
    net = WTANetwork(_params(backend=backend, min_spikes=1, max_repeats=2, batch_size=3))
    net.fit(x)
    assert net.presentations == 3 + 2 + 2        # all three once, then the two blanks twice more
    assert net.images_seen == 3
    r = net.responses(x)
    assert float(r[0].sum()) >= 1 and float(r[1:].sum()) == 0
