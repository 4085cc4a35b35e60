"""Associative memories: Hebbian storage, retrieval at low load, failure above the pairwise capacity while
the dense memory still retrieves, n = 2 equals the pairwise network, energy descent, torch vs Numba
parity of every retrieval loop and field, dense-memory classification of digits, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kernels import hopfield as kh
from neuro.data.datasets import load_dataset
from neuro.errors import ConfigError
from neuro.models.hopfield import DenseAMClassifier
from neuro.rules import hopfield as R

N = 200


def test_hebbian_weights_known_answer():
    xi = torch.tensor([[1.0, -1.0, 1.0, 1.0], [1.0, 1.0, -1.0, 1.0]])
    w = R.hebbian_weights(xi)
    want = (np.outer(xi[0], xi[0]) + np.outer(xi[1], xi[1])) / 4
    np.fill_diagonal(want, 0)
    np.testing.assert_array_equal(w.numpy(), want)
    np.testing.assert_array_equal(kh.hebbian_weights(xi.numpy()), want)


def test_flip_bits_flips_exactly_the_fraction():
    s = R.random_patterns(30, N, seed=0)
    t = R.flip_bits(s, 0.1, seed=1)
    assert bool(((s != t).sum(1) == 20).all())
    assert torch.equal(t, R.flip_bits(s, 0.1, seed=1)) and not torch.equal(t, R.flip_bits(s, 0.1, seed=2))
    np.testing.assert_allclose(R.overlap(t, s).numpy(), 0.8)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_pairwise_retrieves_exactly_at_low_load(mode):
    xi = R.random_patterns(10, N, seed=1)  # P = 0.05 N
    w = R.hebbian_weights(xi)
    p = R.HopfieldParams(mode=mode)
    s, steps = R.hopfield_retrieve(xi, w, p)
    assert torch.equal(s, xi) and steps == 1  # every pattern is a fixed point
    s, steps = R.hopfield_retrieve(R.flip_bits(xi, 0.15, seed=2), w, p)
    assert torch.equal(s, xi) and 2 <= steps <= 5  # and an attractor: 15 % flipped bits are repaired
    sn, kn = kh.hopfield_retrieve(R.flip_bits(xi, 0.15, seed=2).numpy(), w.numpy(), p)
    np.testing.assert_array_equal(sn, xi.numpy())
    assert kn == steps


def test_pairwise_fails_above_capacity_while_dense_memories_retrieve():
    xi = R.random_patterns(60, N, seed=3)  # P = 0.3 N, above 0.138 N
    w = R.hebbian_weights(xi)
    s, _ = kh.hopfield_retrieve(xi.numpy(), w.numpy(), R.HopfieldParams(mode="async"))
    m = R.overlap(torch.from_numpy(s), xi)
    assert float(m.mean()) < 0.6 and float((m == 1).float().mean()) == 0.0  # even started at the patterns themselves
    s0 = R.flip_bits(xi, 0.1, seed=4).double()
    for p, retrieve in ((R.DenseAMParams(energy="poly", n=3), kh.dense_retrieve),
                        (R.DenseAMParams(energy="exp"), kh.dense_retrieve),
                        (R.DenseAMParams(energy="rect_poly", n=3, mode="sync"), R.dense_retrieve)):
        s, steps = retrieve(s0.numpy() if retrieve is kh.dense_retrieve else s0, xi.double().numpy()
                            if retrieve is kh.dense_retrieve else xi.double(), p)
        np.testing.assert_array_equal(np.asarray(s), xi.numpy())  # all 60 recovered exactly from 10 % flipped bits
        assert steps == 2


def test_dense_n2_is_the_pairwise_network():
    xi = R.random_patterns(12, 60, seed=5).double()
    s = R.flip_bits(xi, 0.2, seed=6)
    sc = R.poly_scale(60)
    field = R.dense_field(s, xi, R.DenseAMParams(energy="poly", n=2))
    torch.testing.assert_close(field, 4 * 60 * (s @ R.hebbian_weights(xi).T) * sc * sc, rtol=1e-12, atol=1e-12)
    a, _ = R.dense_retrieve(s, xi, R.DenseAMParams(n=2, mode="async", seed=9))
    b, _ = R.hopfield_retrieve(s, R.hebbian_weights(xi), R.HopfieldParams(mode="async", seed=9))
    assert torch.equal(a, b) and not torch.equal(a, s)


@pytest.mark.parametrize("energy", ["poly", "rect_poly", "exp"])
def test_dense_field_is_minus_the_energy_change(energy):
    p = R.DenseAMParams(energy=energy, n=3, beta=0.2)
    xi = R.random_patterns(15, 40, seed=7).double()
    s = R.flip_bits(xi[:4], 0.3, seed=8)
    f = R.dense_field(s, xi, p)
    for i in (0, 17, 39):
        up, down = s.clone(), s.clone()
        up[:, i], down[:, i] = 1.0, -1.0
        de = R.dense_energy(down, xi, p) - R.dense_energy(up, xi, p)
        if energy == "exp":  # the field drops the factor exp(-beta m) with m = max overlap + 2
            m = (s @ xi.T).max(1).values + 2
            de = de * torch.exp(-p.beta * m)
        torch.testing.assert_close(f[:, i], de, rtol=1e-9, atol=1e-12)


def test_async_dense_retrieval_never_raises_the_energy():
    p = R.DenseAMParams(energy="poly", n=3, mode="async", max_steps=1)
    xi = R.random_patterns(150, 60, seed=11).double()  # heavy load: long descents
    s = R.flip_bits(xi[:20], 0.3, seed=12)
    e = [R.dense_energy(s, xi, p)]
    for t in range(6):
        s, _ = R.dense_retrieve(s, xi, R.DenseAMParams(energy="poly", n=3, mode="async", max_steps=1, seed=t))
        e.append(R.dense_energy(s, xi, p))
    e = torch.stack(e)
    assert bool((e[1:] <= e[:-1] + 1e-12).all()) and bool((e[-1] < e[0]).all())


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pairwise_numba_matches_torch(mode, dtype):
    xi = R.random_patterns(40, 120, seed=13)  # above capacity: long, nontrivial trajectories
    s0 = R.flip_bits(xi, 0.2, seed=14)
    w = R.hebbian_weights(xi)
    p = R.HopfieldParams(mode=mode, max_steps=30, seed=5)
    tdt = torch.float32 if dtype == np.float32 else torch.float64
    st, kt = R.hopfield_retrieve(s0.to(tdt), w.to(tdt), p)
    sn, kn = kh.hopfield_retrieve(s0.numpy().astype(dtype), w.numpy().astype(dtype), p)
    assert float((st != s0.to(tdt)).float().mean()) > 0.05
    np.testing.assert_array_equal(st.numpy(), sn)
    assert kt == kn and sn.dtype == dtype


@pytest.mark.parametrize("energy,n", [("poly", 3), ("poly", 4), ("rect_poly", 5), ("exp", 3)])
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_dense_numba_matches_torch(energy, n, mode):
    xi = R.random_patterns(200, 40, seed=15).double()  # far above capacity for n = 3: states move a lot
    s0 = R.flip_bits(xi[:16], 0.25, seed=16)
    p = R.DenseAMParams(energy=energy, n=n, beta=0.5, mode=mode, max_steps=20, seed=2)
    st, kt = R.dense_retrieve(s0, xi, p)
    sn, kn = kh.dense_retrieve(s0.numpy(), xi.numpy(), p)
    assert float((st != s0).float().mean()) > 0.01
    np.testing.assert_array_equal(st.numpy(), sn)
    assert kt == kn
    ft, fn = R.dense_field(s0, xi, p), kh.dense_field(s0.numpy(), xi.numpy(), p)
    np.testing.assert_allclose(ft.numpy(), fn, rtol=1e-5, atol=1e-5 * float(np.abs(fn).max()))
    # float32 fields agree to 1e-5 of their scale as well
    f32 = kh.dense_field(s0.numpy().astype(np.float32), xi.numpy().astype(np.float32), p)
    np.testing.assert_allclose(f32, fn, rtol=0, atol=1e-5 * float(np.abs(fn).max()))


def test_dense_retrieval_of_free_units_only():
    xi = R.random_patterns(30, 80, seed=17).double()
    s0 = R.flip_bits(xi[:5], 0.2, seed=18)
    free = torch.zeros(80, dtype=torch.bool)
    free[:40] = True
    for mode in ("sync", "async"):
        p = R.DenseAMParams(mode=mode)
        s, _ = R.dense_retrieve(s0, xi, p, free)
        assert torch.equal(s[:, 40:], s0[:, 40:])  # clamped
        assert torch.equal(s[:, :40], xi[:5, :40])  # the free half is repaired from the clamped half
        sn, _ = kh.dense_retrieve(s0.numpy(), xi.numpy(), p, np.arange(40))
        np.testing.assert_array_equal(sn, s.numpy())


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", split="train"), load_dataset("digits", split="test")


@pytest.mark.parametrize("p,floor", [(R.DenseAMParams(energy="exp", beta=1.0), 0.95),
                                     (R.DenseAMParams(energy="rect_poly", n=20), 0.94),
                                     (R.DenseAMParams(energy="poly", n=3), 0.85)])
def test_dense_memory_classifies_digits(digits, p, floor):
    train, test = digits
    clf = DenseAMClassifier(p).fit(train.images, train.labels)
    assert clf.memories.shape == (1438, 74)
    pred = clf.predict(test.images)
    acc = float((pred == test.labels).mean())
    assert acc >= floor, acc  # measured: exp 95.82 %, rect_poly n=20 94.99 %, poly n=3 86.07 % (359 images)
    np.testing.assert_array_equal(clf.predict(test.images, backend="numba"), pred)


def test_classifier_label_retrieval_agrees_with_the_field(digits):
    train, test = digits
    clf = DenseAMClassifier(R.DenseAMParams(energy="exp", mode="sync", max_steps=1)).fit(train.images, train.labels)
    field = clf.label_field(test.images)
    s = torch.cat([clf.binarise(test.images), -torch.ones(len(test), 10, dtype=torch.float64)], 1)
    out, _ = R.dense_retrieve(s, clf.memories, clf.p, free=np.arange(64, 74))
    lab = out[:, 64:]
    np.testing.assert_array_equal((lab > 0).numpy(), (field > 0).numpy())  # one update of the label units
    one_hot = (lab > 0).sum(1) == 1
    assert float(one_hot.float().mean()) > 0.9  # mostly a single label unit turns on: the retrieved label
    assert float((lab.argmax(1)[one_hot].numpy() == test.labels[one_hot.numpy()]).mean()) > 0.95


@pytest.mark.parametrize("cls,kw", [(R.HopfieldParams, {"mode": "random"}), (R.HopfieldParams, {"max_steps": 0}),
                                    (R.HopfieldParams, {"tie_eps": -1.0}), (R.DenseAMParams, {"energy": "log"}),
                                    (R.DenseAMParams, {"n": 1}), (R.DenseAMParams, {"beta": 0.0})])
def test_bad_params_are_config_errors(cls, kw):
    with pytest.raises(ConfigError, match="allowed"):
        cls(**kw)


def test_bad_states_are_config_errors():
    xi = R.random_patterns(3, 10)
    with pytest.raises(ConfigError, match=r"\+1/-1"):
        R.dense_retrieve(xi * 0.5, xi, R.DenseAMParams())
    with pytest.raises(ConfigError, match=r"\+1/-1"):
        kh.hopfield_retrieve(np.zeros((2, 10)), np.zeros((10, 10)), R.HopfieldParams())
    with pytest.raises(ConfigError, match="shape"):
        R.hopfield_retrieve(xi[:, :5], R.hebbian_weights(xi), R.HopfieldParams())
    with pytest.raises(ConfigError, match="fraction"):
        R.flip_bits(xi, 1.5)
    with pytest.raises(ConfigError, match="before fit"):
        DenseAMClassifier(R.DenseAMParams()).predict(np.zeros((2, 64)))
