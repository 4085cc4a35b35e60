"""The ``[nalsm]`` table of a run config (``train.rule = "nalsm"``; ignored otherwise). No torch import.

Keys mirror ``neuro.models.nalsm.NALSMParams`` (the connection scales ``c`` as ``c_ee c_ei c_ie c_ii``,
pre->post); ``plasticity`` picks the model: ``"astro"`` NALSM, ``"stdp"`` LSM+STDP, ``"none"`` LSM.
Pipeline keys: ``chunk`` (samples per cached spike-count file), ``record`` (test samples whose rasters
are kept for the branching factor), ``backend`` (``numba`` on CPU, ``torch`` on any device).
``[train]`` (``epochs``, ``lr``, ``batch_size``, ``seed``) trains the softmax readout on the cached counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

NALSMBackend = Literal["numba", "torch"]


@dataclass(frozen=True)
class NALSMConfig:
    """See the module docstring and ``neuro.models.nalsm.NALSMParams``."""

    grid: tuple[int, ...] = (10, 10, 10)
    frac_exc: float = 0.8
    c_ee: float = 0.2
    c_ei: float = 0.1
    c_ie: float = 0.3
    c_ii: float = 0.05
    lam: float = 3.0
    input_density: float = 0.15
    w_max: float = 3.0
    w_init: float = 0.0
    net_seed: int = 0
    tau_v: float = 64.0
    v_th: float = 20.0
    t_ref: int = 2
    tau_syn: float = 1.0
    input_current: float = 100.0
    duration: int = 250
    plasticity: Literal["none", "stdp", "astro"] = "astro"
    a_plus: float = 0.15
    lr_decay: float = 0.99
    astro_w: float = 0.015
    astro_tau: float = 100.0
    astro_bias_offset: float = 0.0
    init_samples: int = 50_000
    init_duration: int = 20
    init_plasticity: Literal["auto", "none", "stdp", "astro"] = "auto"
    chunk: int = 2000
    record: int = 20
    backend: NALSMBackend = "numba"

    def __post_init__(self) -> None:
        from neuro.checks import check_number

        check_number("nalsm.chunk", self.chunk, lo=1, hi=10**7, integer=True)
        check_number("nalsm.record", self.record, lo=0, hi=10**5, integer=True)
        self.params()  # every other key is checked by NALSMParams

    def params(self, n_input: int = 784):
        from neuro.models.nalsm import NALSMParams

        if len(self.grid) != 3:
            from neuro.errors import ConfigError

            raise ConfigError(f"nalsm.grid={list(self.grid)} is not supported; allowed: three positive integers, "
                              "e.g. [10, 10, 10] (NALSM-1000) or [20, 20, 20] (NALSM-8000).")
        keys = ("frac_exc", "lam", "input_density", "w_max", "w_init", "tau_v", "v_th", "t_ref", "tau_syn",
                "input_current", "duration", "plasticity", "a_plus", "lr_decay", "astro_w", "astro_tau",
                "astro_bias_offset", "init_samples", "init_duration", "init_plasticity")
        return NALSMParams(grid=tuple(self.grid), c={"ee": self.c_ee, "ei": self.c_ei, "ie": self.c_ie,
                                                      "ii": self.c_ii},
                           n_input=n_input, seed=self.net_seed, **{k: getattr(self, k) for k in keys})
