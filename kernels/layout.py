"""Shared array plumbing of the neuron kernels' adapters: ``[T, B, N...]`` <-> ``[T, M]`` views."""

from __future__ import annotations

import numpy as np

from neuro.checks import check_array
from neuro.errors import ConfigError


def prepare(x: np.ndarray, state, fields: str, component: str):
    """Check ``x`` and ``state`` and lay them out for a kernel.

    Returns ``(x2 [T, M] contiguous, state arrays [M] float32 copies, spk_out, mem_out [T, M])``.
    ``fields`` names the state's fields in order (``"vsr"`` for LIF).
    """
    check_array("x (input currents)", x, ndim=tuple(range(2, 8)))
    if x.dtype != np.float32:
        raise ConfigError(f"x has dtype {x.dtype}; allowed: float32 for the numba {component} kernel. "
                          "Use x.astype(np.float32).")
    inner = x.shape[1:]
    x2 = np.ascontiguousarray(x).reshape(x.shape[0], -1)
    M = x2.shape[1]
    if state is None:
        arrays = [np.zeros(M, np.float32) for _ in fields]
    else:
        if len(state) != len(fields):
            raise ConfigError(f"state has {len(state)} fields; allowed: {len(fields)} ({', '.join(fields)}).")
        for name, a in zip(fields, state):
            if np.shape(a) != inner:
                raise ConfigError(f"state.{name} has shape {np.shape(a)}; allowed: {inner} (one time step of x).")
        arrays = [np.array(a, dtype=np.float32).reshape(M) for a in state]
    return x2, arrays, np.empty_like(x2), np.empty_like(x2)


def finish(x: np.ndarray, spk: np.ndarray, mem: np.ndarray, arrays) -> tuple[np.ndarray, np.ndarray, tuple]:
    """Reshape kernel outputs back to ``x``'s layout: ``(spikes, membrane, final state)``."""
    inner = x.shape[1:]
    return spk.reshape(x.shape), mem.reshape(x.shape), tuple(a.reshape(inner) for a in arrays)
