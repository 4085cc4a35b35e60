"""(component, backend) -> implementation.

Every implementation of a component shares one calling convention (for neurons:
``multistep(x[T, B, N...], params, state=None) -> (spikes, membrane, final_state)``), taking torch
tensors on the ``torch`` backend and numpy arrays on ``numba``. Entries are registered explicitly,
one line per pair, as ``module:function`` strings so that looking one up imports only that
backend. A ``Registry`` is an ordinary object: tests and users may build their own.
"""

from __future__ import annotations

import importlib
from typing import Callable, Iterable

from neuro.errors import BackendError

BACKENDS = ("torch", "numba")


class Registry:
    """A mapping from (component, backend) to an implementation (callable or ``module:attr``)."""

    def __init__(self, entries: Iterable[tuple[str, str, str | Callable]] = ()) -> None:
        self._entries: dict[tuple[str, str], str | Callable] = {}
        for component, backend, impl in entries:
            self.register(component, backend, impl)

    def register(self, component: str, backend: str, impl: str | Callable) -> None:
        """Add one pair. Registering a pair twice is an error (no silent override)."""
        key = (component, backend)
        if key in self._entries:
            raise BackendError(f"({component!r}, {backend!r}) is already registered; use another name.")
        self._entries[key] = impl

    def get(self, component: str, backend: str) -> Callable:
        """The implementation, imported on first use. Unknown pairs list what exists."""
        try:
            impl = self._entries[(component, backend)]
        except KeyError:
            raise BackendError(
                f"no implementation of ({component!r}, {backend!r}); registered pairs: "
                f"{', '.join(f'{c}/{b}' for c, b in self.pairs())}."
            ) from None
        if isinstance(impl, str):
            module, _, attr = impl.partition(":")
            impl = getattr(importlib.import_module(module), attr)
        return impl

    def pairs(self) -> list[tuple[str, str]]:
        """All registered (component, backend) pairs, sorted."""
        return sorted(self._entries)

    def components(self) -> list[str]:
        """Registered component names."""
        return sorted({c for c, _ in self._entries})

    def __contains__(self, key: tuple[str, str]) -> bool:
        return key in self._entries


REGISTRY = Registry([
    ("lif", "torch", "neuro.neurons.lif:lif_multistep"),
    ("lif", "numba", "kernels.lif:lif_multistep"),
    ("alif", "torch", "neuro.neurons.alif:alif_multistep"),
    ("alif", "numba", "kernels.alif:alif_multistep"),
    # forward-forward layer-local update: (x_pos, x_neg, w, b, state, FFParams) -> (dW, db, state, loss, g_pos, g_neg)
    ("ff", "torch", "neuro.rules.ff:ff_layer_grad"),
    ("ff", "numba", "kernels.ff:ff_layer_grad"),
    # Hebbian rules: (w, x [B, F] or [S, B, F], params, state) -> (w_new, state)
    ("oja", "torch", "neuro.rules.hebbian:oja_update"),
    ("oja", "numba", "kernels.hebbian:oja_update"),
    ("sanger", "torch", "neuro.rules.hebbian:sanger_update"),
    ("sanger", "numba", "kernels.hebbian:sanger_update"),
    ("bcm", "torch", "neuro.rules.hebbian:bcm_update"),
    ("bcm", "numba", "kernels.hebbian:bcm_update"),
    # associative memories: (s [B, N], w [N, N] or xi [P, N], params) -> (s_final, steps)
    ("hopfield", "torch", "neuro.rules.hopfield:hopfield_retrieve"),
    ("hopfield", "numba", "kernels.hopfield:hopfield_retrieve"),
    ("dense_am", "torch", "neuro.rules.hopfield:dense_retrieve"),
    ("dense_am", "numba", "kernels.hopfield:dense_retrieve"),
    # contrastive Hebbian rules: (x, y, weights, biases, params) -> ([(dW, db) per layer], free states | logits)
    ("ep", "torch", "neuro.rules.contrastive:ep_grads"),
    ("ep", "numba", "kernels.contrastive:ep_grads"),
    ("dualprop", "torch", "neuro.rules.contrastive:dp_grads"),
    ("dualprop", "numba", "kernels.contrastive:dp_grads"),
    # pair STDP over given spikes: (w [B, post, pre], pre [T, B, pre], post [T, B, post], STDPParams, ...) -> (w_new, state)
    ("stdp", "torch", "neuro.rules.stdp:stdp_run"),
    ("stdp", "numba", "kernels.stdp:stdp_run"),
    # competing hidden units / soft-WTA Hebbian: (w [K, F], x [B, F] or [S, B, F], params, state) -> (w_new, state)
    ("krotov", "torch", "neuro.rules.krotov:krotov_update"),
    ("krotov", "numba", "kernels.krotov:krotov_update"),
    ("softhebb", "torch", "neuro.rules.softhebb:softhebb_update"),
    ("softhebb", "numba", "kernels.softhebb:softhebb_update"),
    # recurrent AM-SU (astrocyte-modulated spiking unit): (x [T, B, N], w_rec [N, N], params, state, gain [N])
    #   -> (spikes, membrane, astrocyte [T, B, N], final state); numba is forward only
    ("amsu", "torch", "neuro.neurons.amsu:amsu_multistep"),
    ("amsu", "numba", "kernels.amsu:amsu_multistep"),
    # NALSM liquid (LIF + synaptic kernels + astrocyte-modulated STDP, per-sample protocol):
    #   (NALSMParams, Network, probs [B, n_in], keys [B], *, w, mode, duration, decay, n_record) -> SimResult
    ("nalsm", "torch", "neuro.models.nalsm:simulate_torch"),
    ("nalsm", "numba", "kernels.nalsm:run"),
])

#: The params class of each component, used by the parity test and by config loading.
PARAMS = {"lif": "neuro.neurons.lif:LIFParams", "alif": "neuro.neurons.alif:ALIFParams"}
PARAMS["ff"] = "neuro.rules.ff:FFParams"
PARAMS.update(oja="neuro.rules.hebbian:OjaParams", sanger="neuro.rules.hebbian:SangerParams",
              bcm="neuro.rules.hebbian:BCMParams")
PARAMS.update(hopfield="neuro.rules.hopfield:HopfieldParams", dense_am="neuro.rules.hopfield:DenseAMParams")
PARAMS.update(ep="neuro.rules.contrastive:EPParams", dualprop="neuro.rules.contrastive:DPParams")
PARAMS["stdp"] = "neuro.rules.stdp:STDPParams"
PARAMS.update(krotov="neuro.rules.krotov:KrotovParams", softhebb="neuro.rules.softhebb:SoftHebbParams")
PARAMS["amsu"] = "neuro.neurons.amsu:AMSUParams"
PARAMS["nalsm"] = "neuro.models.nalsm:NALSMParams"


def get(component: str, backend: str) -> Callable:
    """Look up ``(component, backend)`` in the default registry."""
    return REGISTRY.get(component, backend)
