"""Operation and memory-access counts of a network on real data, per layer and per sample.

Counts first, joules second: ``neuro.energy.model`` turns these counts into energy with a profile.

Definitions (compatible with NeuroBench 2.3, cross-checked in ``tests/energy``):

- **dense** synaptic ops of a connection layer (Linear, Conv1d/2d/3d): every weight times every
  input, zeros included (``layer(ones_like(x))`` with all-ones weights, bias excluded).
- **effective** ops: pairs where both the weight and the input are non-zero (binarised forward).
  A call whose inputs are all in {-1, 0, 1} is *binary*: its effective ops are accumulates (ACs);
  otherwise multiply-accumulates (MACs). As in NeuroBench the test is per layer call (one call
  of our models holds all ``T * B`` frames).
- **activation sparsity**: zero outputs / all outputs of the activation layers (ReLU, Sigmoid,
  snnTorch neurons, our LIF/ALIF populations) over all steps and samples.
- **connection sparsity**: zero weights / all weights of the connection layers (biases excluded).
- **footprint**: bytes of parameters and buffers at their stored dtype.

Added beyond NeuroBench (Lemaire et al. 2022 style accounting), per layer and per sample:

- ``neuron_updates``: state updates of the layer's neurons, ``T * n_out`` for a spiking layer,
  ``n_out`` for an ANN layer; ``spikes``: non-zero outputs (spikes, or non-zero activations).
- memory accesses, in values (not bytes; the model applies the precision):
  spiking layer (event driven): ``weight_reads`` = one per synaptic event (effective ACs/MACs)
  + one bias read per neuron update; ``state_reads`` = ``state_writes`` = one membrane read and
  write per synaptic event (accumulate into the target) + ``n_state`` per neuron update (leak,
  threshold, reset); ``input_reads`` = input events (non-zeros); ``output_writes`` = spikes.
  ANN layer: ``weight_reads`` = effective MACs + biases; ``input_reads`` = effective MACs (one
  input fetch per MAC, no reuse assumed); ``state_*`` = 0 (the accumulator is a register);
  ``output_writes`` = ``n_out``.

Every count is a per-sample average (total over the data / number of samples), like NeuroBench.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from neuro.errors import ConfigError

CONNECTION_TYPES = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
_CONV_FN = {nn.Conv1d: F.conv1d, nn.Conv2d: F.conv2d, nn.Conv3d: F.conv3d}


def activation_types() -> tuple[type, ...]:
    """Modules whose outputs count as activations: ReLU, Sigmoid and snnTorch spiking neurons."""
    types: list[type] = [nn.ReLU, nn.Sigmoid]
    try:
        from snntorch import SpikingNeuron

        types.append(SpikingNeuron)
    except ImportError:  # pragma: no cover - snntorch is a dependency
        pass
    return tuple(types)


@dataclass
class LayerCounts:
    """Totals of one layer over all processed samples (divide by ``Counts.samples`` per sample).

    ``kind``: ``"spiking"`` (event-driven neurons after the connection), ``"ann"`` or ``"linear"``
    (no activation, e.g. an ANN's output layer). ``n_in``/``n_out``: features per frame.
    ``weights``/``zero_weights``: connection weights (bias excluded). ``steps``: T.
    """

    name: str
    op: str
    kind: str
    n_in: int
    n_out: int
    weights: int
    zero_weights: int
    params: int
    steps: int = 1
    n_state: int = 0
    dense: int = 0
    eff_macs: int = 0
    eff_acs: int = 0
    activations: int = 0
    nonzero_activations: int = 0
    neuron_updates: int = 0
    spikes: int = 0
    input_values: int = 0
    input_nonzero: int = 0

    @property
    def synops(self) -> int:
        return self.eff_macs + self.eff_acs


@dataclass
class Counts:
    """Counts of one model over ``samples`` samples: per-layer totals and whole-model figures."""

    model: str
    spiking: bool
    samples: int
    steps: int
    layers: list[LayerCounts]
    footprint_bytes: int
    param_count: int
    extra: dict = field(default_factory=dict)

    # ---- whole-model per-sample figures (NeuroBench names in comments)
    def per_sample(self, total: float) -> float:
        return total / self.samples if self.samples else 0.0

    @property
    def dense(self) -> float:  # SynapticOperations["Dense"]
        return self.per_sample(sum(l.dense for l in self.layers))

    @property
    def eff_macs(self) -> float:  # SynapticOperations["Effective_MACs"]
        return self.per_sample(sum(l.eff_macs for l in self.layers))

    @property
    def eff_acs(self) -> float:  # SynapticOperations["Effective_ACs"]
        return self.per_sample(sum(l.eff_acs for l in self.layers))

    @property
    def activation_sparsity(self) -> float:  # ActivationSparsity
        tot = sum(l.activations for l in self.layers)
        nz = sum(l.nonzero_activations for l in self.layers)
        return (tot - nz) / tot if tot else 0.0

    @property
    def connection_sparsity(self) -> float:  # ConnectionSparsity (NeuroBench rounds to 4 decimals)
        w = sum(l.weights for l in self.layers)
        return sum(l.zero_weights for l in self.layers) / w if w else 0.0

    def layer_table(self) -> list[dict]:
        """Per-layer, per-sample counts and memory accesses (values, not bytes) as dicts."""
        return [layer_summary(l, self.samples) for l in self.layers]

    def totals(self) -> dict:
        """Whole-model per-sample sums of ``layer_table`` plus the NeuroBench figures."""
        rows = self.layer_table()
        keys = [k for k, v in rows[0].items() if isinstance(v, (int, float)) and k not in
                ("n_in", "n_out", "steps", "n_state", "spike_rate", "activation_sparsity")] if rows else []
        out = {k: float(sum(r[k] for r in rows)) for k in keys}
        neurons = sum(l.n_out for l in self.layers if l.kind == "spiking")
        spiking_updates = sum(r["neuron_updates"] for r, l in zip(rows, self.layers) if l.kind == "spiking")
        out.update(dense=self.dense, eff_macs=self.eff_macs, eff_acs=self.eff_acs,
                   activation_sparsity=self.activation_sparsity, connection_sparsity=self.connection_sparsity,
                   footprint_bytes=self.footprint_bytes, param_count=self.param_count,
                   spike_rate=(sum(r["spikes"] for r, l in zip(rows, self.layers) if l.kind == "spiking")
                               / spiking_updates) if spiking_updates else None,
                   spikes_per_neuron=(sum(r["spikes"] for r, l in zip(rows, self.layers) if l.kind == "spiking")
                                      / neurons) if neurons else None,
                   synops_per_synapse=(out.get("synops", 0.0) / sum(l.weights for l in self.layers))
                   if self.layers else 0.0)
        return out

    def to_dict(self) -> dict:
        return {"model": self.model, "spiking": self.spiking, "samples": self.samples, "steps": self.steps,
                "footprint_bytes": self.footprint_bytes, "param_count": self.param_count,
                "layers": self.layer_table(), "totals": self.totals(), **self.extra}


def layer_summary(l: LayerCounts, samples: int) -> dict:
    """Per-sample counts and Lemaire-style memory accesses of one layer (see the module docstring)."""
    s = max(samples, 1)
    synops = l.synops / s
    updates = l.neuron_updates / s
    bias_reads = updates if l.params > l.weights else 0.0
    if l.kind == "spiking":
        weight_reads = synops + bias_reads
        state_rw = synops + updates * l.n_state
        input_reads = l.input_nonzero / s
        output_writes = l.spikes / s
    else:
        weight_reads = synops + bias_reads
        state_rw = 0.0
        input_reads = synops
        output_writes = updates
    return {"name": l.name, "op": l.op, "kind": l.kind, "n_in": l.n_in, "n_out": l.n_out, "steps": l.steps,
            "n_state": l.n_state, "weights": l.weights, "params": l.params,
            "dense": l.dense / s, "eff_macs": l.eff_macs / s, "eff_acs": l.eff_acs / s, "synops": synops,
            "neuron_updates": updates, "spikes": l.spikes / s,
            "spike_rate": (l.spikes / l.neuron_updates) if l.kind == "spiking" and l.neuron_updates else None,
            "activation_sparsity": (1 - l.nonzero_activations / l.activations) if l.activations else None,
            "weight_reads": weight_reads, "input_reads": input_reads, "state_reads": state_rw,
            "state_writes": state_rw, "output_writes": output_writes,
            "weight_bytes_fp32": 4 * l.params}


# ---------------------------------------------------------------------------------------------
# counting one connection-layer call


def _binary(x: torch.Tensor) -> bool:
    """True when every value is -1, 0 or 1 (NeuroBench's test for spiking input)."""
    return bool(((x == 0) | (x == 1) | (x == -1)).all())


def _layer_op(layer: nn.Module, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    if isinstance(layer, nn.Linear):
        return F.linear(x, w)
    fn = _CONV_FN[type(layer)]
    if layer.padding_mode != "zeros":
        raise ConfigError(f"{type(layer).__name__}(padding_mode={layer.padding_mode!r}) cannot be counted; "
                          "allowed: padding_mode='zeros'.")
    return fn(x, w, None, layer.stride, layer.padding, layer.dilation, layer.groups)


def connection_ops(layer: nn.Module, x: torch.Tensor) -> tuple[int, int, bool]:
    """``(effective, dense, binary)`` synaptic ops of one call of ``layer`` on input ``x`` (whole batch).

    Linear layers use the closed forms ``effective = sum_j nnz(x[:, j]) * nnz(W[:, j])`` and
    ``dense = rows * n_in * n_out`` (exact integers); convolutions run the layer on binarised
    copies in float64 (exact below 2**53)."""
    if not isinstance(layer, CONNECTION_TYPES):
        raise ConfigError(f"{type(layer).__name__} is not a connection layer; allowed: "
                          f"{', '.join(t.__name__ for t in CONNECTION_TYPES)}.")
    x = x.detach()
    w = layer.weight.detach()
    binary = _binary(x)
    if isinstance(layer, nn.Linear):
        xf = x.reshape(-1, x.shape[-1])
        nnz_x = (xf != 0).sum(0).to(torch.int64)
        nnz_w = (w != 0).sum(0).to(torch.int64)
        eff = int((nnz_x * nnz_w).sum())
        dense = int(xf.shape[0]) * int(w.shape[0]) * int(w.shape[1])
        return eff, dense, binary
    xb, wb = (x != 0).to(torch.float64), (w != 0).to(torch.float64)
    eff = int(_layer_op(layer, xb, wb).sum())
    dense = int(_layer_op(layer, torch.ones_like(xb), torch.ones_like(wb)).sum())
    return eff, dense, binary


def _layer_record(name: str, layer: nn.Module, kind: str, steps: int = 1, n_state: int = 0) -> LayerCounts:
    w = layer.weight
    n_out = w.shape[0]
    n_in = w.shape[1] * (w[0, 0].numel() if w.dim() > 2 else 1)
    return LayerCounts(name=name, op=type(layer).__name__, kind=kind, n_in=int(n_in), n_out=int(n_out),
                       weights=int(w.numel()), zero_weights=int((w == 0).sum()),
                       params=sum(int(p.numel()) for p in layer.parameters(recurse=False)),
                       steps=steps, n_state=n_state)


def _add_call(rec: LayerCounts, layer: nn.Module, x: torch.Tensor) -> None:
    eff, dense, binary = connection_ops(layer, x)
    rec.dense += dense
    if binary:
        rec.eff_acs += eff
    else:
        rec.eff_macs += eff
    rec.input_values += int(x.numel())
    rec.input_nonzero += int((x != 0).sum())


def _add_activation(rec: LayerCounts, out: torch.Tensor, *, spiking: bool) -> None:
    out = out.detach()
    nz = int((out != 0).sum())
    rec.activations += int(out.numel())
    rec.nonzero_activations += nz
    rec.spikes += nz
    # one update per output value (spiking: every neuron at every step)
    rec.neuron_updates += int(out.numel())


def footprint(net: nn.Module) -> int:
    """Bytes of parameters and buffers at their stored dtype (NeuroBench's Footprint)."""
    return sum(p.numel() * p.element_size() for p in net.parameters()) + \
        sum(b.numel() * b.element_size() for b in net.buffers())


# ---------------------------------------------------------------------------------------------
# generic torch modules: hooks


class HookCounter:
    """Counts on any ``nn.Module`` through forward hooks, for as many forward calls as you make.

    Connection layers (Linear/ConvNd) are counted per call; the outputs of activation modules
    (ReLU, Sigmoid, snnTorch neurons; the first element of a tuple output) are attributed to the
    nearest preceding connection layer in module order. Use as a context manager, call the net
    (any number of times, e.g. once per time step), tell it how many samples went through with
    ``add_samples``, then ``result()``.
    """

    def __init__(self, net: nn.Module, *, name: str = "model", steps: int = 1) -> None:
        self.net, self.name, self.steps = net, name, steps
        self.samples = 0
        self._handles: list = []
        self._records: dict[str, LayerCounts] = {}
        self._spiking_acts = False

    def __enter__(self) -> "HookCounter":
        self._footprint = footprint(self.net)  # before any state buffer grows to the batch size
        acts = activation_types()
        last: LayerCounts | None = None
        try:
            from snntorch import SpikingNeuron
        except ImportError:  # pragma: no cover
            SpikingNeuron = ()  # type: ignore[assignment]
        for mname, mod in self.net.named_modules():
            if isinstance(mod, CONNECTION_TYPES):
                last = _layer_record(mname or type(mod).__name__, mod, "linear", steps=self.steps)
                self._records[mname] = last
                self._handles.append(mod.register_forward_hook(self._conn(last)))
            elif isinstance(mod, acts) and last is not None:
                spiking = bool(SpikingNeuron) and isinstance(mod, SpikingNeuron)
                last.kind = "spiking" if spiking else "ann"
                last.n_state = 1 if spiking else 0
                self._spiking_acts |= spiking
                self._handles.append(mod.register_forward_hook(self._post(last, spiking)))
        if not self._records:
            raise ConfigError(f"{type(self.net).__name__} has no Linear/Conv layer to count; allowed: a module "
                              "built from nn.Linear / nn.Conv1d / nn.Conv2d / nn.Conv3d.")
        return self

    def _conn(self, rec: LayerCounts) -> Callable:
        def hook(mod, inputs, output):
            _add_call(rec, mod, inputs[0])
            if rec.kind == "linear":  # no activation module follows: its outputs are the updates
                rec.neuron_updates += int(output.numel())
                rec.spikes += int((output != 0).sum())
        return hook

    def _post(self, rec: LayerCounts, spiking: bool) -> Callable:
        def hook(mod, inputs, output):
            out = output[0] if isinstance(output, tuple) else output
            _add_activation(rec, out, spiking=spiking)
        return hook

    def __exit__(self, *exc) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()

    def add_samples(self, n: int) -> None:
        self.samples += int(n)

    def result(self) -> Counts:
        layers = list(self._records.values())
        return Counts(self.name, self._spiking_acts, self.samples, self.steps, layers, self._footprint,
                      sum(p.numel() for p in self.net.parameters()))


def count_module(net: nn.Module, batches: Iterable[torch.Tensor], *, forward: Callable | None = None,
                 name: str = "model", steps: int = 1) -> Counts:
    """Counts of ``net`` over ``batches`` (each ``[B, ...]``, batch first). ``forward(net, batch)``
    runs one batch (default ``net(batch)``; for a stateful per-step SNN loop over steps there)."""
    fwd = forward or (lambda n, b: n(b))
    with torch.no_grad(), HookCounter(net, name=name, steps=steps) as hc:
        for b in batches:
            fwd(net, b)
            hc.add_samples(b.shape[0])
    return hc.result()


# ---------------------------------------------------------------------------------------------
# our models (neuro.models): spiking MLP / conv on either backend, ANN twins


def _torch(a) -> torch.Tensor:
    return a if isinstance(a, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(a))


def _n_state(model) -> int:
    return 2 if getattr(model.config, "neuron", "lif") == "alif" else 1


def count_model(model: nn.Module, x: torch.Tensor, *, backend: str = "torch", batch_size: int = 256,
                name: str | None = None, progress: bool = False) -> Counts:
    """Counts of one of our models on inputs ``x``.

    Spiking models (``SpikingMLP``, ``SpikingConvNet``): ``x`` is the encoded input ``[T, B, ...]``;
    the model runs on ``backend`` (``torch`` or ``numba``) and every layer's input is rebuilt from
    the run's own spikes (pooling included), so both backends count the same way.
    ANN twins and other modules: ``x`` is ``[B, ...]``, counted with hooks (torch only).
    """
    from tqdm.auto import tqdm

    from neuro.models.ann import is_spiking

    name = name or type(model).__name__
    if not is_spiking(model):
        batches = [x[i:i + batch_size] for i in range(0, x.shape[0], batch_size)]
        return count_module(model, tqdm(batches, desc=f"count {name}", disable=not progress), name=name)
    T, B = int(x.shape[0]), int(x.shape[1])
    n_state = _n_state(model)
    conv = hasattr(model, "conv1")
    layers = [("conv1", model.conv1), ("conv2", model.conv2), ("fc", model.fc)] if conv else \
        [(f"layers.{i}", l) for i, l in enumerate(model.layers)]
    recs = [_layer_record(n, l, "spiking", steps=T, n_state=n_state) for n, l in layers]
    pool = getattr(model.config, "pool", 1)
    with torch.no_grad():
        for lo in tqdm(range(0, B, batch_size), desc=f"count {name}", disable=not progress):
            xb = x[:, lo:lo + batch_size]
            out = model.run(xb if backend == "torch" else np.ascontiguousarray(_torch(xb).numpy()), backend)
            spikes = [_torch(h).float() for h in out.hidden_spikes] + [_torch(out.spikes).float()]
            xb = _torch(xb).float()
            b = xb.shape[1]
            if conv:
                p1 = F.max_pool2d(spikes[0].reshape(T * b, *spikes[0].shape[2:]), pool)
                p2 = F.max_pool2d(spikes[1].reshape(T * b, *spikes[1].shape[2:]), pool)
                inputs = [xb.reshape(T * b, *xb.shape[2:]), p1, p2.reshape(T * b, -1)]
            else:
                inputs = [xb.reshape(T * b, -1)] + [s.reshape(T * b, -1) for s in spikes[:-1]]
            for rec, (_, layer), inp, s in zip(recs, layers, inputs, spikes):
                _add_call(rec, layer, inp)
                _add_activation(rec, s, spiking=True)
    return Counts(name, True, B, T, recs, footprint(model), sum(p.numel() for p in model.parameters()),
                  extra={"backend": backend})


def count_ann(model: nn.Module, x: torch.Tensor, *, batch_size: int = 256, name: str | None = None,
              progress: bool = False) -> Counts:
    """Counts of one of our ANN twins (``neuro.models.ann.ANN``, ReLU via ``F.relu``): hooks on the
    connection layers; a layer's activations are ``relu(output)`` except the last layer's (logits)."""
    from tqdm.auto import tqdm

    name = name or "ANN"
    mods = [(n, m) for n, m in model.named_modules() if isinstance(m, CONNECTION_TYPES)]
    recs = {n: _layer_record(n, m, "ann") for n, m in mods}
    recs[mods[-1][0]].kind = "linear"
    handles = []

    def make(n):
        rec = recs[n]

        def hook(mod, inputs, output):
            _add_call(rec, mod, inputs[0])
            act = output if rec.kind == "linear" else F.relu(output)
            _add_activation(rec, act, spiking=False)
            if rec.kind == "linear":  # logits are not activations (NeuroBench hooks no module there)
                rec.activations -= int(act.numel())
                rec.nonzero_activations -= int((act != 0).sum())
        return hook

    for n, m in mods:
        handles.append(m.register_forward_hook(make(n)))
    try:
        with torch.no_grad():
            for lo in tqdm(range(0, x.shape[0], batch_size), desc=f"count {name}", disable=not progress):
                model(x[lo:lo + batch_size])
    finally:
        for h in handles:
            h.remove()
    return Counts(name, False, int(x.shape[0]), 1, list(recs.values()), footprint(model),
                  sum(p.numel() for p in model.parameters()))


def merge(parts: list[Counts]) -> Counts:
    """One ``Counts`` from counts of the same model over disjoint batches (totals add up)."""
    if not parts:
        raise ConfigError("merge() got no counts; allowed: a non-empty list.")
    first = parts[0]
    layers = []
    for i, l in enumerate(first.layers):
        acc = LayerCounts(**{k: getattr(l, k) for k in l.__dataclass_fields__})
        for p in parts[1:]:
            o = p.layers[i]
            for k in ("dense", "eff_macs", "eff_acs", "activations", "nonzero_activations", "neuron_updates",
                      "spikes", "input_values", "input_nonzero"):
                setattr(acc, k, getattr(acc, k) + getattr(o, k))
        layers.append(acc)
    return Counts(first.model, first.spiking, sum(p.samples for p in parts), first.steps, layers,
                  first.footprint_bytes, first.param_count, dict(first.extra))
