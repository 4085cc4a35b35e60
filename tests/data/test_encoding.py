"""Spike encoders: rate statistics, latency and delta known answers, numpy/torch agreement, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from neuro.data.encoding import ENCODERS, delta, latency, rate
from neuro.errors import ConfigError

INTENSITIES = np.array([0.0, 0.05, 0.25, 0.5, 0.9, 1.0], dtype=np.float32)


def _first_spike(spikes: np.ndarray) -> np.ndarray:
    """Step of the first spike per input, -1 where none; spikes ``[T, ...]``."""
    s = np.asarray(spikes)
    return np.where(s.any(axis=0), s.argmax(axis=0), -1)


# ---------------------------------------------------------------------------------- rate


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_rate_mean_matches_intensity_within_3_sigma(backend):
    T, reps = 200, 500
    x = np.tile(INTENSITIES, (reps, 1))  # [B=500, 6]
    xin = torch.from_numpy(x) if backend == "torch" else x
    s = rate(xin, T, seed=123)
    s = s.numpy() if backend == "torch" else s
    assert s.shape == (T, reps, len(INTENSITIES)) and s.dtype == np.float32
    assert set(np.unique(s)) <= {0.0, 1.0}
    n = T * reps
    p_hat = s.mean(axis=(0, 1))
    for p, ph in zip(INTENSITIES.astype(float), p_hat):
        sigma = math.sqrt(p * (1 - p) / n)
        assert abs(ph - p) <= 3 * sigma + 1e-12, (p, ph, sigma)
    assert p_hat[0] == 0.0 and p_hat[-1] == 1.0  # p = 0 never fires, p = 1 always fires


def test_rate_gain_scales_and_clips():
    x = np.full((4000,), 0.25, dtype=np.float32)
    s = rate(x, 50, gain=2.0, seed=0)  # p = 0.5
    n = s.size
    assert abs(s.mean() - 0.5) <= 3 * math.sqrt(0.25 / n)
    assert rate(x, 10, gain=8.0, seed=0).min() == 1.0  # p = clip(2, 0, 1) = 1
    assert rate(x, 10, gain=0.0, seed=0).max() == 0.0


def test_rate_spike_counts_are_binomial():
    # Per-input counts over T steps: mean T*p, variance T*p*(1-p); variance checked within 5%.
    T, B, p = 100, 20000, 0.3
    counts = rate(np.full((B,), p, np.float32), T, seed=7).sum(axis=0)
    assert abs(counts.mean() - T * p) <= 3 * math.sqrt(T * p * (1 - p) / B)
    assert counts.var() == pytest.approx(T * p * (1 - p), rel=0.05)


def test_rate_reproducible_with_seed():
    x = np.random.default_rng(0).random((8, 10), dtype=np.float32)
    a, b, c = rate(x, 20, seed=5), rate(x, 20, seed=5), rate(x, 20, seed=6)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    # A Generator is advanced in place: two draws differ, the same fresh generator repeats them.
    g1, g2 = np.random.default_rng(9), np.random.default_rng(9)
    d1, d2 = rate(x, 20, seed=g1), rate(x, 20, seed=g1)
    assert not np.array_equal(d1, d2)
    np.testing.assert_array_equal(d1, rate(x, 20, seed=g2))

    xt = torch.from_numpy(x)
    ta, tb = rate(xt, 20, seed=5), rate(xt, 20, seed=5)
    assert torch.equal(ta, tb) and not torch.equal(ta, rate(xt, 20, seed=6))
    gen1, gen2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    assert torch.equal(rate(xt, 20, seed=gen1), rate(xt, 20, seed=gen2))
    # a numpy Generator also seeds the torch path reproducibly
    assert torch.equal(rate(xt, 20, seed=np.random.default_rng(1)), rate(xt, 20, seed=np.random.default_rng(1)))


def test_rate_torch_and_numpy_agree_in_statistics():
    x = np.tile(INTENSITIES, (1000, 1))
    sn = rate(x, 100, seed=0)
    st = rate(torch.from_numpy(x), 100, seed=0)
    assert isinstance(st, torch.Tensor) and st.dtype == torch.float32 and st.device == torch.device("cpu")
    assert tuple(st.shape) == sn.shape
    n = 100 * 1000
    for p, a, b in zip(INTENSITIES.astype(float), sn.mean(axis=(0, 1)), st.mean(dim=(0, 1)).numpy()):
        assert abs(a - b) <= 3 * math.sqrt(2 * p * (1 - p) / n) + 1e-12


def test_rate_accepts_float64_and_keeps_input_unchanged():
    x = np.array([[0.5, 1.0]])
    before = x.copy()
    s = rate(x, 3, seed=0)
    assert s.dtype == np.float32 and s.shape == (3, 1, 2)
    np.testing.assert_array_equal(x, before)
    xt = torch.tensor([[0.5, 1.0]], dtype=torch.float64, requires_grad=True)
    out = rate(xt, 3, seed=0)
    assert out.dtype == torch.float32 and not out.requires_grad


# ---------------------------------------------------------------------------------- latency


def test_latency_known_answers_linear_normalized():
    x = np.linspace(0.0, 1.0, 11, dtype=np.float32)[None]  # [1, 11]
    s = latency(x, 11, threshold=0.0, linear=True, normalize=True)
    assert s.shape == (11, 1, 11) and s.dtype == np.float32
    # t = 10 * (1 - x): x = 1 -> step 0, x = 0.1 -> step 9, x = 0 never fires
    np.testing.assert_array_equal(_first_spike(s)[0], [-1, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0])


def test_latency_known_answers_rc():
    x = np.array([[1.0, 0.4, 0.25, 0.21, 0.2, 0.1, 0.0]], dtype=np.float32)
    s = latency(x, 20, tau=5.0, threshold=0.2)
    # t = 5 ln(x / (x - 0.2)): 1 -> 1.12 -> 1; 0.4 -> 3.47 -> 3; 0.25 -> 8.05 -> 8; 0.21 -> 15.2 -> 15;
    # x <= threshold never fires.
    np.testing.assert_array_equal(_first_spike(s)[0], [1, 3, 8, 15, -1, -1, -1])
    # in a 10-step window the 15-step latency falls outside: no spike
    np.testing.assert_array_equal(_first_spike(latency(x, 10, tau=5.0, threshold=0.2))[0],
                                  [1, 3, 8, -1, -1, -1, -1])
    # defaults (tau 5, threshold 0.01): intensity 1 fires at step 0, zero never fires
    np.testing.assert_array_equal(_first_spike(latency(np.array([[1.0, 0.0]]), 5))[0], [0, -1])


def test_latency_known_answers_log_normalized_and_linear():
    x = np.array([[1.0, 0.1, 0.0101, 0.01, 0.005]])
    s = latency(x, 101, threshold=0.01, normalize=True)  # t = 100 ln(x) / ln(0.01)
    np.testing.assert_array_equal(_first_spike(s)[0], [0, 50, 100, -1, -1])
    s = latency(np.array([[1.0, 0.5, 0.0]]), 10, tau=4.0, threshold=0.0, linear=True)  # t = 4 (1 - x)
    np.testing.assert_array_equal(_first_spike(s)[0], [0, 2, -1])


@pytest.mark.parametrize("linear,normalize", [(False, False), (True, False), (False, True), (True, True)])
def test_latency_at_most_one_spike_and_monotone(linear, normalize):
    x = np.sort(np.random.default_rng(0).random(500)).astype(np.float32)[None]  # increasing intensity
    s = latency(x, 25, tau=10.0, threshold=0.05, linear=linear, normalize=normalize)
    assert s.sum(axis=0).max() <= 1.0
    first = _first_spike(s)[0]
    assert np.all(first[x[0] <= 0.05] == -1)  # below threshold: never
    fired = first[first >= 0]
    assert np.all(np.diff(fired) <= 0)  # brighter never later
    assert fired.size > 0 and (not normalize or fired[-1] == 0)


@pytest.mark.parametrize("linear,normalize", [(False, False), (True, False), (False, True), (True, True)])
def test_latency_torch_matches_numpy(linear, normalize):
    x = np.random.default_rng(1).random((16, 3, 5)).astype(np.float32)
    sn = latency(x, 30, tau=8.0, threshold=0.02, linear=linear, normalize=normalize)
    st = latency(torch.from_numpy(x), 30, tau=8.0, threshold=0.02, linear=linear, normalize=normalize)
    assert isinstance(st, torch.Tensor) and st.dtype == torch.float32 and st.shape == (30, 16, 3, 5)
    np.testing.assert_array_equal(st.numpy(), sn)


def test_latency_log_normalize_needs_positive_threshold():
    with pytest.raises(ConfigError, match=r"threshold=0.*\(0, 1\)"):
        latency(np.ones((1, 2)), 5, threshold=0.0, normalize=True)


# ---------------------------------------------------------------------------------- delta

# Hand-made sequence, dyadic values so every difference is exact. threshold 0.25 (strict ">").
SEQ = np.array([0.0, 0.125, 0.375, 0.5, 0.25, 0.0, 0.0, 0.5, 0.5], dtype=np.float32)


def test_delta_known_answer_reference_spike():
    x = SEQ[:, None]  # [T=9, B=1]
    on = delta(x, 0.25)
    assert on.shape == (9, 1) and on.dtype == np.float32
    # t2: 0.375 - 0 > 0.25 ON (ref 0.375); t5: 0 - 0.375 < -0.25 OFF (ref 0); t7: 0.5 - 0 ON.
    np.testing.assert_array_equal(on[:, 0], [0, 0, 1, 0, 0, 0, 0, 1, 0])
    both = delta(x, 0.25, off_spikes=True)
    assert both.shape == (9, 1, 2)
    np.testing.assert_array_equal(both[:, 0, 0], on[:, 0])
    np.testing.assert_array_equal(both[:, 0, 1], [0, 0, 0, 0, 0, 1, 0, 0, 0])


def test_delta_known_answer_reference_sample():
    both = delta(SEQ[:, None], 0.25, off_spikes=True, reference="sample")
    # per-step changes 0.125, 0.25, 0.125, -0.25, -0.25, 0, 0.5, 0: only the 0.5 exceeds 0.25 strictly
    np.testing.assert_array_equal(both[:, 0, 0], [0, 0, 0, 0, 0, 0, 0, 1, 0])
    np.testing.assert_array_equal(both[:, 0, 1], np.zeros(9))


def test_delta_slow_drift_accumulates():
    ramp = (np.arange(16, dtype=np.float32) / 16.0)[:, None]  # +1/16 per step
    on = delta(ramp, 0.15)  # fires once 3/16 = 0.1875 accumulated since the last event
    np.testing.assert_array_equal(np.flatnonzero(on[:, 0]), [3, 6, 9, 12, 15])
    assert delta(ramp, 0.15, reference="sample").sum() == 0
    # threshold 0: every strictly positive change fires
    assert delta(ramp, 0.0)[1:].min() == 1.0 and delta(ramp, 0.0)[0].max() == 0.0


def test_delta_shapes_and_torch_matches_numpy():
    x = np.random.default_rng(2).normal(size=(40, 4, 3, 2)).astype(np.float32)
    for ref in ("spike", "sample"):
        sn = delta(x, 0.5, off_spikes=True, reference=ref)
        st = delta(torch.from_numpy(x), 0.5, off_spikes=True, reference=ref)
        assert sn.shape == (40, 4, 2, 3, 2) and isinstance(st, torch.Tensor) and st.dtype == torch.float32
        np.testing.assert_array_equal(st.numpy(), sn)
        assert sn[0].sum() == 0  # step 0 never fires
        assert (sn[:, :, 0] * sn[:, :, 1]).sum() == 0  # never ON and OFF at once


# ---------------------------------------------------------------------------------- errors


@pytest.mark.parametrize("enc", [lambda x, n: rate(x, n, seed=0), lambda x, n: latency(x, n)])
@pytest.mark.parametrize("steps", [0, -3, 2.5, True])
def test_bad_num_steps(enc, steps):
    with pytest.raises(ConfigError, match="num_steps"):
        enc(np.zeros((2, 3), np.float32), steps)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("enc", [rate, latency])
def test_bad_inputs(enc, backend):
    conv = torch.from_numpy if backend == "torch" else (lambda a: a)
    with pytest.raises(ConfigError, match=r"values in \[-0.5, 1\].*\[0, 1\]"):
        enc(conv(np.array([[-0.5, 1.0]], np.float32)), 4)
    with pytest.raises(ConfigError, match=r"values in \[0, 1.5\]"):
        enc(conv(np.array([[0.0, 1.5]], np.float32)), 4)
    with pytest.raises(ConfigError, match="NaN or inf"):
        enc(conv(np.array([[0.5, np.nan]], np.float32)), 4)
    with pytest.raises(ConfigError, match="NaN or inf"):
        enc(conv(np.array([[np.inf]], np.float32)), 4)
    with pytest.raises(ConfigError, match=r"dtype .*uint8.*x / 255"):
        enc(conv(np.array([[0, 255]], np.uint8)), 4)
    with pytest.raises(ConfigError, match=r"shape \(\)"):
        enc(conv(np.array(0.5, np.float32)), 4)


def test_bad_types_and_parameters():
    x = np.full((2, 2), 0.5, np.float32)
    with pytest.raises(ConfigError, match="type list"):
        rate([[0.5]], 3)
    with pytest.raises(ConfigError, match="gain=-1"):
        rate(x, 3, gain=-1.0)
    with pytest.raises(ConfigError, match="torch.Generator, but x is a numpy array"):
        rate(x, 3, seed=torch.Generator())
    with pytest.raises(ConfigError, match="seed=-1"):
        rate(x, 3, seed=-1)
    with pytest.raises(ConfigError, match="tau=0"):
        latency(x, 3, tau=0.0)
    with pytest.raises(ConfigError, match=r"threshold=1.0.*\[0.0, 1.0\)"):
        latency(x, 3, threshold=1.0)
    with pytest.raises(ConfigError, match="linear=1"):
        latency(x, 3, linear=1)
    with pytest.raises(ConfigError, match=r"shape \(5,\).*\[T, B, \.\.\.\]"):
        delta(np.zeros(5, np.float32), 0.1)
    with pytest.raises(ConfigError, match="threshold=-0.1"):
        delta(np.zeros((5, 1), np.float32), -0.1)
    with pytest.raises(ConfigError, match="reference='last'"):
        delta(np.zeros((5, 1), np.float32), 0.1, reference="last")
    with pytest.raises(ConfigError, match="NaN"):
        delta(torch.tensor([[0.0], [float("nan")]]), 0.1)


def test_encoders_registry_is_read_only():
    assert ENCODERS["rate"] is rate and set(ENCODERS) == {"rate", "latency", "delta"}
    with pytest.raises(TypeError):
        ENCODERS["x"] = rate  # type: ignore[index]
