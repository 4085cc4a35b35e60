"""snnTorch networks in and out, through NIR (``neuro.interop.nir``).

``export_snntorch(net, n_inputs)`` is snnTorch's own NIR export (its module converter
``snntorch.export_nir._extract_snntorch_module`` driven by ``nirtorch.extract_nir_graph``, exactly
what ``snntorch.export_nir.export_to_nir`` does) with one work-around: with snnTorch 1.0 and nir
1.0.8, ``export_to_nir`` fails in ``NIRGraph.infer_types`` because a ``Leaky`` with a scalar beta
and threshold becomes a ``nir.LIF`` whose parameters are 0-d arrays, i.e. a node without a shape
("type mismatch: 0.output: [[n]] -> 1.input: []"), and because the sample's batch dimension
reaches the ``Input`` node. Here the batch dimension is dropped (``ignore_dims=[0]``) and every
0-d neuron parameter is broadcast to the size of the layer feeding it before the types are
inferred. The reset mechanism, which snnTorch's export drops (NIR's LIF always resets to
``v_reset``), is recorded as ``metadata["neuroforge.reset"] = "subtract"`` for a subtracting
``Leaky`` so that our importer reproduces it.

Equivalence with our LIF: ``snn.Leaky(beta, threshold, reset_mechanism, reset_delay=True)`` is our
``LIFParams(beta, v_th, reset)`` step for step; with ``reset_mechanism="zero"`` the spikes do not
depend on ``reset_delay`` (snnTorch's NIR importer builds ``reset_mechanism="zero",
reset_delay=False``), while reset by subtraction needs ``reset_delay=True``.

``to_snntorch(graph)`` is ``snntorch.import_nir.import_from_nir`` (works with nirtorch 2.6);
``run_snntorch(net, x)`` steps either kind of network over ``x[T, B, ...]`` and stacks the output
spikes.
"""

from __future__ import annotations

import numpy as np
import torch

from neuro.errors import ConfigError
from neuro.interop.nir import RESET_KEY


def _snn():
    try:
        import snntorch as snn
    except ImportError as e:  # pragma: no cover - snntorch is a declared dependency
        raise ConfigError("snnTorch interop needs the `snntorch` package: "
                          "pip install -c constraints.txt snntorch") from e
    return snn


def export_snntorch(net: torch.nn.Module, n_inputs: int | tuple[int, ...], model_name: str = "snntorch"):
    """NIR graph of an snnTorch network (see the module docstring). ``n_inputs``: one sample's
    shape without batch and time (``784`` or ``(1, 28, 28)``). Leaky neurons must use
    ``init_hidden=True`` (snnTorch's export traces one call of ``net``)."""
    import nirtorch
    import nir
    from snntorch.export_nir import _extract_snntorch_module

    snn = _snn()
    shape = (n_inputs,) if isinstance(n_inputs, int) else tuple(n_inputs)
    leaky = {name: m for name, m in net.named_modules() if isinstance(m, snn.Leaky)}
    for name, m in leaky.items():
        if m.reset_mechanism == "subtract" and not m.reset_delay:
            raise ConfigError(f"snnTorch layer {name!r} resets by subtraction with reset_delay=False; allowed: "
                              "reset_delay=True (the snnTorch default) for subtract, or reset_mechanism=\"zero\".")
        if m.reset_mechanism not in ("subtract", "zero"):
            raise ConfigError(f"snnTorch layer {name!r} has reset_mechanism={m.reset_mechanism!r}; allowed: "
                              "subtract, zero.")
    was_training = net.training
    net.eval()
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            graph = nirtorch.extract_nir_graph(net, _extract_snntorch_module, torch.zeros(1, *shape),
                                               model_name=model_name, ignore_submodules_of=[snn.RLeaky, snn.RSynaptic],
                                               ignore_dims=[0])
    finally:
        net.train(was_training)
        from snntorch import utils

        utils.reset(net)
    _patch_shapes(graph, nir)
    for key, node in graph.nodes.items():
        m = leaky.get(key)
        if m is not None and m.reset_mechanism == "subtract":
            node.metadata = {**dict(node.metadata or {}), RESET_KEY: "subtract"}
    graph.infer_types()
    graph.metadata = {**dict(graph.metadata or {}), "source": "snntorch", "dt": 1e-4}
    return graph


