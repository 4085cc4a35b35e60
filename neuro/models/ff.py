"""Forward-forward networks: ReLU FF nets (with optional black-box physical layers) and spiking FF nets.

Every layer is trained alone by ``neuro.rules.ff``: its input is the previous layer's output,
length-normalised and **detached**, so no gradient ever crosses a layer boundary (``layer_inputs``
returns plain tensors with ``requires_grad=False``; a test checks it).

* :class:`FFNet` — ``[phys_0] -> Linear_0 -> ReLU -> normalise -> [phys_1] -> Linear_1 -> ...``.
  ``physical`` (optional) puts a black-box callable before each digital layer: a numpy function
  with no gradient (e.g. :class:`WaveMixing`, :class:`SaturableNoisy`), applied to the measured
  numpy values; each digital layer is trained from those measured outputs only (model-free FF).
* :class:`SpikingFFNet` — ``Linear_l -> LIF over T steps``; goodness from spike rates or membrane,
  trained with surrogate gradients inside the layer only.

Supervised mode appends the one-hot label to the image (``neuro.rules.ff.embed_label``); inference
is by goodness summed over layers for every candidate label, or by the linear ``readout`` on the
normalised activities with the neutral label.
"""

from __future__ import annotations

from typing import Callable, Literal, Sequence

import numpy as np
import torch
from torch import nn

from neuro.errors import ConfigError
from neuro.rules import ff as ffr

# ---------------------------------------------------------------------------------------------
# simulated physical layers (black boxes: numpy in, numpy out, no gradient)


class WaveMixing:
    """A fixed random nonlinear wave-mixing transform: the input sets the amplitudes of ``n`` modes,
    a fixed random complex scattering matrix ``U [n, n]`` mixes them, and a square-law detector
    measures intensities, ``y = |U (x + bias)|**2 / n`` (bias: a fixed random offset field, so the
    response is not even in ``x``). Deterministic; numpy only."""

    def __init__(self, n: int, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.n = n
        self.u = ((rng.standard_normal((n, n)) + 1j * rng.standard_normal((n, n))) / np.sqrt(2 * n)).astype(np.complex64)
        self.bias = (0.5 * rng.standard_normal(n)).astype(np.float32)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        field = (np.asarray(x, np.float32) + self.bias) @ self.u.T
        return (np.abs(field) ** 2).astype(np.float32)


class SaturableNoisy:
    """A saturable, noisy element per channel: ``y = g*x / (1 + |g*x| / sat) + noise``, ``g`` a fixed
    random per-channel gain in [0.5, 1.5] and Gaussian read-out noise of std ``noise`` drawn fresh on
    every call (a measurement, so two calls with the same input differ)."""

    def __init__(self, n: int, sat: float = 1.0, noise: float = 0.01, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.n, self.sat, self.noise = n, sat, noise
        self.gain = rng.uniform(0.5, 1.5, n).astype(np.float32)
        self._rng = np.random.default_rng(seed + 1)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        z = np.asarray(x, np.float32) * self.gain
        y = z / (1.0 + np.abs(z) / self.sat)
        if self.noise > 0:
            y = y + self.noise * self._rng.standard_normal(y.shape).astype(np.float32)
        return y.astype(np.float32)


PHYSICAL = {"wave_mixing": lambda n, seed, noise: WaveMixing(n, seed),
            "saturable": lambda n, seed, noise: SaturableNoisy(n, noise=noise, seed=seed)}


def measure(phys: Callable[[np.ndarray], np.ndarray], x: torch.Tensor) -> torch.Tensor:
    """Send ``x`` through a black box and read its output back: numpy in, numpy out, so no autograd
    graph can exist across it."""
    y = phys(x.detach().cpu().numpy())
    return torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32)).to(x.device)


# ---------------------------------------------------------------------------------------------


