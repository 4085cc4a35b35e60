"""NIR (Neuromorphic Intermediate Representation) export and import for our spiking networks.

NIR (PyPI ``nir``) describes a network as a graph of continuous-time primitives; snnTorch, Norse,
SpikingJelly, Sinabs, Rockpool and several chips read and write it. This module turns a
``SpikingMLP`` or ``SpikingConvNet`` into a ``nir.NIRGraph`` (and an ``.nir`` HDF5 file) and a NIR
graph back into one of our models, which then runs on either backend (torch or numba).

Discrete <-> continuous mapping (documented once, used both ways)
-----------------------------------------------------------------
NIR's LIF is ``tau * dv/dt = (v_leak - v) + r * I``, spike when ``v > v_threshold``, then
``v := v_reset``. One forward-Euler step of length ``dt`` gives::

    v[t] = (1 - dt/tau) * v[t-1] + (dt/tau) * v_leak + (r * dt/tau) * I[t]

Our LIF (``neuro.neurons.lif``) is ``v[t] = beta * v[t-1] + I[t]``, so with ``v_leak = 0``::

    beta = 1 - dt/tau        tau = dt / (1 - beta)        r = tau / dt  (input gain r*dt/tau = 1)

This is the convention snnTorch's own NIR export and import use (with ``dt = 1e-4`` s hard-coded in
its importer, hence our default ``DEFAULT_DT``) and the one Norse's importer uses for ``1/tau``
(Norse ignores ``r``: see ``fold_gain``). It is *not* ``beta = exp(-dt/tau)`` of
``LIFParams.from_tau`` (the exact decay of the ODE without input): both agree to first order in
``dt/tau``, and only the Euler form reproduces the discrete update exactly, so a NIR ``tau`` is
not the ``tau_mem_ms`` one would pass to ``from_tau``. ``IF`` (no leak) is ``beta = 1``.

Exactness: ``tau`` and ``r`` are stored as float32 and ``tau`` is picked among the float32
neighbours of ``dt / (1 - beta)`` so that ``float32(1 - dt/tau)`` -- what snnTorch's importer and
ours compute -- is nearest our float32 ``beta``: equal for about 98% of betas in [0.5, 1) (every
usual value, 0.5 / 0.8 / 0.9 / 0.95 / 0.99 included; tested), one float32 ulp off otherwise. Our
own LIF nodes also carry ``metadata["neuroforge.beta"]`` (the config's beta), so ours -> NIR ->
ours restores beta exactly in every case. With beta exact, imported networks give the source's
spikes and membranes bit for bit (snnTorch: tested); Norse rounds its Euler step differently
(membranes within 2e-6 in the tests, spikes equal).

What NIR cannot say
-------------------
- Reset by subtraction: NIR's LIF resets to ``v_reset`` (our ``reset = "zero"``). A model with
  ``reset = "subtract"`` is exported with ``metadata["neuroforge.reset"] = "subtract"`` on its LIF
  nodes; our importer restores it exactly, other tools apply NIR's reset-to-``v_reset``.
- Our max-pooling of spikes is exported as ``SumPool2d`` followed by ``Threshold(0.5)``: for 0/1
  spikes, "any spike in the window" is exactly "window sum > 0.5".
- Readout, refractory steps, surrogate gradient, input encoding, and any plasticity or astrocyte
  state (no NIR primitive exists for them) travel in a side-car JSON file next to the graph,
  ``NAME.neuroforge.json`` (``sidecar_path``). Our importer reads it when present.
- ALIF (adaptive threshold) has no NIR primitive: exporting it is a ConfigError.

Import accepts a chain ``Input -> [Flatten] -> (Affine|Linear -> LIF|IF)+ -> Output`` (a
``SpikingMLP``) or our conv layout ``Input -> Conv2d -> LIF -> SumPool2d -> Threshold -> Conv2d ->
LIF -> SumPool2d -> Threshold -> Flatten -> Affine -> LIF -> Output`` (a ``SpikingConvNet``). Our
models share one neuron parameter set across layers: every neuron node must have the same
``beta``; per-layer input gains ``r*dt/tau`` and thresholds are folded into that layer's weights
(exact in real arithmetic, float32 rounding otherwise; none happens when they already agree).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from neuro.errors import ConfigError, DataError
from neuro.io import atomic_path, write_json

#: Time step (seconds) of the Euler mapping; snnTorch's NIR importer hard-codes this value.
DEFAULT_DT = 1e-4
#: NIR primitives the importer understands (anything else is an error naming the node).
SUPPORTED_NODES = ("Input", "Output", "Affine", "Linear", "LIF", "IF", "Flatten", "Conv2d", "SumPool2d",
                   "Threshold")
SIDECAR_SUFFIX = ".neuroforge.json"
SIDECAR_FORMAT = 1
RESET_KEY = "neuroforge.reset"
BETA_KEY = "neuroforge.beta"


def _nir():
    try:
        import nir
    except ImportError as e:  # pragma: no cover - nir is a declared dependency
        raise ConfigError("NIR support needs the `nir` package: pip install -c constraints.txt nir") from e
    return nir


# ---------------------------------------------------------------------------------------------
# the mapping


def tau_from_beta(beta: float, dt: float = DEFAULT_DT) -> np.float32:
    """float32 ``tau ~ dt/(1-beta)`` for which ``float32(1 - dt/tau)`` is nearest ``float32(beta)``:
    equal for about 98% of betas in [0.5, 1) (0.8, 0.9, 0.95, 0.99 included), one float32 ulp off
    otherwise (not every float32 is ``1 - q`` of a reachable quotient). ConfigError for ``beta``
    outside [0, 1) (``beta = 1`` is an ``IF`` neuron, which has no tau)."""
    if not 0.0 <= beta < 1.0:
        raise ConfigError(f"beta={beta!r} has no NIR LIF time constant; allowed: [0, 1) (beta = 1 is exported "
                          "as an IF neuron).")
    _check_dt(dt)
    b32 = np.float32(beta)
    guess = np.float32(dt / (1.0 - float(b32)))
    cands = [guess]
    lo = hi = guess
    for _ in range(32):
        lo, hi = np.nextafter(lo, np.float32(0)), np.nextafter(hi, np.float32(np.inf))
        cands += [lo, hi]
    cands = [t for t in cands if t > 0]
    errs = [abs(float(beta_from_tau(t, dt)) - float(b32)) for t in cands]
    return cands[int(np.argmin(errs))]  # exact for ~98% of betas in [0.5, 1); else one float32 ulp off


def beta_from_tau(tau, dt: float = DEFAULT_DT) -> np.ndarray:
    """``float32(1 - dt/tau)`` elementwise, in float32 as snnTorch's importer computes it."""
    tau = np.asarray(tau, dtype=np.float32)
    return np.float32(1.0) - np.float32(dt) / tau


