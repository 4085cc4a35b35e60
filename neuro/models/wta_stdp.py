"""Winner-take-all STDP network after Diehl & Cook (2015), "Unsupervised learning of digit recognition
using spike-timing-dependent plasticity" (Front. Comput. Neurosci. 9:99).

* Input: one Bernoulli (Poisson) spike train per pixel, rate ``x * max_rate`` Hz for intensity
  ``x`` in [0, 1] (the paper's pixel/4 Hz, 63.75 Hz at white), for ``t_present`` ms per image.
* ``n_neurons`` excitatory conductance LIF neurons (the paper's constants: ``tau_v`` 100 ms, rest
  -65 mV, threshold -52 mV + ``theta``, reset -65 mV, 5 ms refractory, ``g_e``/``g_i`` decaying with
  1 / 2 ms toward 0 / -100 mV). ``theta`` rises by ``theta_plus`` on each spike (homeostasis) and
  decays with ``tau_theta`` (1e7 ms: almost never); it is frozen after training.
* Lateral inhibition: each excitatory spike adds ``w_inh`` to the inhibitory conductance of every
  other excitatory neuron. The paper routes this through a 1:1 inhibitory population that fires one
  step later; here the relay is folded in (soft WTA, same strength 17).
* Learning: the project's pair STDP (:func:`neuro.rules.stdp.stdp_run`, the Numba backend from
  ``neuro.registry`` when available) on the input -> excitatory weights, nearest pairing, LTP
  ``a_plus * x_pre`` on a post spike, LTD ``a_minus * y_post`` on a pre spike (the paper's
  ``nu_post = 0.01`` / ``nu_pre = 0.0001``; its triplet factor on LTP is left out), bounds [0, 1];
  after every image each neuron's incoming weights are rescaled to sum to ``norm_total`` (78).
* If an image makes fewer than ``min_spikes`` excitatory spikes, it is shown again with the input
  rate raised by ``rate_step`` Hz (up to ``max_repeats`` times), as in the paper.
* Labels: each neuron gets the class for which its mean spike count over a labelled set (weights
  and thresholds frozen) is highest; an image is classified as the class whose neurons spike most on
  average.

Design choices (documented deviations): STDP for one presentation is applied *after* the
presentation, from its recorded spike trains (weights are constant within the 350 ms of one
image; the paper updates online); traces and membrane state are reset between presentations
instead of simulating the 150 ms rest. Learning is sequential: with ``batch_size = 1`` (default)
images are learned one at a time exactly as above; with ``batch_size = B > 1`` B images are shown
in parallel with the same weights and thresholds, each copy is updated by STDP and the weights move
by the *mean* of the B changes (thresholds by the sum of the spikes' increments) — faster, a
mini-batch approximation. Inference (label assignment, prediction) is batched over independent
images. Everything is seeded (``seed``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch

from neuro.checks import check_number
from neuro.errors import ConfigError
from neuro.rules.stdp import STDPParams

Backend = Literal["auto", "torch", "numba"]


def _default_stdp() -> STDPParams:
    return STDPParams(a_plus=0.01, a_minus=0.0001, tau_plus=20.0, tau_minus=20.0, dt=0.5, pairing="nearest",
                      w_min=0.0, w_max=1.0)


@dataclass(frozen=True)
class WTAParams:
    """Parameters of :class:`WTANetwork` (Diehl & Cook 2015 values; times in ms, voltages in mV, rates in Hz).

    n_neurons / n_inputs: layer sizes. dt: step. t_present: presentation per image. max_rate: input
    rate at intensity 1. rate_step, min_spikes, max_repeats: re-presentation of images that make
    fewer than ``min_spikes`` spikes, with ``rate_step`` Hz more each time. tau_v, v_rest, v_reset,
    v_thresh, e_exc, e_inh, tau_ge, tau_gi, refractory: the conductance LIF. theta_plus, tau_theta:
    the adaptive threshold. w_inh: lateral inhibition per spike. w_init_max: initial weights uniform
    in [0, w_init_max]. norm_total: sum of each neuron's incoming weights after every image.
    batch_size: images learned in parallel (1 = strictly sequential). eval_batch: images per batch
    at inference. stdp: the rule's Params (its ``dt`` must equal ``dt``). backend: ``"numba"``,
    ``"torch"`` or ``"auto"`` (numba when it imports). seed: weights and input spikes."""

    n_neurons: int = 100
    n_inputs: int = 784
    dt: float = 0.5
    t_present: float = 350.0
    max_rate: float = 63.75
    rate_step: float = 31.875
    min_spikes: int = 5
    max_repeats: int = 4
    tau_v: float = 100.0
    v_rest: float = -65.0
    v_reset: float = -65.0
    v_thresh: float = -52.0
    e_exc: float = 0.0
    e_inh: float = -100.0
    tau_ge: float = 1.0
    tau_gi: float = 2.0
    refractory: float = 5.0
    theta_plus: float = 0.05
    tau_theta: float = 1e7
    w_inh: float = 17.0
    w_init_max: float = 0.3
    norm_total: float = 78.0
    batch_size: int = 1
    eval_batch: int = 256
    stdp: STDPParams = field(default_factory=_default_stdp)
    backend: Backend = "auto"
    seed: int = 0

    def __post_init__(self) -> None:
        def num(name, lo=None, hi=None, lo_open=False, integer=False):
            check_number(f"wta.{name}", getattr(self, name), lo=lo, hi=hi, lo_open=lo_open, integer=integer)

        num("n_neurons", 1, 1_000_000, integer=True)
        num("n_inputs", 1, 10_000_000, integer=True)
        num("dt", 0.0, 100.0, lo_open=True)
        num("t_present", self.dt, 1e6)
        num("max_rate", 0.0, 1000.0 / self.dt, lo_open=True)
        num("rate_step", 0.0, 1000.0 / self.dt)
        num("min_spikes", 0, 1_000_000, integer=True)
        num("max_repeats", 0, 1000, integer=True)
        for name in ("tau_v", "tau_ge", "tau_gi", "tau_theta"):
            num(name, 0.0, 1e12, lo_open=True)
        for name in ("v_rest", "v_reset", "v_thresh", "e_exc", "e_inh"):
            num(name, -1e4, 1e4)
        num("refractory", 0.0, 1e6)
        num("theta_plus", 0.0, 1e3)
        num("w_inh", 0.0, 1e6)
        num("norm_total", 0.0, 1e9, lo_open=True)
        num("batch_size", 1, 1_000_000, integer=True)
        num("eval_batch", 1, 1_000_000, integer=True)
        num("seed", 0, 2**63 - 1, integer=True)
        if not isinstance(self.stdp, STDPParams):
            raise ConfigError(f"wta.stdp={self.stdp!r} is invalid; allowed: a neuro.rules.stdp.STDPParams.")
        if abs(self.stdp.dt - self.dt) > 1e-12:
            raise ConfigError(f"wta.stdp.dt={self.stdp.dt!r} differs from wta.dt={self.dt!r}; allowed: equal steps "
                              f"(pass STDPParams(dt={self.dt}, ...)).")
        num("w_init_max", self.stdp.w_min, self.stdp.w_max)
        if self.backend not in ("auto", "torch", "numba"):
            raise ConfigError(f"wta.backend={self.backend!r} is not supported; allowed: auto, torch, numba.")
        if self.v_reset >= self.v_thresh:
            raise ConfigError(f"wta.v_reset={self.v_reset!r} must lie below wta.v_thresh={self.v_thresh!r}; "
                              "allowed: v_reset < v_thresh.")

    @property
    def steps(self) -> int:
        """Steps per presentation, ``round(t_present / dt)``."""
        return max(1, int(round(self.t_present / self.dt)))

    def constants(self) -> dict[str, float]:
        """Per-step factors: conductance decays ``dge``, ``dgi`` and the Euler factor ``k_v = dt / tau_v``."""
        return {"dge": math.exp(-self.dt / self.tau_ge), "dgi": math.exp(-self.dt / self.tau_gi),
                "k_v": self.dt / self.tau_v}


def _numba_ok() -> bool:
    try:
        import kernels.wta_stdp  # noqa: F401
        return True
    except Exception:  # pragma: no cover - numba missing
        return False


def initial_state(B: int, p: WTAParams, theta: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """``(v, ge, gi, refr, theta)`` ``[B, n]``: at rest, no conductance, not refractory, the given thresholds."""
    n = p.n_neurons
    return (torch.full((B, n), p.v_rest), torch.zeros(B, n), torch.zeros(B, n), torch.zeros(B, n),
            theta.to(torch.float32).expand(B, n).clone())


@torch.no_grad()
def wta_dynamics(pre: torch.Tensor, w: torch.Tensor, state: tuple[torch.Tensor, ...], p: WTAParams,
                 learn: bool) -> torch.Tensor:
    """The excitatory layer over ``T`` steps of given input spikes ``pre [T, B, n_in]`` (0/1) with
    weights ``w [n, n_in]``; ``state = (v, ge, gi, refr, theta)`` ``[B, n]`` is updated in place
    (``theta`` only when ``learn``). Returns the spikes ``[T, B, n]`` uint8. ``kernels/wta_stdp.py``
    is its Numba twin. Per step: decay ``g``, add the input, Euler step of ``v`` for neurons not
    refractory, spike above ``v_thresh + theta``, reset, raise ``theta``, inhibit the others."""
    v, ge, gi, refr, theta = state
    c = p.constants()
    inp = pre.to(torch.float32) @ w.to(torch.float32).T
    out = torch.zeros(inp.shape, dtype=torch.uint8)
    for t in range(inp.shape[0]):
        ge.mul_(c["dge"]).add_(inp[t])
        gi.mul_(c["dgi"])
        active = refr <= 0
        v_new = v + c["k_v"] * ((p.v_rest - v) + ge * (p.e_exc - v) + gi * (p.e_inh - v))
        s = active & (v_new > p.v_thresh + theta)
        v.copy_(torch.where(active, torch.where(s, torch.full_like(v, p.v_reset), v_new), v))
        refr.copy_(torch.where(active, torch.where(s, torch.full_like(refr, p.refractory), refr), refr - p.dt))
        sf = s.to(torch.float32)
        if learn:
            theta.add_(p.theta_plus * sf)
        gi.add_(p.w_inh * (sf.sum(1, keepdim=True) - sf))
        out[t] = s
    return out


class WTANetwork:
    """Diehl & Cook style WTA STDP network; see the module docstring. ``w [n, n_in]``, ``theta [n]``
    (torch, float32), ``assignments [n]`` (class per neuron, after :meth:`assign_labels`)."""

    def __init__(self, params: WTAParams | None = None) -> None:
        self.p = p = params if params is not None else WTAParams()
        if not isinstance(p, WTAParams):
            raise ConfigError(f"WTANetwork params={p!r} is invalid; allowed: a WTAParams.")
        self.gen = torch.Generator().manual_seed(p.seed)
        self.w = torch.rand(p.n_neurons, p.n_inputs, generator=self.gen) * p.w_init_max
        self.theta = torch.zeros(p.n_neurons)
        self.assignments: torch.Tensor | None = None
        self.n_classes = 0
        self.images_seen = 0
        self.presentations = 0
        use_numba = p.backend == "numba" or (p.backend == "auto" and _numba_ok())
        self.backend = "numba" if use_numba else "torch"
        from neuro import registry

        self._stdp = registry.get("stdp", self.backend)
        self.normalise()

    # -- pieces ---------------------------------------------------------------------------------------
    def normalise(self) -> None:
        """Rescale each neuron's incoming weights to sum to ``norm_total`` (then clip to the STDP bounds)."""
        s = self.w.sum(1, keepdim=True).clamp_min(1e-12)
        self.w.mul_(self.p.norm_total / s).clamp_(self.p.stdp.w_min, self.p.stdp.w_max)

    def _images(self, x) -> torch.Tensor:
        x = x.to(torch.float32) if isinstance(x, torch.Tensor) else torch.from_numpy(np.array(x, dtype=np.float32))
        x = x.reshape(x.shape[0], -1) if x.ndim >= 2 else x
        if x.ndim != 2 or x.shape[1] != self.p.n_inputs:
            raise ConfigError(f"images have shape {tuple(x.shape)}; allowed: [N, {self.p.n_inputs}] (or [N, H, W] "
                              f"with H*W = {self.p.n_inputs}) matching wta.n_inputs.")
        if x.numel() and (float(x.min()) < 0 or float(x.max()) > 1 or not bool(torch.isfinite(x).all())):
            raise ConfigError(f"image intensities span [{float(x.min())}, {float(x.max())}]; allowed: [0, 1] "
                              "(divide 8-bit pixels by 255).")
        return x

    def present(self, x: torch.Tensor, rate_hz: torch.Tensor, learn: bool, record: bool = False
                ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """Show images ``x [B, n_in]`` once at ``rate_hz [B]`` (max rate) with the current weights.
        Returns ``(counts [B, n], pre [T, B, n_in] | None, post [T, B, n] | None)`` (trains when ``record``);
        with ``learn`` the per-sample thresholds rise and the shared ``theta`` moves by their summed change."""
        p, B, T = self.p, x.shape[0], self.p.steps
        prob = (x * (rate_hz[:, None] * p.dt / 1000.0)).clamp_(0, 1)
        st = initial_state(B, p, self.theta)
        theta0 = st[4].clone()
        if self.backend == "numba":  # event-driven input (one random number per spike) and dynamics
            from kernels.wta_stdp import poisson_spikes, spike_counts, wta_dynamics as wta_numba

            seeds = torch.randint(0, 2**62, (B,), generator=self.gen).numpy().astype(np.uint64)
            if not record and not learn:
                return torch.from_numpy(spike_counts(prob.numpy(), T, seeds, self.w.numpy(),
                                                     tuple(s.numpy() for s in st), p)), None, None
            pre_np = poisson_spikes(prob.numpy(), T, seeds)
            post_np = wta_numba(pre_np, self.w.numpy(), tuple(s.numpy() for s in st), p, learn)  # st in place
            pre, post = torch.from_numpy(pre_np), torch.from_numpy(post_np)
            counts = post.sum(0, dtype=torch.float32)
        else:
            counts = torch.zeros(B, p.n_neurons)
            pres, posts = [], []
            chunk = max(1, min(T, int(2e7 // max(1, B * p.n_inputs))))
            for t0 in range(0, T, chunk):
                k = min(chunk, T - t0)
                pre = (torch.rand(k, B, p.n_inputs, generator=self.gen) < prob).to(torch.uint8)
                post = wta_dynamics(pre, self.w, st, p, learn)
                counts += post.sum(0, dtype=torch.float32)
                if record:
                    pres.append(pre)
                    posts.append(post)
            pre, post = (torch.cat(pres), torch.cat(posts)) if record else (None, None)
        if learn:
            self.theta += (st[4] - theta0).sum(0)
            self.theta *= math.exp(-T * p.dt / p.tau_theta)
        return (counts, pre, post) if record else (counts, None, None)

    def _learn(self, pre: torch.Tensor, post: torch.Tensor) -> None:
        """STDP on the recorded trains of ``B`` parallel presentations; weights move by the mean change."""
        B = pre.shape[1]
        w0 = self.w.expand(B, *self.w.shape).contiguous()
        if self.backend == "numba":
            w_new, _ = self._stdp(w0.numpy(), pre.numpy().astype(np.float32), post.numpy().astype(np.float32),
                                  self.p.stdp)
            w_new = torch.from_numpy(w_new)
        else:
            w_new, _ = self._stdp(w0, pre.to(torch.float32), post.to(torch.float32), self.p.stdp)
        self.w += (w_new - w0).mean(0)
        self.w.clamp_(self.p.stdp.w_min, self.p.stdp.w_max)
        self.normalise()

    # -- API ------------------------------------------------------------------------------------------
    def fit(self, images, progress: bool = False) -> "WTANetwork":
        """Learn from ``images [N, n_in]`` (intensities in [0, 1]) in the given order, ``batch_size``
        at a time; each batch is re-presented at a higher rate while some image makes fewer than
        ``min_spikes`` spikes (only those images; STDP and thresholds learn from every presentation)."""
        x = self._images(images)
        bs = self.p.batch_size
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=len(x), desc="wta-stdp fit", unit="img")
        for i in range(0, len(x), bs):
            xb = x[i:i + bs]

            def learn_once(todo, rate):
                counts, pre, post = self.present(xb[todo], rate, learn=True, record=True)
                self._learn(pre, post)
                self.presentations += len(todo)
                return counts

            self._until_enough_spikes(len(xb), learn_once)
            self.images_seen += len(xb)
            if bar is not None:
                bar.update(len(xb))
        if bar is not None:
            bar.close()
        return self

    @torch.no_grad()
    def responses(self, images, progress: bool = False) -> torch.Tensor:
        """Spike counts ``[N, n]`` with weights and thresholds frozen (batched, ``eval_batch`` images at a
        time; images with fewer than ``min_spikes`` spikes are shown again at a higher rate, the last
        presentation counts)."""
        x = self._images(images)
        out = torch.zeros(len(x), self.p.n_neurons)
        it = range(0, len(x), self.p.eval_batch)
        if progress:
            from tqdm import tqdm

            it = tqdm(it, desc="wta-stdp responses", unit="batch")
        for i in it:
            xb = x[i:i + self.p.eval_batch]

            def count_once(todo, rate):
                counts = self.present(xb[todo], rate, learn=False)[0]
                out[i + todo] = counts
                return counts

            self._until_enough_spikes(len(xb), count_once)
        return out

    def _until_enough_spikes(self, n: int, show) -> None:
        """Call ``show(todo, rate_hz)`` for the ``n`` images of a batch (``todo``: their indices), then
        again for those whose counts (its return value) sum below ``min_spikes``, ``rate_step`` Hz
        faster each time, at most ``max_repeats`` times more."""
        rate = torch.full((n,), self.p.max_rate)
        todo = torch.arange(n)
        for rep in range(self.p.max_repeats + 1):
            low = show(todo, rate[todo]).sum(1) < self.p.min_spikes
            if not bool(low.any()) or rep == self.p.max_repeats:
                break
            todo = todo[low]
            rate[todo] += self.p.rate_step

    def assign_labels(self, images=None, labels=None, n_classes: int | None = None, *,
                      responses: torch.Tensor | None = None) -> torch.Tensor:
        """Give each neuron the class with its highest mean spike count over the labelled images (or
        precomputed ``responses [N, n]``); returns and stores ``assignments [n]``."""
        r = self.responses(images) if responses is None else responses
        y = torch.as_tensor(np.asarray(labels), dtype=torch.int64)
        if y.ndim != 1 or len(y) != len(r) or (len(y) and int(y.min()) < 0):
            raise ConfigError(f"labels have shape {tuple(y.shape)}; allowed: [{len(r)}] non-negative class indices.")
        k = int(n_classes) if n_classes is not None else int(y.max()) + 1
        if k < 1 or int(y.max()) >= k:
            raise ConfigError(f"n_classes={n_classes!r} is too small for label {int(y.max())}; allowed: > max label.")
        sums = torch.zeros(k, r.shape[1]).index_add_(0, y, r)
        cnt = torch.bincount(y, minlength=k).clamp_min(1).to(torch.float32)
        self.assignments = (sums / cnt[:, None]).argmax(0)
        self.n_classes = k
        return self.assignments

    def vote(self, responses: torch.Tensor) -> torch.Tensor:
        """Class per image: the class whose assigned neurons have the highest mean count (classes without
        neurons never win)."""
        if self.assignments is None:
            raise ConfigError("WTANetwork.predict needs labels; allowed: call assign_labels(images, labels) first.")
        k = self.n_classes
        onehot = torch.nn.functional.one_hot(self.assignments, k).to(torch.float32)  # [n, k]
        n_per = onehot.sum(0)
        score = (responses @ onehot) / n_per.clamp_min(1)
        score[:, n_per == 0] = -1.0
        return score.argmax(1)

    def predict(self, images, progress: bool = False) -> torch.Tensor:
        """Predicted class per image ``[N]``."""
        if self.assignments is None:
            raise ConfigError("WTANetwork.predict needs labels; allowed: call assign_labels(images, labels) first.")
        return self.vote(self.responses(images, progress=progress))