class FFNet(nn.Module):
    """ReLU forward-forward network.

    in_features: input width (the label adds ``n_classes`` when ``supervised``). hidden: layer widths.
    params: the FF loss (``FFParams``). supervised: embed labels in the input. label_scale: one-hot value.
    readout_from: first layer whose activities feed goodness inference and the readout (Hinton skips
    layer 0 when there are several). physical: optional black boxes, one per layer (None = none).
    """

    def __init__(self, in_features: int, hidden: Sequence[int], n_classes: int, params: ffr.FFParams, *,
                 supervised: bool = True, label_scale: float = 1.0, readout_from: int = 1,
                 physical: Sequence[Callable | None] | None = None) -> None:
        super().__init__()
        if not hidden:
            raise ConfigError("FFNet hidden=[] is empty; allowed: at least one layer width, e.g. [500, 500].")
        self.p, self.n_classes, self.supervised, self.label_scale = params, n_classes, supervised, label_scale
        self.physical = list(physical) if physical is not None else [None] * len(hidden)
        if len(self.physical) != len(hidden):
            raise ConfigError(f"{len(self.physical)} physical layers for {len(hidden)} digital layers; allowed: one "
                              "per digital layer (use None for none).")
        widths = [in_features + (n_classes if supervised else 0), *hidden]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))
        for i, n in enumerate(hidden):
            self.register_buffer(f"mean_activity_{i}", torch.zeros(n))
        self.readout_from = min(readout_from, len(hidden) - 1)
        self.readout = nn.Linear(sum(hidden[self.readout_from:]), n_classes)

    # -- forward, layer by layer, detached at every boundary --------------------------------------
    def prepare_input(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        """Raw images ``[B, F]`` (+ label ``y``, None = neutral) -> the first layer's input."""
        return ffr.embed_label(x, y, self.n_classes, self.label_scale) if self.supervised else x

    def layer_input(self, i: int, a: torch.Tensor) -> torch.Tensor:
        """What layer ``i`` sees from ``a`` (the raw input for i = 0, else layer i-1's activity):
        normalised, through the black box when there is one, and detached."""
        a = ffr.normalize(a.detach(), self.p.eps)
        if self.physical[i] is not None:
            a = ffr.normalize(measure(self.physical[i], a), self.p.eps)
        return a.detach()

    def activation(self, i: int, z: torch.Tensor) -> torch.Tensor:
        """Layer ``i``'s activity from its pre-activation ``z = layers[i](input)``."""
        return torch.relu(z)

    def layer_output(self, i: int, xin: torch.Tensor) -> torch.Tensor:
        return self.activation(i, self.layers[i](xin))

    @torch.no_grad()
    def activities(self, x0: torch.Tensor) -> list[torch.Tensor]:
        """Activities ``h_l [B, N_l]`` of every layer for first-layer input ``x0``."""
        hs, a = [], x0
        for i in range(len(self.layers)):
            a = self.layer_output(i, self.layer_input(i, a))
            hs.append(a)
        return hs

    def state(self, i: int) -> ffr.FFState:
        return ffr.FFState(getattr(self, f"mean_activity_{i}"))

    def set_state(self, i: int, st: ffr.FFState) -> None:
        getattr(self, f"mean_activity_{i}").copy_(torch.as_tensor(st[0]))

    # -- one FF training step on a batch: each layer from its own inputs only ----------------------
    def ff_step(self, x_pos: torch.Tensor, x_neg: torch.Tensor, backend: str = "torch") -> list[dict]:
        """Set ``.grad`` of every layer's weight and bias from its local FF loss (the caller steps the
        optimizer). ``backend``: ``"torch"`` (closed form), ``"autograd"`` (autograd confined to the
        layer) or ``"numba"`` (``kernels.ff``). Returns per-layer ``{loss, g_pos, g_neg}`` means."""
        stats, a_pos, a_neg = [], x_pos, x_neg
        for i, layer in enumerate(self.layers):
            xp, xn = self.layer_input(i, a_pos), self.layer_input(i, a_neg)
            dw, db, st, loss, gp, gn = layer_grad(backend, xp, xn, layer.weight.detach(), layer.bias.detach(),
                                                  self.state(i), self.p)
            layer.weight.grad = torch.as_tensor(dw, device=layer.weight.device).to(layer.weight.dtype)
            layer.bias.grad = torch.as_tensor(db, device=layer.bias.device).to(layer.bias.dtype)
            self.set_state(i, st)
            stats.append({"loss": float(loss), "g_pos": float(torch.as_tensor(gp).mean()),
                          "g_neg": float(torch.as_tensor(gn).mean())})
            with torch.no_grad():
                a_pos, a_neg = self.layer_output(i, xp), self.layer_output(i, xn)
        return stats

    # -- inference ---------------------------------------------------------------------------------
    @torch.no_grad()
    def goodness_per_label(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C]``: goodness summed over layers ``readout_from..`` with each label embedded."""
        if not self.supervised:
            raise ConfigError("goodness inference needs a supervised FF net (labels in the input); "
                              "use the linear readout (predict(..., by='readout')).")
        B, C = x.shape[0], self.n_classes
        if self.physical[0] is not None:  # black box before layer 0: one full pass per label
            cols = []
            for c in range(C):
                y = torch.full((B,), c, dtype=torch.long, device=x.device)
                hs = self.activities(self.prepare_input(x, y))
                cols.append(sum(ffr.goodness(h, self.p) for h in hs[self.readout_from:]))
            return torch.stack(cols, 1)
        a = self.activation(0, self.first_layer_all_labels(x)).reshape(C * B, -1)
        g = ffr.goodness(a, self.p) if self.readout_from == 0 else 0.0
        for i in range(1, len(self.layers)):
            a = self.layer_output(i, self.layer_input(i, a))
            if i >= self.readout_from:
                g = g + ffr.goodness(a, self.p)
        return g.reshape(C, B).T

    @torch.no_grad()
    def first_layer_all_labels(self, x: torch.Tensor) -> torch.Tensor:
        """Layer 0's pre-activation ``z [C, B, N_0]`` for images ``x [B, F]`` with every label embedded
        (``z[c] = layers[0](layer_input(0, prepare_input(x, c)))``). The one-hot adds
        ``label_scale**2`` to every row's squared length whatever the label, so the normaliser is
        shared by all labels and the image part of the product is computed once (10x fewer
        first-layer multiplications than one pass per label; same values up to rounding)."""
        C, F0 = self.n_classes, x.shape[1]
        w, b = self.layers[0].weight, self.layers[0].bias
        rms = ((x.pow(2).sum(1, keepdim=True) + self.label_scale ** 2) / (F0 + C)).sqrt()
        inv = 1.0 / (rms + self.p.eps)
        z_img = (x * inv) @ w[:, :F0].T + b  # [B, N]
        return z_img.unsqueeze(0) + (self.label_scale * inv).unsqueeze(0) * w[:, F0:].T.unsqueeze(1)

    @torch.no_grad()
    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised activities of layers ``readout_from..`` (neutral label), concatenated: the
        readout's input."""
        hs = self.activities(self.prepare_input(x, None))
        return torch.cat([ffr.normalize(h, self.p.eps) for h in hs[self.readout_from:]], 1)

    @torch.no_grad()
    def predict(self, x: torch.Tensor, by: Literal["goodness", "readout"] = "goodness") -> torch.Tensor:
        if by == "goodness":
            return self.goodness_per_label(x).argmax(1)
        return self.readout(self.features(x)).argmax(1)


def layer_grad(backend: str, xp, xn, w, b, state, p):
    """Dispatch one layer's FF gradient to a backend (closed-form torch, autograd-in-layer, Numba)."""
    if backend == "torch":
        return ffr.ff_layer_grad(xp, xn, w, b, state, p)
    if backend == "autograd":
        return ffr.ff_layer_grad_autograd(xp, xn, w, b, state, p)
    if backend == "numba":
        from neuro.registry import get

        dw, db, st, loss, gp, gn = get("ff", "numba")(xp.cpu().numpy(), xn.cpu().numpy(), w.cpu().numpy(),
                                                      b.cpu().numpy(), (state[0].cpu().numpy(),), p)
        return torch.from_numpy(dw), torch.from_numpy(db), ffr.FFState(torch.from_numpy(st[0])), loss, \
            torch.from_numpy(gp), torch.from_numpy(gn)
    raise ConfigError(f"ff backend={backend!r} is not supported; allowed: torch, autograd, numba.")


# ---------------------------------------------------------------------------------------------
# spiking FF


class SpikingFFNet(FFNet):
    """FF with LIF layers. Layer ``l`` drives ``T`` steps of LIF neurons with the constant current
    ``Linear_l(x)``; its activity is the spike rate ``[B, N]`` (mean over time), and its goodness is
    computed from the rates (``spike_goodness = "rate"``) or from the positive membrane potential
    (``"membrane"``: ``mean_t relu(v)``). The next layer sees the normalised, detached rates.
    Training: surrogate-gradient BPTT through the ``T`` steps of one layer only."""

    def __init__(self, in_features: int, hidden: Sequence[int], n_classes: int, params: ffr.FFParams,
                 lif, num_steps: int, *, spike_goodness: str = "rate", **kw) -> None:
        super().__init__(in_features, hidden, n_classes, params, **kw)
        self.lif, self.num_steps, self.spike_goodness = lif, num_steps, spike_goodness

    def _run(self, i: int, xin: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self._run_current(self.layers[i](xin))

    def _run_current(self, cur: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """LIF for ``num_steps`` steps under the constant current ``cur [..., N]``: (rate, goodness activity)."""
        from neuro.neurons.lif import lif_multistep

        spk, mem, _ = lif_multistep(cur.unsqueeze(0).expand(self.num_steps, *cur.shape), self.lif)
        act = spk.mean(0) if self.spike_goodness == "rate" else torch.relu(mem).mean(0)
        return spk.mean(0), act

    def activation(self, i: int, z: torch.Tensor) -> torch.Tensor:
        return self._run_current(z)[0]

    @torch.no_grad()
    def goodness_per_label(self, x: torch.Tensor) -> torch.Tensor:
        B, C = x.shape[0], self.n_classes
        rate, act = self._run_current(self.first_layer_all_labels(x).reshape(C * B, -1))
        g = ffr.goodness(act, self.p) if self.readout_from == 0 else 0.0
        for i in range(1, len(self.layers)):
            rate, act = self._run(i, self.layer_input(i, rate))
            if i >= self.readout_from:
                g = g + ffr.goodness(act, self.p)
        return g.reshape(C, B).T

    def ff_step(self, x_pos: torch.Tensor, x_neg: torch.Tensor, backend: str = "autograd") -> list[dict]:
        stats, a_pos, a_neg = [], x_pos, x_neg
        for i, layer in enumerate(self.layers):
            xp, xn = self.layer_input(i, a_pos), self.layer_input(i, a_neg)
            layer.zero_grad(set_to_none=True)
            with torch.enable_grad():
                rp, ap = self._run(i, xp)
                rn, an = self._run(i, xn)
                gp, gn = ffr.goodness(ap, self.p), ffr.goodness(an, self.p)
                loss = ffr.ff_loss(gp, gn, self.p.theta)
                m = self.p.momentum * self.state(i).mean_activity + (1 - self.p.momentum) * ap.mean(0)
                if self.p.peer > 0:
                    loss = loss + self.p.peer * (m - m.mean()).pow(2).mean()
                loss.backward()
            self.set_state(i, ffr.FFState(m.detach()))
            stats.append({"loss": float(loss.detach()), "g_pos": float(gp.detach().mean()),
                          "g_neg": float(gn.detach().mean())})
            a_pos, a_neg = rp.detach(), rn.detach()
        return stats