def _check_dt(dt: float) -> None:
    if isinstance(dt, bool) or not isinstance(dt, (int, float)) or not math.isfinite(dt) or dt <= 0:
        raise ConfigError(f"dt={dt!r} is not a time step; allowed: a positive number of seconds "
                          f"(default {DEFAULT_DT}).")


# ---------------------------------------------------------------------------------------------
# export


def _f32(t) -> np.ndarray:
    return np.ascontiguousarray(t.detach().cpu().numpy() if torch.is_tensor(t) else t, dtype=np.float32)


def _neuron_node(p, n, dt: float):
    """NIR node for ``n`` neurons (an int or a shape tuple) with LIFParams ``p``."""
    nir = _nir()
    from neuro.neurons.lif import LIFParams

    if not isinstance(p, LIFParams):
        raise ConfigError(f"neuron parameters {type(p).__name__} have no NIR primitive; allowed: LIFParams "
                          "(neuron = \"lif\"). ALIF's adaptive threshold cannot be expressed in NIR 1.0.")
    shape = (n,) if isinstance(n, int) else tuple(n)
    vth = np.full(shape, p.v_th, np.float32)
    meta = {RESET_KEY: p.reset} if p.reset == "subtract" else {}
    if np.float32(p.beta) == np.float32(1.0):
        return nir.IF(r=np.ones(shape, np.float32), v_threshold=vth, v_reset=np.zeros(shape, np.float32),
                      metadata=meta)
    tau = tau_from_beta(p.beta, dt)
    meta[BETA_KEY] = float(p.beta)  # our importer restores the config's beta exactly (tau holds it to float32)
    return nir.LIF(tau=np.full(shape, tau, np.float32), r=np.full(shape, np.float32(tau / np.float32(dt)), np.float32),
                   v_leak=np.zeros(shape, np.float32), v_threshold=vth, v_reset=np.zeros(shape, np.float32),
                   metadata=meta)


