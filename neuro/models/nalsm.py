"""The neuron-astrocyte liquid state machine (NALSM; Ivanov & Michmizos, NeurIPS 2021) and its LSM and
LSM+STDP baselines, following the paper and its code (combra-lab/NALSM).

Network: a 3-D liquid (``neuro.models.liquid``: 80/20 excitatory/inhibitory, connection probability
``C exp(-(D / lambda)^2)``, every weight at the maximal magnitude ``w_max``) driven by ``n_input`` input
neurons, each projecting to a random ``input_density`` of the liquid with a random sign. Every neuron
(input neurons too) is a current-based LIF with 1 ms steps::

    s_i = [refr_i <= 0 and v_i >= v_th];  v_i <- 0 where s_i            (spike, reset)
    v_i <- v_i + sum_k w_ik g(age_k) + input_current * bernoulli(p_i) + b - v_i / tau_v
    g(a) = exp(-a / tau_syn) / tau_syn, age_k = steps since neuron k last spiked (0 on its spike step)
    refr_i <- t_ref after a spike, else refr_i - 1

Input: an image, each normalised to unit sum and scaled by the training set's largest normalised
pixel (``encode``), is a Bernoulli spike source of ``duration`` ms (pixel value = probability per ms).

Plasticity (``plasticity``): ``"none"`` (LSM), ``"stdp"`` (LSM+STDP) or ``"astro"`` (NALSM). Pair STDP
with traces ``x <- exp(-1/tau_trace) (x + trace_a s)``: a post spike adds ``a_plus x_pre`` to its
excitatory and input synapses, a pre spike subtracts ``a_minus x_post`` (signs swap for inhibitory
synapses); weights are clipped per class (excitatory ``[0, w_max]``, inhibitory ``[-w_max, 0]``, input
``[-w_max, w_max]``). In NALSM ``a_minus`` is the astrocyte's state::

    A <- A + (astro_w (sum_liquid s - sum_input s) + astro_bias - A) / astro_tau

starting at ``A = a_plus``, ``astro_bias = a_plus (1 + astro_bias_offset)``; for ``"stdp"`` ``a_minus = a_plus``.
``a_plus``, ``A``, ``astro_w`` and ``astro_bias`` decay by ``lr_decay`` every step of a presentation.

Protocol: an initialisation phase presents ``init_samples`` random training images for
``init_duration`` ms each, with plasticity on and no rate decay, accumulating weight changes into one
weight vector (``initialize``). Every sample is then presented for ``duration`` ms starting from those
weights (reset per sample), with plasticity on (NALSM, LSM+STDP); the liquid's spike counts are the
features of a softmax readout (``neuro.train.nalsm_trainer``).

Backends: ``"numba"`` (``kernels.nalsm``: event-driven, parallel over samples) and ``"torch"``
(:func:`simulate_torch`: dense over all synapses each step, any device); they agree spike for spike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, NamedTuple, get_args

import numpy as np

from neuro.checks import check_number
from neuro.errors import ConfigError
from neuro.models.liquid import EXC, LiquidParams, build_liquid

Plasticity = Literal["none", "stdp", "astro"]
PLASTICITIES: tuple[str, ...] = get_args(Plasticity)
PLASTIC_CODE = {"none": 0, "stdp": 1, "astro": 2}
CLASS_EXC, CLASS_INH, CLASS_INPUT = 0, 1, 2


@dataclass(frozen=True)
class NALSMParams:
    """Defaults are the paper's NALSM-1000 for MNIST (``grid = (20, 20, 20)`` and ``astro_w = 0.0075``
    for NALSM-8000). Liquid: grid, frac_exc, c (per pre->post class pair), lam, input_density,
    w_max (initial magnitude of every synapse and clipping bound), seed. Neuron: tau_v, v_th, bias,
    t_ref (steps), tau_syn, input_current. Presentation: duration (ms). Plasticity: plasticity,
    a_plus, trace_a, trace_tau, lr_decay, astro_w, astro_tau, astro_bias_offset. Initialisation:
    init_samples, init_duration (ms), init_plasticity (``"auto"``: the same as ``plasticity``;
    LSM gets none). w_init: for ``plasticity = "none"`` without an initialisation phase, the weight
    magnitude of every synapse (0 = ``w_max``)."""

    grid: tuple[int, int, int] = (10, 10, 10)
    frac_exc: float = 0.8
    c: dict = field(default_factory=lambda: {"ee": 0.2, "ei": 0.1, "ie": 0.3, "ii": 0.05})
    lam: float = 3.0
    n_input: int = 784
    input_density: float = 0.15
    w_max: float = 3.0
    w_init: float = 0.0
    seed: int = 0
    tau_v: float = 64.0
    v_th: float = 20.0
    bias: float = 0.0
    t_ref: int = 2
    tau_syn: float = 1.0
    input_current: float = 100.0
    duration: int = 250
    plasticity: Plasticity = "astro"
    a_plus: float = 0.15
    trace_a: float = 0.1
    trace_tau: float = 10.0
    lr_decay: float = 0.99
    astro_w: float = 0.015
    astro_tau: float = 100.0
    astro_bias_offset: float = 0.0
    init_samples: int = 50_000
    init_duration: int = 20
    init_plasticity: Literal["auto", "none", "stdp", "astro"] = "auto"

    def __post_init__(self) -> None:
        for name, v, lo, hi, integer in (
                ("frac_exc", self.frac_exc, 0.0, 1.0, False), ("lam", self.lam, 1e-6, 1e6, False),
                ("n_input", self.n_input, 1, 10**6, True), ("input_density", self.input_density, 0.0, 1.0, False),
                ("w_max", self.w_max, 0.0, 1e6, False), ("w_init", self.w_init, 0.0, 1e6, False),
                ("seed", self.seed, 0, 2**31 - 1, True), ("tau_v", self.tau_v, 1.0, 1e6, False),
                ("v_th", self.v_th, 1e-9, 1e9, False), ("bias", self.bias, -1e6, 1e6, False),
                ("t_ref", self.t_ref, 0, 10_000, True), ("tau_syn", self.tau_syn, 0.05, 1e3, False),
                ("input_current", self.input_current, 0.0, 1e9, False), ("duration", self.duration, 1, 10**6, True),
                ("a_plus", self.a_plus, 0.0, 1e3, False), ("trace_a", self.trace_a, 0.0, 1e3, False),
                ("trace_tau", self.trace_tau, 1e-3, 1e6, False), ("lr_decay", self.lr_decay, 1e-6, 1.0, False),
                ("astro_w", self.astro_w, 0.0, 1e3, False), ("astro_tau", self.astro_tau, 1.0, 1e9, False),
                ("astro_bias_offset", self.astro_bias_offset, -1.0, 1e3, False),
                ("init_samples", self.init_samples, 0, 10**8, True), ("init_duration", self.init_duration, 1, 10**6, True)):
            check_number(f"nalsm.{name}", v, lo=lo, hi=hi, integer=integer)
        if self.plasticity not in PLASTICITIES:
            raise ConfigError(f"nalsm.plasticity={self.plasticity!r} is not supported; allowed: {', '.join(PLASTICITIES)}.")
        if self.init_plasticity not in ("auto",) + PLASTICITIES:
            raise ConfigError(f"nalsm.init_plasticity={self.init_plasticity!r} is not supported; allowed: auto, "
                              f"{', '.join(PLASTICITIES)}.")
        # the liquid's own checks (grid, c keys and ranges)
        self.liquid_params()

    def liquid_params(self) -> LiquidParams:
        return LiquidParams(grid=tuple(self.grid), frac_exc=self.frac_exc, lam=self.lam, c=dict(self.c),
                            w={k: 1.0 for k in ("ee", "ei", "ie", "ii")}, n_input=self.n_input,
                            input_density=self.input_density, w_input=1.0, input_sign="random", seed=self.seed)

    @property
    def n_liquid(self) -> int:
        return int(np.prod(self.grid))

    @property
    def init_mode(self) -> str:
        return self.plasticity if self.init_plasticity == "auto" else self.init_plasticity


class Network(NamedTuple):
    """Synapses sorted by presynaptic neuron (``out_ptr``, ``out_post``, ``w0``: signed initial weights;
    a synapse's class and clipping bounds follow its presynaptic neuron), the same synapses by postsynaptic neuron
    (``in_ptr``, ``in_syn`` (index into the presynaptic order), ``in_pre``), neuron classes
    (``cls``: EXC/INH for the liquid, 2 for inputs; ``n_liq`` liquid neurons first) and positions."""

    n_liq: int
    cls: np.ndarray
    positions: np.ndarray
    out_ptr: np.ndarray
    out_post: np.ndarray
    w0: np.ndarray
    in_ptr: np.ndarray
    in_syn: np.ndarray
    in_pre: np.ndarray

    @property
    def n(self) -> int:
        return len(self.cls)

    @property
    def pre(self) -> np.ndarray:
        """Presynaptic neuron of every synapse ``[nnz]``."""
        return np.repeat(np.arange(self.n, dtype=np.int64), np.diff(self.out_ptr))

    def liquid_adjacency(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Per liquid neuron: its presynaptic and postsynaptic liquid neurons (for the branching factor)."""
        pre = self.pre
        keep = pre < self.n_liq
        pre_l, post_l = pre[keep], self.out_post[keep].astype(np.int64)
        order = np.argsort(post_l, kind="stable")
        ins = np.split(pre_l[order], np.cumsum(np.bincount(post_l, minlength=self.n_liq))[:-1])
        outs = np.split(post_l, np.cumsum(np.bincount(pre_l, minlength=self.n_liq))[:-1])
        return ins, outs


def build_network(p: NALSMParams) -> Network:
    """The seeded liquid plus input projection of ``p`` in the kernels' layout."""
    liq = build_liquid(p.liquid_params())
    n_liq = liq.w.shape[0]
    n = n_liq + p.n_input
    mag = p.w_init if (p.w_init > 0) else p.w_max
    # dense [post, pre] over all neurons would be n^2; build the COO lists per block instead
    post_l, pre_l = np.nonzero(liq.w)
    sign_l = np.where(liq.cls[pre_l] == EXC, 1.0, -1.0)
    post_i, pre_i = np.nonzero(liq.w_in)
    sign_i = liq.in_sign[post_i, pre_i]
    pre = np.concatenate([pre_l, n_liq + pre_i]).astype(np.int64)
    post = np.concatenate([post_l, post_i]).astype(np.int64)
    w = (mag * np.concatenate([sign_l, sign_i])).astype(np.float32)
    order = np.lexsort((post, pre))
    pre, post, w = pre[order], post[order], w[order]
    out_ptr = np.concatenate([[0], np.cumsum(np.bincount(pre, minlength=n))]).astype(np.int64)
    by_post = np.lexsort((pre, post))
    in_ptr = np.concatenate([[0], np.cumsum(np.bincount(post, minlength=n))]).astype(np.int64)
    cls = np.concatenate([liq.cls.astype(np.int8), np.full(p.n_input, CLASS_INPUT, np.int8)])
    return Network(n_liq, cls, liq.positions, out_ptr, post.astype(np.int32), w, in_ptr,
                   by_post.astype(np.int64), pre[by_post].astype(np.int32))


def input_scale(images: np.ndarray) -> float:
    """The largest pixel of the unit-sum images (``encode`` divides by it): computed on the training set."""
    x = _flat(images)
    s = x.sum(1, keepdims=True)
    return float((x / np.maximum(s, 1e-12)).max())


def encode(images: np.ndarray, scale: float) -> np.ndarray:
    """Per-ms spike probabilities ``[B, n_input]``: each image divided by its sum and by ``scale``
    (clipped to [0, 1])."""
    x = _flat(images)
    if not np.isfinite(x).all() or (x < 0).any():
        raise ConfigError("NALSM input images must be finite and >= 0 (pixel intensities); got NaN/inf or a "
                          "negative value. Fix: pass raw intensities in [0, 1].")
    s = np.maximum(x.sum(1, keepdims=True), 1e-12)
    return np.clip(x / s / scale, 0.0, 1.0).astype(np.float64)


def _flat(images) -> np.ndarray:
    x = np.asarray(images, np.float64)
    return x.reshape(len(x), -1)


def _tables(p: NALSMParams, dtype) -> tuple[np.ndarray, float]:
    amax = int(max(100, np.ceil(40 * p.tau_syn)))
    a = np.arange(amax + 1, dtype=np.float64)
    return (np.exp(-a / p.tau_syn) / p.tau_syn).astype(dtype), float(np.exp(-1.0 / p.tau_syn))


def _neuron_arrays(p: NALSMParams, net: Network, dtype):
    n = net.n
    return (np.full(n, p.v_th, dtype), np.full(n, p.tau_v, dtype), np.full(n, p.bias, dtype),
            np.full(n, p.t_ref, np.int32), (net.cls == CLASS_INH))


def _bounds(p: NALSMParams, net: Network, dtype) -> tuple[np.ndarray, np.ndarray]:
    """Clipping bounds per presynaptic neuron (excitatory, inhibitory, input)."""
    lo = np.where(net.cls == CLASS_EXC, 0.0, -p.w_max).astype(dtype)
    hi = np.where(net.cls == CLASS_INH, 0.0, p.w_max).astype(dtype)
    return lo, hi


def _rates(p: NALSMParams, mode: str, decay: bool) -> dict:
    return dict(plastic=PLASTIC_CODE[mode], a_plus0=p.a_plus, trace_a=p.trace_a,
                trace_dec=float(np.exp(-1.0 / p.trace_tau)), lr_decay=p.lr_decay if decay else 1.0,
                astro_w0=p.astro_w, astro_bias0=p.a_plus * (1.0 + p.astro_bias_offset), astro_tau=p.astro_tau,
                astro_a0=p.a_plus)


class SimResult(NamedTuple):
    counts: np.ndarray   # [B, n_liq] liquid spike counts
    raster: np.ndarray   # [n_record, T, n_liq] uint8
    astro: np.ndarray    # [n_record, T] astrocyte state (depression rate) per step


def simulate(p: NALSMParams, net: Network, probs: np.ndarray, keys: np.ndarray, *, w: np.ndarray | None = None,
             mode: str | None = None, duration: int | None = None, decay: bool = True, n_record: int = 0,
             backend: str = "numba", dtype=np.float32, device=None) -> SimResult:
    """Present each row of ``probs`` ``[B, n_input]`` (from :func:`encode`) for ``duration`` ms (default
    ``p.duration``), every sample starting from weights ``w`` (default ``net.w0``), with plasticity
    ``mode`` (default ``p.plasticity``). ``keys [B]`` seed each sample's Bernoulli input."""
    probs, keys = _check_inputs(p, probs, keys)
    mode = p.plasticity if mode is None else mode
    T = p.duration if duration is None else int(duration)
    w0 = (net.w0 if w is None else np.asarray(w)).astype(dtype)
    if w0.shape != net.w0.shape:
        raise ConfigError(f"weights have shape {w0.shape}; allowed: {net.w0.shape} (one per synapse of this network).")
    n_record = min(int(n_record), len(probs))
    if backend == "torch":
        return simulate_torch(p, net, probs, keys, w=w0, mode=mode, duration=T, decay=decay, n_record=n_record,
                              device=device)
    if backend != "numba":
        raise ConfigError(f"backend={backend!r} is not supported; allowed: numba, torch.")
    from kernels.nalsm import run

    return run(p, net, probs, keys, w=w0, mode=mode, duration=T, decay=decay, n_record=n_record)


def initialize(p: NALSMParams, net: Network, probs: np.ndarray, keys: np.ndarray, *, w: np.ndarray | None = None,
               dtype=np.float32) -> np.ndarray:
    """The initialisation phase over the rows of ``probs`` in order (``p.init_duration`` ms each, no rate
    decay, plasticity ``p.init_mode``); returns the weights it leaves (start: ``w`` or ``net.w0``)."""
    probs, keys = _check_inputs(p, probs, keys)
    from kernels import nalsm as k

    wv = (net.w0 if w is None else np.asarray(w)).astype(dtype).copy()
    gtab, kdec = _tables(p, dtype)
    vth, tau_v, bias, t_ref, pre_inh = _neuron_arrays(p, net, dtype)
    k.run_sequential(probs, keys, p.init_duration, wv, net.n_liq, net.out_ptr, net.out_post, net.in_ptr, net.in_syn,
                     net.in_pre, *_bounds(p, net, dtype), pre_inh, vth, tau_v, bias, t_ref,
                     gtab, kdec, p.input_current, **_rates(p, p.init_mode, False))
    return wv


def _check_inputs(p: NALSMParams, probs, keys) -> tuple[np.ndarray, np.ndarray]:
    probs = np.ascontiguousarray(probs, np.float64)
    if probs.ndim != 2 or probs.shape[1] != p.n_input:
        raise ConfigError(f"input probabilities have shape {probs.shape}; allowed: [B, {p.n_input}] "
                          "(nalsm.n_input per sample; use neuro.models.nalsm.encode on the images).")
    if not np.isfinite(probs).all() or probs.min(initial=0) < 0 or probs.max(initial=0) > 1:
        raise ConfigError("input probabilities must lie in [0, 1] (no NaN); use neuro.models.nalsm.encode.")
    keys = np.ascontiguousarray(keys, np.int64)
    if keys.shape != (len(probs),) or (keys < 0).any():
        raise ConfigError(f"keys have shape {keys.shape}; allowed: [{len(probs)}] non-negative integers (one per sample).")
    return probs, keys


def simulate_torch(p: NALSMParams, net: Network, probs: np.ndarray, keys: np.ndarray, *, w: np.ndarray,
                   mode: str, duration: int, decay: bool = True, n_record: int = 0, device=None) -> SimResult:
    """The dense torch twin of the Numba kernel: every synapse's current and STDP term computed each
    step for the whole batch (``[B, synapses]`` tensors), on ``device``. Same draws, same results."""
    import torch

    from kernels.nalsm import bernoulli_draws

    dev = torch.device(device) if device is not None else torch.device("cpu")
    dt = torch.float64 if np.asarray(w).dtype == np.float64 else torch.float32
    T, B, n, n_liq = duration, len(probs), net.n, net.n_liq
    draws = torch.from_numpy(bernoulli_draws(probs, keys, T)).to(dev)
    gtab_np, kdec = _tables(p, np.float64)
    gtab = torch.tensor(gtab_np, dtype=dt, device=dev)
    amax = len(gtab_np) - 1
    pre = torch.from_numpy(net.pre).to(dev)
    post = torch.from_numpy(net.out_post.astype(np.int64)).to(dev)
    lo, hi = (torch.from_numpy(b).to(dev, dt)[pre] for b in _bounds(p, net, np.float64))
    inh_pre = torch.from_numpy(net.cls == CLASS_INH).to(dev)[pre]
    W = torch.from_numpy(np.asarray(w)).to(dev, dt).unsqueeze(0).repeat(B, 1)
    V = torch.zeros(B, n, dtype=dt, device=dev)
    trace = torch.zeros_like(V)
    refr = torch.zeros(B, n, dtype=torch.int32, device=dev)
    age = torch.full((B, n), amax, dtype=torch.int64, device=dev)
    counts = torch.zeros(B, n_liq, dtype=torch.float32, device=dev)
    raster = torch.zeros(n_record, T, n_liq, dtype=torch.uint8, device=dev)
    astro_tr = torch.zeros(n_record, T, dtype=dt, device=dev)
    r = _rates(p, mode, decay)
    a_plus, A, aw, abias = r["a_plus0"], torch.full((B,), r["astro_a0"], dtype=dt, device=dev), r["astro_w0"], r["astro_bias0"]
    plastic = r["plastic"]
    is_liq = torch.arange(n, device=dev) < n_liq
    for t in range(T):
        s = (refr <= 0) & (V >= p.v_th)
        V = torch.where(s, torch.zeros_like(V), V)
        counts += s[:, :n_liq].to(torch.float32)
        if n_record:
            raster[:, t] = s[:n_record, :n_liq].to(torch.uint8)
        age = torch.where(s, torch.zeros_like(age), age)
        syn = W * gtab[age[:, pre]]
        I = torch.zeros(B, n, dtype=dt, device=dev).index_add_(1, post, syn)
        ext = torch.zeros(B, n, dtype=dt, device=dev)
        ext[:, n_liq:] = p.input_current * draws[:, t].to(dt)
        V = V + I + ext + p.bias - V / p.tau_v
        age = torch.clamp(age + 1, max=amax)
        refr = torch.where(s, torch.full_like(refr, p.t_ref), refr - 1)
        if plastic > 0:
            dep = torch.full((B,), a_plus, dtype=dt, device=dev) if plastic == 1 else A
            sf = s.to(dt)
            pot_lr = torch.where(inh_pre, -dep[:, None], torch.full_like(W, a_plus))
            dep_lr = torch.where(inh_pre, torch.full_like(W, a_plus), -dep[:, None])
            d = pot_lr * trace[:, pre] * sf[:, post] + dep_lr * trace[:, post] * sf[:, pre]
            W = torch.minimum(torch.maximum(W + d, lo), hi)
            trace = r["trace_dec"] * (r["trace_a"] * sf + trace)
            n_res = (s & is_liq).sum(1).to(dt)
            n_inp = (s & ~is_liq).sum(1).to(dt)
            A = A + (aw * (n_res - n_inp) + abias - A) / r["astro_tau"]
            if n_record:
                astro_tr[:, t] = A[:n_record]
            a_plus, A, aw, abias = a_plus * r["lr_decay"], A * r["lr_decay"], aw * r["lr_decay"], abias * r["lr_decay"]
    return SimResult(counts.cpu().numpy(), raster.cpu().numpy(), astro_tr.cpu().numpy())


def branching_factor(raster: np.ndarray, net: Network, *, dt: int = 4, buffer: int = 25) -> float:
    """Mean branching factor of the liquid (the NALSM code's measure): for every spike of neuron ``n``
    at ``t`` (``buffer + dt <= t < T - buffer - dt``), spikes of ``n``'s postsynaptic liquid neurons in
    ``[t + 1, t + 1 + dt)`` divided by spikes of its presynaptic liquid neurons in ``[t - dt, t)`` (at
    least 1); averaged per neuron over its spikes, then over neurons that spiked and samples.
    ``raster``: ``[S, T, n_liq]`` or ``[T, n_liq]`` 0/1."""
    r = np.asarray(raster)
    if r.ndim == 2:
        r = r[None]
    if r.ndim != 3 or r.shape[2] != net.n_liq:
        raise ConfigError(f"raster has shape {r.shape}; allowed: [samples, T, {net.n_liq}] (liquid neurons).")
    ins, outs = net.liquid_adjacency()
    vals = []
    for x in r.astype(np.int64):
        T = x.shape[0]
        x = x[buffer:T - buffer]  # the reference drops the first and last ``buffer`` ms
        c = np.concatenate([np.zeros((1, x.shape[1]), np.int64), np.cumsum(x, 0)])  # c[t] = spikes before t
        per = []
        for nid in range(net.n_liq):
            ts = np.nonzero(x[:, nid])[0]
            ts = ts[(ts >= dt) & (ts < len(x) - dt)]
            if len(ts) == 0:
                continue
            pre_c = (c[ts][:, ins[nid]] - c[ts - dt][:, ins[nid]]).sum(1) if len(ins[nid]) else np.zeros(len(ts))
            post_c = (c[ts + 1 + dt][:, outs[nid]] - c[ts + 1][:, outs[nid]]).sum(1) if len(outs[nid]) else np.zeros(len(ts))
            per.append(np.mean(post_c / np.maximum(pre_c, 1)))
        if per:
            vals.append(np.mean(per))
    return float(np.mean(vals)) if vals else float("nan")