def _patch_shapes(graph, nir) -> None:
    """Give 0-d LIF/IF/CubaLIF parameters the size of the Affine/Linear node feeding them."""
    pred = {b: a for a, b in graph.edges}
    for key, node in list(graph.nodes.items()):
        if not isinstance(node, (nir.LIF, nir.IF, nir.CubaLIF)):
            continue
        if np.asarray(node.v_threshold).ndim > 0 and np.asarray(node.v_threshold).size > 1:
            continue
        src = graph.nodes.get(pred.get(key))
        if not isinstance(src, (nir.Affine, nir.Linear)):
            raise ConfigError(f"snnTorch layer {key!r} has scalar neuron parameters and follows a "
                              f"{type(src).__name__}; allowed: a Linear layer before each Leaky (the shape is taken "
                              "from its weight). Give the Leaky per-neuron parameters otherwise.")
        n = np.asarray(src.weight).shape[0]
        fields = {f: getattr(node, f) for f in node.__dataclass_fields__
                  if f not in ("input_type", "output_type", "metadata")}
        fields = {f: (np.full(n, np.asarray(v, np.float32).reshape(-1)[0], np.float32) if v is not None else None)
                  for f, v in fields.items()}
        graph.nodes[key] = type(node)(**fields, metadata=dict(node.metadata or {}))


def to_snntorch(graph, restore_reset: bool = True) -> torch.nn.Module:
    """snnTorch's own ``import_from_nir`` (its Leaky: reset to zero, no reset delay, NIR's
    semantics). ``restore_reset``: replace each Leaky whose NIR node carries
    ``metadata["neuroforge.reset"] = "subtract"`` by a subtracting Leaky with ``reset_delay=True``
    (same beta and threshold), so that a model exported from here runs as it did here."""
    snn = _snn()
    import contextlib
    import io

    from snntorch.import_nir import import_from_nir

    with contextlib.redirect_stdout(io.StringIO()):  # it prints progress lines
        net = import_from_nir(graph)
    if restore_reset:
        for key, node in graph.nodes.items():
            reset = dict(node.metadata or {}).get(RESET_KEY)
            reset = reset.decode() if isinstance(reset, bytes) else reset
            if reset != "subtract":
                continue
            try:
                old = net.get_submodule(key)
            except AttributeError:
                raise ConfigError(f"snnTorch's import has no module for NIR node {key!r}; cannot restore its reset "
                                  "by subtraction. Pass restore_reset=False to keep NIR's reset to zero.") from None
            new = snn.Leaky(beta=old.beta.detach().clone(), threshold=float(old.threshold), reset_mechanism="subtract",
                            init_hidden=old.init_hidden, reset_delay=True)
            setattr(net, key, new)
    return net


@torch.no_grad()
def run_snntorch(net: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Output spikes ``[T, B, n_out]`` of an snnTorch network over ``x[T, B, ...]``: hidden state
    reset first, one call per step. Works for ``nn.Sequential`` nets with ``init_hidden=True``
    Leaky layers (the last may have ``output=True``) and for ``to_snntorch`` graph modules."""
    from snntorch import utils

    utils.reset(net)
    out, state = [], None
    for t in range(x.shape[0]):
        o = net(x[t]) if state is None else net(x[t], state)
        if isinstance(o, tuple):
            o, second = o
            if isinstance(second, dict):  # nirtorch graph module: (output, state)
                state = second
        out.append(o)
    utils.reset(net)
    return torch.stack(out)