def to_nir(model: torch.nn.Module, dt: float = DEFAULT_DT):
    """``nir.NIRGraph`` of a ``SpikingMLP`` or ``SpikingConvNet`` (see the module docstring)."""
    nir = _nir()
    from neuro.models.conv import SpikingConvNet
    from neuro.models.mlp import SpikingMLP

    _check_dt(dt)
    nodes: dict[str, Any] = {}
    order: list[str] = []

    def add(name, node):
        nodes[name] = node
        order.append(name)

    if isinstance(model, SpikingMLP):
        p = model.config.params
        add("input", nir.Input(input_type={"input": np.array([model.config.sizes[0]])}))
        for i, layer in enumerate(model.layers):
            add(f"fc{i}", nir.Affine(weight=_f32(layer.weight), bias=_f32(layer.bias)))
            add(f"lif{i}", _neuron_node(p, layer.out_features, dt))
        add("output", nir.Output(output_type={"output": np.array([model.config.sizes[-1]])}))
    elif isinstance(model, SpikingConvNet):
        c = model.config
        p, q = c.params, c.pool
        add("input", nir.Input(input_type={"input": np.array(c.in_shape)}))
        shapes = c.feature_shapes
        hw = c.in_shape[1:]
        for i, conv in enumerate((model.conv1, model.conv2)):
            add(f"conv{i}", nir.Conv2d(input_shape=tuple(int(s) for s in hw), weight=_f32(conv.weight),
                                       stride=(1, 1), padding=(c.pad, c.pad), dilation=(1, 1), groups=1,
                                       bias=_f32(conv.bias)))
            add(f"lif{i}", _neuron_node(p, shapes[2 * i], dt))
            add(f"pool{i}", nir.SumPool2d(kernel_size=np.array([q, q]), stride=np.array([q, q]),
                                          padding=np.array([0, 0])))
            add(f"spike_or{i}", nir.Threshold(threshold=np.full(shapes[2 * i + 1], 0.5, np.float32)))
            hw = shapes[2 * i + 1][1:]
        add("flatten", nir.Flatten(input_type={"input": np.array(shapes[-1])}, start_dim=0, end_dim=-1))
        add("fc", nir.Affine(weight=_f32(model.fc.weight), bias=_f32(model.fc.bias)))
        add("lif2", _neuron_node(p, c.n_classes, dt))
        add("output", nir.Output(output_type={"output": np.array([c.n_classes])}))
    else:
        raise ConfigError(f"cannot export a {type(model).__name__} to NIR; allowed: SpikingMLP, SpikingConvNet "
                          "(model.kind = \"spiking_mlp\" or \"spiking_conv\").")
    edges = list(zip(order[:-1], order[1:]))
    graph = nir.NIRGraph(nodes=nodes, edges=edges, metadata={"source": "neuroforge", "dt": float(dt)})
    return graph


def sidecar_path(nir_path: str | Path) -> Path:
    """``runs/x/model.nir`` -> ``runs/x/model.neuroforge.json``."""
    p = Path(nir_path)
    return p.with_name(p.stem + SIDECAR_SUFFIX)


def sidecar_dict(model: torch.nn.Module, dt: float = DEFAULT_DT, data: dict | None = None) -> dict:
    """What NIR cannot hold: readout, neuron extras, encoding, plasticity/astrocyte state."""
    p = model.config.params
    return {"format": SIDECAR_FORMAT, "dt": float(dt), "model_kind": "spiking_conv" if hasattr(model, "conv1")
            else "spiking_mlp", "readout": model.config.readout, "neuron": model.config.neuron,
            "reset": p.reset, "refractory_steps": p.refractory_steps, "surrogate": p.surrogate,
            "surrogate_slope": p.surrogate_slope, "data": dict(data or {}),
            # no NIR primitive exists for these; our spiking MLP/conv nets carry none
            "plasticity": None, "astrocyte": None}


