"""Testbench parts for ``lif_neuron``: stimulus, driver, monitor, reference model and scoreboard.

Timing convention (race free by construction): the driver changes the inputs at a falling clock
edge, the DUT samples them at the next rising edge, and the monitor samples the registered outputs
at the falling edge after that. Cycle ``k`` is the ``k``-th falling edge since time 0 (from the
simulation time, so driver and monitor cannot drift apart). The scoreboard therefore expects the
outputs for the item driven at cycle ``k`` exactly at cycle ``k + 1`` and compares *every* cycle
(valid steps, idle cycles and resets), which checks the arithmetic, the one-cycle latency and the
hold behaviour together.

The reference model is ``hw.golden.lif_step``; ``MUTANTS`` are deliberately wrong models used to
prove that the scoreboard catches a wrong model.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

from cocotb.simtime import get_sim_time
from cocotb.triggers import FallingEdge

from hw.golden import FixedLIFParams, lif_step

StepFn = Callable[[int, int, int, FixedLIFParams], tuple[int, int, int]]


class Item(NamedTuple):
    """One cycle of stimulus: a neuron step with ``current``, an idle cycle, or a reset cycle.

    Idle cycles drive ``in_valid = 0`` with a random ``current`` (it must be ignored); reset cycles
    drive ``rst = 1`` *and* ``in_valid = 1`` (``rst`` must win).
    """

    kind: Literal["step", "idle", "reset"]
    current: int = 0


class Outputs(NamedTuple):
    """The DUT's registered outputs in one cycle."""

    valid: int
    spike: int
    v: int


# ----------------------------------------------------------------------------- stimulus


