"""Norse networks in and out, through NIR (``neuro.interop.nir``). Norse is optional: every function
imports it lazily and names the package when it is missing.

Norse's box LIF (``norse.torch.LIFBoxCell``) steps ``v += dt * tau_mem_inv * (v_leak - v + i)``,
spikes when ``v > v_th`` and then sets ``v := v_reset`` -- NIR's LIF with ``tau = 1/tau_mem_inv``
and ``r = 1`` integrated by forward Euler. In our terms ``beta = 1 - dt * tau_mem_inv`` and the input
gain ``dt * tau_mem_inv`` is folded into the weights of the layer before (see ``from_nir``).

Two things of Norse 1.1.0 are worked around here:

- ``norse.torch.utils.export_nir.to_nir`` writes ``tau = dt / tau_mem_inv`` (``dt * tau_mem``, off by a
  factor ``dt / tau_mem**2`` from the time constant its own importer reads back as ``1/tau``), keeps
  scalar parameters without a shape and puts the batch dimension into the ``Input`` node, so the
  graph neither type-checks nor round-trips. ``export_norse`` writes the graph from the modules
  itself: ``tau = 1/tau_mem_inv``, ``r = 1``, parameters broadcast to the layer size.
- Norse's importer (``norse.torch.from_nir``) ignores ``r`` (it warns); a graph from our export has
  ``r = tau/dt``, so give Norse ``neuro.interop.nir.fold_gain(graph)``, which moves ``r`` into the
  weights, and the same ``dt`` (``neuro.interop.nir.DEFAULT_DT`` unless you chose another).

Float rounding: Norse evaluates ``v + dt*tau_inv*(i - v)`` where we evaluate ``beta*v + i'``, so
membranes agree to a few float32 ulp (tests bound the difference), not bit for bit; spikes agree
unless a membrane lands within that rounding of the threshold.
"""

from __future__ import annotations

import numpy as np
import torch

from neuro.errors import ConfigError


def _norse():
    try:
        import norse.torch as norse_torch
    except ImportError as e:
        raise ConfigError("Norse interop needs the `norse` package: pip install -c constraints.txt norse "
                          "(it is in the dev extra).") from e
    return norse_torch


def export_norse(net: torch.nn.Module, n_inputs: int, dt: float = 1e-3):
    """NIR graph of a Norse feed-forward network of ``torch.nn.Linear`` and ``LIFBoxCell`` modules
    (an ``nn.Sequential`` or ``norse.torch.SequentialState``). ``dt``: the Norse cells' time step,
    stored in the graph's metadata so ``neuro.interop.nir.from_nir`` maps it back."""
    import nir

    nt = _norse()
    from norse.torch.functional.reset import reset_value

    nodes = {"input": nir.Input(input_type={"input": np.array([n_inputs])})}
    order, n = ["input"], n_inputs
    for i, m in enumerate(net.children()):
        name = f"{type(m).__name__.lower()}{i}"
        if isinstance(m, torch.nn.Linear):
            w = m.weight.detach().cpu().numpy().astype(np.float32)
            b = (m.bias.detach().cpu().numpy() if m.bias is not None else np.zeros(w.shape[0])).astype(np.float32)
            nodes[name] = nir.Affine(weight=w, bias=b)
            n = w.shape[0]
        elif isinstance(m, nt.LIFBoxCell):
            p = m.p
            if p.reset_method is not reset_value:
                raise ConfigError(f"Norse layer {i} ({name}) uses reset_method={p.reset_method.__name__}; allowed: "
                                  "reset_value (NIR's reset to v_reset).")
            if abs(float(m.dt) - dt) > 1e-12 * max(1.0, dt):
                raise ConfigError(f"Norse layer {i} ({name}) has dt={m.dt}; allowed: dt={dt} (pass the cells' dt).")

            def full(v):
                return np.broadcast_to(np.asarray(torch.as_tensor(v).detach().cpu(), np.float32), (n,)).copy()

            nodes[name] = nir.LIF(tau=np.float32(1.0) / full(p.tau_mem_inv), r=np.ones(n, np.float32),
                                  v_leak=full(p.v_leak), v_threshold=full(p.v_th), v_reset=full(p.v_reset))
        else:
            raise ConfigError(f"Norse layer {i} is a {type(m).__name__}; supported: torch.nn.Linear, "
                              "norse.torch.LIFBoxCell.")
        order.append(name)
    nodes["output"] = nir.Output(output_type={"output": np.array([n])})
    order.append("output")
    return nir.NIRGraph(nodes=nodes, edges=list(zip(order[:-1], order[1:])),
                        metadata={"source": "norse", "dt": float(dt)})


def to_norse(graph, dt: float):
    """Norse's own ``from_nir`` with time step ``dt`` (the graph's ``r`` must be 1: see ``fold_gain``)."""
    _norse()
    from norse.torch.utils.import_nir import from_nir

    return from_nir(graph, dt=dt, ignore_warnings=True)


@torch.no_grad()
def run_norse(net: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Output spikes ``[T, B, n_out]`` of a Norse network (``SequentialState`` or a ``from_nir``
    graph) stepped over ``x[T, B, n_in]`` from a zero state."""
    out, state = [], None
    for t in range(x.shape[0]):
        o, state = net(x[t], state)
        out.append(o)
    return torch.stack(out)