def export_nir(model: torch.nn.Module, path: str | Path, dt: float = DEFAULT_DT, data: dict | None = None):
    """Write ``model`` to ``path`` (``.nir``, HDF5) and its side-car JSON; returns the graph.
    ``data``: optional encoding facts (dataset, encoding, num_steps, gain) for the side-car."""
    nir = _nir()
    graph = to_nir(model, dt)
    path = Path(path)
    with atomic_path(path) as tmp:
        nir.write(str(tmp), graph)
    write_json(sidecar_path(path), sidecar_dict(model, dt, data))
    return graph


# ---------------------------------------------------------------------------------------------
# import


@dataclass
class ImportedNetwork:
    """The result of ``from_nir``: ``model`` (SpikingMLP or SpikingConvNet, eval mode, CPU),
    ``kind`` (``"spiking_mlp"`` / ``"spiking_conv"``), ``dt`` used, ``sidecar`` (dict, may be
    empty) and ``notes`` (what was folded or rescaled, for the user)."""

    model: torch.nn.Module
    kind: str
    dt: float
    sidecar: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def read_nir(path: str | Path):
    """``nir.read`` with a DataError naming the file when it is missing or not a NIR file."""
    nir = _nir()
    p = Path(path)
    if not p.is_file():
        raise DataError(f"NIR file {str(p)!r} does not exist; allowed: an .nir (HDF5) file written by nir.write, "
                        "e.g. by `neuro export RUN --format nir` or snnTorch/Norse.")
    try:
        return nir.read(str(p))
    except Exception as e:  # h5py/nir raise many types for a bad file
        raise DataError(f"{str(p)!r} is not a readable NIR file ({type(e).__name__}: {e}); allowed: an .nir "
                        "HDF5 file written by nir.write.") from None


def read_sidecar(nir_path: str | Path) -> dict:
    """The side-car dict next to ``nir_path`` (empty when there is none)."""
    p = sidecar_path(nir_path)
    if not p.is_file():
        return {}
    try:
        d = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DataError(f"side-car {str(p)!r} is not valid JSON ({e}); delete it or re-export the model.") from None
    if not isinstance(d, dict) or d.get("format") != SIDECAR_FORMAT:
        raise DataError(f"side-car {str(p)!r} has format {d.get('format') if isinstance(d, dict) else None!r}; "
                        f"allowed: {SIDECAR_FORMAT}. Re-export the model with this version.")
    return d


def _chain(graph) -> list[str]:
    """Node names from the single Input to the single Output; ConfigError on anything else."""
    nir = _nir()
    for name, node in graph.nodes.items():
        kind = type(node).__name__
        if kind not in SUPPORTED_NODES:
            why = " (a subgraph: recurrent layers are not supported)" if isinstance(node, nir.NIRGraph) else ""
            raise ConfigError(f"NIR node {name!r} is a {kind}{why}; supported primitives: "
                              f"{', '.join(SUPPORTED_NODES)}.")
    inputs = [k for k, n in graph.nodes.items() if isinstance(n, nir.Input)]
    if len(inputs) != 1:
        raise ConfigError(f"the NIR graph has {len(inputs)} Input nodes ({inputs}); allowed: exactly 1.")
    succ: dict[str, list[str]] = {}
    pred: dict[str, list[str]] = {}
    for a, b in graph.edges:
        succ.setdefault(a, []).append(b)
        pred.setdefault(b, []).append(a)
    order, cur = [inputs[0]], inputs[0]
    while not isinstance(graph.nodes[cur], nir.Output):
        nxt = succ.get(cur, [])
        if len(nxt) != 1 or len(pred.get(nxt[0], [])) != 1:
            raise ConfigError(f"NIR node {cur!r} has successors {nxt} (predecessors of those: "
                              f"{[pred.get(n, []) for n in nxt]}); allowed: a feed-forward chain, each node with "
                              "one successor and one predecessor (no branches, skips or recurrence).")
        cur = nxt[0]
        if cur in order:
            raise ConfigError(f"NIR node {cur!r} closes a cycle; allowed: a feed-forward chain (no recurrence).")
        order.append(cur)
    if len(order) != len(graph.nodes):
        rest = sorted(set(graph.nodes) - set(order))
        raise ConfigError(f"NIR nodes {rest} are not on the Input -> Output chain; allowed: one feed-forward chain.")
    return order