def random_items(p: FixedLIFParams, n_steps: int, rng: random.Random, *,
                 idle_prob: float = 0.2, reset_every: int = 5000) -> Iterator[Item]:
    """``n_steps`` neuron steps in segments of one regime each, with idle gaps and rare resets.

    Regimes: uniform over the full input range, strong positive drive (spikes), the extremes
    (saturation), small values around 0 (rounding of the leak near 0) and zero input (decay).
    """
    regimes = ("uniform", "drive", "max", "min", "small", "zero", "uniform")
    done = 0
    while done < n_steps:
        regime = rng.choice(regimes)
        for _ in range(min(rng.randint(5, 120), n_steps - done)):
            if rng.random() < idle_prob:
                for _ in range(rng.randint(1, 3)):
                    yield Item("idle", rng.randint(p.i_min, p.i_max))
            if reset_every and rng.randrange(reset_every) == 0:
                yield Item("reset", rng.randint(p.i_min, p.i_max))
            if regime == "uniform":
                i = rng.randint(p.i_min, p.i_max)
            elif regime == "drive":
                i = rng.randint(p.i_max // 4, p.i_max)
            elif regime == "max":
                i = p.i_max
            elif regime == "min":
                i = p.i_min
            elif regime == "small":
                i = rng.randint(-3, 3)
            else:
                i = 0
            yield Item("step", i)
            done += 1


# ----------------------------------------------------------------------------- reference model


@dataclass
class Coverage:
    """What the checked stimulus exercised (counted on the model side)."""

    steps: int = 0
    idle: int = 0
    resets: int = 0
    spikes: int = 0
    sat_high: int = 0
    sat_low: int = 0
    refractory_blocked: int = 0   # steps whose input was ignored because of the refractory period
    negative_v: int = 0


class LIFModel:
    """Cycle model of ``lif_neuron``'s registered outputs; arithmetic from ``step_fn`` (the golden one)."""

    def __init__(self, p: FixedLIFParams, step_fn: StepFn = lif_step) -> None:
        self.p, self.step_fn = p, step_fn
        self.v = 0
        self.refrac = 0
        self.cov = Coverage()

    def reset(self) -> Outputs:
        self.v, self.refrac = 0, 0
        return Outputs(0, 0, 0)

    def apply(self, item: Item) -> Outputs:
        """Advance by one cycle of stimulus; the outputs the DUT must show one cycle later."""
        if item.kind == "reset":
            self.cov.resets += 1
            return self.reset()
        if item.kind == "idle":
            self.cov.idle += 1
            return Outputs(0, 0, self.v)
        p = self.p
        raw = self.v - (self.v >> p.leak_shift) + (item.current if self.refrac == 0 else 0)
        self.cov.steps += 1
        self.cov.sat_high += raw > p.v_max
        self.cov.sat_low += raw < p.v_min
        self.cov.refractory_blocked += self.refrac > 0
        spike, self.v, self.refrac = self.step_fn(self.v, self.refrac, item.current, p)
        self.cov.spikes += spike
        self.cov.negative_v += self.v < 0
        return Outputs(1, spike, self.v)


def _mutant_shift(v: int, r: int, i: int, p: FixedLIFParams) -> tuple[int, int, int]:
    """Leak shift off by one."""
    shift = p.leak_shift + 1 if p.leak_shift + 1 < p.mem_w else p.leak_shift - 1
    return lif_step(v, r, i, dataclasses.replace(p, leak_shift=shift))


def _mutant_threshold(v: int, r: int, i: int, p: FixedLIFParams) -> tuple[int, int, int]:
    """Threshold off by one (fires on ``u > THRESHOLD`` and subtracts one more)."""
    return lif_step(v, r, i, dataclasses.replace(p, threshold=min(p.threshold + 1, p.v_max)))


def _mutant_arith(v: int, r: int, i: int, p: FixedLIFParams, *, trunc: bool = False,
                  wrap: bool = False) -> tuple[int, int, int]:
    gate = r == 0
    leak = int(v / (1 << p.leak_shift)) if trunc else v >> p.leak_shift
    u = v - leak + (i if gate else 0)
    if wrap:
        u = (u - p.v_min) % (1 << p.mem_w) + p.v_min
    u = min(max(u, p.v_min), p.v_max)
    if gate and u >= p.threshold:
        return 1, (0 if p.reset_zero else u - p.threshold), p.refractory_steps
    return 0, u, max(r - 1, 0)


MUTANTS: dict[str, StepFn] = {
    "leak_shift": _mutant_shift,
    "threshold": _mutant_threshold,
    "round_to_zero": lambda v, r, i, p: _mutant_arith(v, r, i, p, trunc=True),
    "wrap": lambda v, r, i, p: _mutant_arith(v, r, i, p, wrap=True),
}


def model_step_fn(mutation: str) -> StepFn:
    """The golden step for ``"none"``, else the named deliberately wrong model."""
    if mutation == "none":
        return lif_step
    if mutation not in MUTANTS:
        raise ValueError(f"unknown mutation {mutation!r}; allowed: none, {', '.join(MUTANTS)}")
    return MUTANTS[mutation]


# ----------------------------------------------------------------------------- scoreboard


@dataclass
class Scoreboard:
    """Compares the monitor's samples with the model's expectations, cycle by cycle."""

    expected: dict[int, Outputs] = field(default_factory=dict)
    compared: int = 0
    compared_valid: int = 0
    first_mismatch: str | None = None

    def expect(self, cycle: int, out: Outputs) -> None:
        self.expected[cycle] = out

    def observe(self, cycle: int, got: Outputs) -> bool:
        """Check one sample; False (and ``first_mismatch`` set) on the first difference."""
        want = self.expected.pop(cycle, None)
        if want is None:
            return True          # before the first expectation (nothing driven yet)
        self.compared += 1
        self.compared_valid += want.valid
        if got != want:
            if self.first_mismatch is None:
                self.first_mismatch = (
                    f"cycle {cycle}: DUT (valid, spike, v) = {tuple(got)}, model = {tuple(want)} "
                    f"after {self.compared_valid} checked steps"
                )
            return False
        return True


# ----------------------------------------------------------------------------- driver / monitor


class Driver:
    """Applies ``Item``s to ``rst`` / ``in_valid`` / ``in_current`` at falling edges."""

    def __init__(self, dut, period_steps: int) -> None:
        self.dut, self.period = dut, period_steps

    async def run(self, items, on_drive: Callable[[int, Item], None]) -> None:
        dut = self.dut
        for item in items:
            await FallingEdge(dut.clk)
            dut.rst.value = int(item.kind == "reset")
            dut.in_valid.value = int(item.kind != "idle")
            dut.in_current.value = item.current
            on_drive(get_sim_time("step") // self.period, item)
        await FallingEdge(dut.clk)
        dut.in_valid.value = 0
        dut.rst.value = 0
        await FallingEdge(dut.clk)      # let the monitor see the last item's outputs


class Monitor:
    """Samples ``out_valid`` / ``out_spike`` / ``out_v`` at every falling edge."""

    def __init__(self, dut, period_steps: int) -> None:
        self.dut, self.period = dut, period_steps

    async def run(self, on_sample: Callable[[int, Outputs], bool]) -> None:
        dut = self.dut
        while True:
            await FallingEdge(dut.clk)
            got = Outputs(int(dut.out_valid.value), int(dut.out_spike.value), dut.out_v.value.to_signed())
            if not on_sample(get_sim_time("step") // self.period, got):
                return


# ----------------------------------------------------------------------------- plusargs / report


def params_to_plusarg(p: FixedLIFParams) -> str:
    return "+lif_params=" + json.dumps(dataclasses.asdict(p), separators=(",", ":"))


def params_from_plusarg(text: str) -> FixedLIFParams:
    return FixedLIFParams(**json.loads(text))


def write_report(path: str, data: dict) -> None:
    """Write the run summary atomically (temp name, then rename)."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".report.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