def _uniform(name: str, field_: str, a) -> float:
    a = np.asarray(a, dtype=np.float64)
    if a.size == 0:
        raise ConfigError(f"NIR node {name!r} has an empty {field_}; allowed: one value per neuron.")
    if not np.all(a == a.flat[0]):
        raise ConfigError(f"NIR node {name!r} has {field_} varying across neurons ({a.min()}..{a.max()}); allowed: "
                          "one value for the whole layer (our LIF layers share their parameters).")
    return float(a.flat[0])


@dataclass
class _Neuron:
    name: str
    beta: float
    v_th: float
    gain: float  # input gain r*dt/tau (1 for our own exports)
    reset: str
    size: int


def _neuron(name: str, node, dt: float) -> _Neuron:
    nir = _nir()
    raw = dict(node.metadata or {})
    meta = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in raw.items()}
    reset = str(meta.get(RESET_KEY, "zero"))
    if reset not in ("zero", "subtract"):
        raise ConfigError(f"NIR node {name!r} has metadata {RESET_KEY}={reset!r}; allowed: zero, subtract.")
    v_th = _uniform(name, "v_threshold", node.v_threshold)
    if v_th <= 0:
        raise ConfigError(f"NIR node {name!r} has v_threshold={v_th}; allowed: > 0.")
    v_reset = _uniform(name, "v_reset", node.v_reset) if node.v_reset is not None else 0.0
    if v_reset != 0.0:
        raise ConfigError(f"NIR node {name!r} has v_reset={v_reset}; allowed: 0 (our LIF resets to zero or by "
                          "subtraction).")
    size = int(np.asarray(node.v_threshold).size)
    if isinstance(node, nir.IF):
        return _Neuron(name, 1.0, v_th, _uniform(name, "r", node.r), reset, size)
    v_leak = _uniform(name, "v_leak", node.v_leak)
    if v_leak != 0.0:
        raise ConfigError(f"NIR node {name!r} has v_leak={v_leak}; allowed: 0 (our LIF leaks towards zero).")
    tau = _uniform(name, "tau", np.asarray(node.tau, np.float32))
    if tau <= 0:
        raise ConfigError(f"NIR node {name!r} has tau={tau}; allowed: > 0.")
    beta = float(beta_from_tau(np.float32(tau), dt))
    exact = meta.get(BETA_KEY)
    if exact is not None and abs(float(exact) - beta) <= 2 * float(np.spacing(np.float32(1))):
        beta = float(exact)  # our own export: the source config's beta, not only its float32
    if not 0.0 <= beta <= 1.0:
        raise ConfigError(f"NIR node {name!r} has tau={tau} s, so beta = 1 - dt/tau = {float(beta)} with dt={dt} s; "
                          f"allowed: tau >= dt. Pass the time step the graph was made for (--dt).")
    r = _uniform(name, "r", np.asarray(node.r, np.float32))
    gain = float(np.float32(r) * np.float32(dt) / np.float32(tau))
    if abs(gain - 1.0) < 1e-6:  # r = tau/dt up to float32 rounding: no input scaling at all
        gain = 1.0
    return _Neuron(name, beta, v_th, gain, reset, size)


def from_nir(source, dt: float | None = None, sidecar: dict | None = None) -> ImportedNetwork:
    """Our model from a ``nir.NIRGraph`` or an ``.nir`` path (reading its side-car when present).

    ``dt``: the time step of the mapping (default: the graph's ``metadata["dt"]``, else the
    side-car's, else ``DEFAULT_DT``). ``sidecar``: overrides the side-car file."""
    nir = _nir()
    if isinstance(source, (str, Path)):
        graph = read_nir(source)
        sidecar = read_sidecar(source) if sidecar is None else sidecar
    else:
        graph = source
    sidecar = dict(sidecar or {})
    if dt is None:
        meta_dt = (graph.metadata or {}).get("dt") if isinstance(graph.metadata, dict) else None
        dt = float(meta_dt) if meta_dt is not None else float(sidecar.get("dt", DEFAULT_DT))
    _check_dt(dt)
    order = _chain(graph)
    nodes = [(k, graph.nodes[k]) for k in order[1:-1]]
    kinds = [type(n).__name__ for _, n in nodes]
    notes: list[str] = []
    if "Conv2d" in kinds:
        return _import_conv(graph, order, nodes, dt, sidecar, notes)
    # MLP: [Flatten]* then (Affine|Linear, LIF|IF)+
    while nodes and isinstance(nodes[0][1], nir.Flatten):
        nodes = nodes[1:]
    layers = []
    for i in range(0, len(nodes), 2):
        pair = nodes[i:i + 2]
        if len(pair) != 2 or not isinstance(pair[0][1], (nir.Affine, nir.Linear)) \
                or not isinstance(pair[1][1], (nir.LIF, nir.IF)):
            got = " -> ".join(f"{k} ({type(n).__name__})" for k, n in pair)
            raise ConfigError(f"NIR nodes {got} do not form a layer; allowed: a chain Input -> [Flatten] -> "
                              "(Affine|Linear -> LIF|IF)+ -> Output, or our conv layout (see neuro.interop.nir).")
        (wn, w), (nn_, n) = pair
        layers.append((wn, w, _neuron(nn_, n, dt)))
    if not layers:
        raise ConfigError("the NIR graph has no Affine/Linear -> LIF layer; allowed: at least one.")
    neurons = [ln for _, _, ln in layers]
    ref = _check_shared(neurons)
    weights = []
    for wn, w, ln in layers:
        W = np.asarray(w.weight, np.float32)
        b = np.asarray(w.bias, np.float32) if isinstance(w, nir.Affine) else np.zeros(W.shape[0], np.float32)
        if W.ndim != 2 or W.shape[0] != ln.size or b.shape != (W.shape[0],):
            raise ConfigError(f"NIR node {wn!r} has weight {W.shape} and bias {b.shape} feeding {ln.size} neurons of "
                              f"{ln.name!r}; allowed: weight [{ln.size}, n_in] and bias [{ln.size}].")
        weights.append(_scale(wn, W, b, ln, ref, notes))
    sizes = [weights[0][0].shape[1]] + [W.shape[0] for W, _ in weights]
    for i, (W, _) in enumerate(weights[1:], 1):
        if W.shape[1] != sizes[i]:
            raise ConfigError(f"NIR node {layers[i][0]!r} takes {W.shape[1]} inputs but the layer before has "
                              f"{sizes[i]} neurons; allowed: matching sizes.")
    from neuro.models.mlp import SpikingMLP, SpikingMLPConfig

    params = _params(ref, sidecar)
    readout = sidecar.get("readout", "membrane_mean")
    model = SpikingMLP(SpikingMLPConfig(sizes=tuple(sizes), lif=params, readout=readout))
    with torch.no_grad():
        for layer, (W, b) in zip(model.layers, weights):
            layer.weight.copy_(torch.from_numpy(W))
            layer.bias.copy_(torch.from_numpy(b))
    model.eval()
    return ImportedNetwork(model, "spiking_mlp", dt, sidecar, notes)


def _check_shared(neurons: list[_Neuron]) -> _Neuron:
    ref = neurons[0]
    for n in neurons[1:]:
        if n.beta != ref.beta:
            raise ConfigError(f"NIR node {n.name!r} has beta={float(n.beta)} but {ref.name!r} has "
                              f"{float(ref.beta)}; allowed: one beta (one tau at the same dt) for every neuron "
                              "layer, as our models share one neuron parameter set.")
        if n.reset != ref.reset:
            raise ConfigError(f"NIR node {n.name!r} resets by {n.reset} but {ref.name!r} by {ref.reset}; allowed: "
                              "one reset mode for every layer.")
    return ref


def _scale(wn: str, W: np.ndarray, b: np.ndarray, ln: _Neuron, ref: _Neuron, notes: list[str]):
    """Fold the input gain and the threshold ratio into the layer's weights (identity when 1)."""
    k = ln.gain * (ref.v_th / ln.v_th)
    if k <= 0 or not math.isfinite(k):
        raise ConfigError(f"NIR node {ln.name!r} has an input gain r*dt/tau={ln.gain}; allowed: > 0.")
    if k == 1.0:
        return W, b
    notes.append(f"{wn}: weights and bias scaled by {k:.6g} (input gain {ln.gain:.6g}, threshold "
                 f"{ln.v_th:.6g} -> {ref.v_th:.6g})")
    return (W.astype(np.float64) * k).astype(np.float32), (b.astype(np.float64) * k).astype(np.float32)


def _params(ref: _Neuron, sidecar: dict):
    from neuro.neurons.lif import LIFParams

    extra = {k: sidecar[k] for k in ("refractory_steps", "surrogate", "surrogate_slope") if sidecar.get(k) is not None}
    return LIFParams(beta=float(ref.beta), v_th=float(np.float32(ref.v_th)), reset=ref.reset, **extra)


def _import_conv(graph, order, nodes, dt, sidecar, notes) -> ImportedNetwork:
    nir = _nir()
    want = ["Conv2d", "LIF|IF", "SumPool2d", "Threshold", "Conv2d", "LIF|IF", "SumPool2d", "Threshold", "Flatten",
            "Affine|Linear", "LIF|IF"]
    kinds = [type(n).__name__ for _, n in nodes]
    if len(kinds) != len(want) or any(k not in w.split("|") for k, w in zip(kinds, want)):
        raise ConfigError(f"NIR conv graph {' -> '.join(kinds)} is not our conv layout; allowed: "
                          f"{' -> '.join(want)} (neuro.models.conv.SpikingConvNet).")
    in_shape = tuple(int(s) for s in np.asarray(graph.nodes[order[0]].input_type["input"]).ravel())
    if len(in_shape) != 3:
        raise ConfigError(f"NIR input {order[0]!r} has shape {in_shape}; allowed: (C, H, W) for a conv graph.")
    ((c1n, c1), (l1n, l1), (p1n, p1), (t1n, t1), (c2n, c2), (l2n, l2), (p2n, p2), (t2n, t2), _, (fn, fc),
     (l3n, l3)) = nodes
    neurons = [_neuron(l1n, l1, dt), _neuron(l2n, l2, dt), _neuron(l3n, l3, dt)]
    ref = _check_shared(neurons)
    k = int(np.asarray(c1.weight).shape[-1])
    pad = int(np.asarray(c1.padding).ravel()[0]) if not isinstance(c1.padding, str) else -1
    q = int(np.asarray(p1.kernel_size).ravel()[0])
    for cn, c in ((c1n, c1), (c2n, c2)):
        w = np.asarray(c.weight)
        if w.shape[-2:] != (k, k) or np.any(np.asarray(c.stride) != 1) or np.any(np.asarray(c.dilation) != 1) \
                or c.groups != 1 or isinstance(c.padding, str) or np.any(np.asarray(c.padding) != pad):
            raise ConfigError(f"NIR node {cn!r} (kernel {w.shape[-2:]}, stride {c.stride}, padding {c.padding}, "
                              f"dilation {c.dilation}, groups {c.groups}) differs from our conv layer; allowed: "
                              f"square kernel {k}, stride 1, dilation 1, groups 1, padding {pad} in both convs.")
    for pn, p in ((p1n, p1), (p2n, p2)):
        if np.any(np.asarray(p.kernel_size) != q) or np.any(np.asarray(p.stride) != q) \
                or np.any(np.asarray(p.padding) != 0):
            raise ConfigError(f"NIR node {pn!r} pools {p.kernel_size} stride {p.stride} padding {p.padding}; allowed: "
                              f"window = stride = {q}, padding 0 in both pools.")
    for tn, t in ((t1n, t1), (t2n, t2)):
        th = _uniform(tn, "threshold", t.threshold)
        if not 0.0 <= th < 1.0:
            raise ConfigError(f"NIR node {tn!r} has threshold {th}; allowed: [0, 1) (spike OR after a sum-pool, "
                              "i.e. max-pooling of spikes).")
    from neuro.models.conv import SpikingConvConfig, SpikingConvNet

    w1, w2 = np.asarray(c1.weight, np.float32), np.asarray(c2.weight, np.float32)
    Wf = np.asarray(fc.weight, np.float32)
    bf = np.asarray(fc.bias, np.float32) if isinstance(fc, nir.Affine) else np.zeros(Wf.shape[0], np.float32)
    cfg = SpikingConvConfig(in_shape=in_shape, channels=(w1.shape[0], w2.shape[0]), kernel_size=k,
                            padding=None if pad == k // 2 else pad,
                            pool=q, n_classes=Wf.shape[0], lif=_params(ref, sidecar),
                            readout=sidecar.get("readout", "membrane_mean"))
    if cfg.fc_in != Wf.shape[1]:
        raise ConfigError(f"NIR node {fn!r} takes {Wf.shape[1]} inputs; allowed: {cfg.fc_in} (the flattened second "
                          "pooled map).")
    model = SpikingConvNet(cfg)
    scaled = [_scale(c1n, w1, np.asarray(c1.bias, np.float32), neurons[0], ref, notes),
              _scale(c2n, w2, np.asarray(c2.bias, np.float32), neurons[1], ref, notes),
              _scale(fn, Wf, bf, neurons[2], ref, notes)]
    with torch.no_grad():
        for mod, (W, b) in zip((model.conv1, model.conv2, model.fc), scaled):
            if tuple(mod.weight.shape) != W.shape:
                raise ConfigError(f"NIR weight shape {W.shape} does not fit {tuple(mod.weight.shape)}; allowed: "
                                  "channels consistent from layer to layer.")
            mod.weight.copy_(torch.from_numpy(W))
            mod.bias.copy_(torch.from_numpy(b))
    model.eval()
    return ImportedNetwork(model, "spiking_conv", dt, sidecar, notes)


# ---------------------------------------------------------------------------------------------
# graph utilities for other tools


def fold_gain(graph):
    """A copy of ``graph`` with every LIF's ``r`` folded into the Affine/Linear before it (``W *= r``,
    ``b *= r``, ``r := 1``): the same continuous-time network, for importers that ignore ``r``
    (Norse 1.1 warns and drops it). Changes float32 rounding, so spikes can differ where a
    membrane sits within rounding of the threshold."""
    nir = _nir()
    order = _chain(graph)
    nodes = dict(graph.nodes)
    conv = [k for k, n in nodes.items() if isinstance(n, nir.Conv2d)]
    if conv:
        raise ConfigError(f"fold_gain handles Affine/Linear -> LIF|IF layers; node {conv[0]!r} is a Conv2d. "
                          "Allowed: MLP graphs.")
    for prev, cur in zip(order[:-1], order[1:]):
        node = nodes[cur]
        if isinstance(node, (nir.LIF, nir.IF)) and isinstance(nodes[prev], (nir.Affine, nir.Linear)):
            r = np.asarray(node.r, np.float32)
            w = nodes[prev]
            W = np.asarray(w.weight, np.float32) * r[:, None]
            nodes[prev] = nir.Affine(weight=W, bias=np.asarray(w.bias, np.float32) * r) if isinstance(w, nir.Affine) \
                else nir.Linear(weight=W)
            kw = {f: getattr(node, f) for f in ("tau", "v_leak") if hasattr(node, f)}
            nodes[cur] = type(node)(r=np.ones_like(r), v_threshold=node.v_threshold, v_reset=node.v_reset,
                                    metadata=dict(node.metadata or {}), **kw)
    return nir.NIRGraph(nodes=nodes, edges=list(graph.edges), metadata=dict(graph.metadata or {}))
