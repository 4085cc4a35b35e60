"""Testbench parts for the generated spiking-MLP core (``hw.verilog.render_snn``).

* ``InputDriver`` sends each sample's spike events as valid/ready beats (one beat per input spike,
  ``in_last`` on the last beat of a step), optionally with random idle gaps.
* ``ResultMonitor`` takes every result beat (optionally with random back-pressure on
  ``res_ready``) and hands ``(class, counts, scores)`` to the scoreboard.
* ``UpdateMonitor`` watches one layer's update stream (neuron, spike, membrane) inside the core.
* ``Scoreboard`` holds the golden model's expectations (``hw.golden.snn_run``) in order and counts
  mismatches; the first one is kept with its context.

Everything samples on the falling clock edge, when the design's outputs are stable.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field

import numpy as np
from cocotb.triggers import ClockCycles, FallingEdge, RisingEdge


def beats_of(sample: np.ndarray) -> list[tuple[int, int, int]]:
    """``(spike, last, addr)`` beats of one sample's input spikes ``[T, n_in]``."""
    beats = []
    for step in sample:
        idx = np.flatnonzero(step)
        if idx.size == 0:
            beats.append((0, 1, 0))
        else:
            beats.extend((1, int(i == idx[-1]), int(i)) for i in idx)
    return beats


class InputDriver:
    """Drives ``in_valid/in_spike/in_last/in_addr`` beat by beat; ``gap`` adds random idle cycles."""

    def __init__(self, dut, rng: random.Random | None = None, gap_prob: float = 0.0, max_gap: int = 3):
        self.dut, self.rng, self.gap_prob, self.max_gap = dut, rng, gap_prob, max_gap
        self.beats_sent = 0
        dut.in_valid.value = 0
        dut.in_spike.value = 0
        dut.in_last.value = 0
        dut.in_addr.value = 0

    async def send(self, beats) -> None:
        dut = self.dut
        for spike, last, addr in beats:
            if self.rng is not None and self.rng.random() < self.gap_prob:
                dut.in_valid.value = 0
                await ClockCycles(dut.clk, self.rng.randint(1, self.max_gap), rising=False)
            dut.in_spike.value = spike
            dut.in_last.value = last
            dut.in_addr.value = addr
            dut.in_valid.value = 1
            # at a falling edge in_ready is what the next rising edge samples
            while not int(dut.in_ready.value):
                await RisingEdge(dut.in_ready)
                await FallingEdge(dut.clk)
            await FallingEdge(dut.clk)       # taken at the rising edge in between
            self.beats_sent += 1
        dut.in_valid.value = 0


@dataclass
class Scoreboard:
    """Expected items per stream, compared in order; counts comparisons and mismatches."""

    expected: dict = field(default_factory=dict)
    compared: dict = field(default_factory=dict)
    mismatches: int = 0
    first_mismatch: str | None = None

    def expect(self, stream: str, item) -> None:
        self.expected.setdefault(stream, deque()).append(item)

    def observe(self, stream: str, got, context: str = "") -> None:
        queue = self.expected.get(stream)
        self.compared[stream] = self.compared.get(stream, 0) + 1
        if not queue:
            self._fail(f"{stream}: unexpected output {got} {context}")
            return
        want = queue.popleft()
        if got != want:
            self._fail(f"{stream}: got {got}, model = {want} {context}")

    def _fail(self, text: str) -> None:
        self.mismatches += 1
        if self.first_mismatch is None:
            self.first_mismatch = text

    def pending(self) -> int:
        return sum(len(q) for q in self.expected.values())


class ResultMonitor:
    """Takes result beats; ``backpressure`` holds ``res_ready`` low for random cycles first."""

    def __init__(self, dut, c: int, cnt_w: int, score_w: int, rng: random.Random | None = None,
                 backpressure: float = 0.0):
        self.dut, self.c, self.cnt_w, self.score_w = dut, c, cnt_w, score_w
        self.rng, self.backpressure = rng, backpressure
        self.results: list[tuple] = []
        self.times: list[int] = []
        dut.res_ready.value = 0 if backpressure else 1

    def _unpack(self, value: int, width: int, signed: bool) -> tuple[int, ...]:
        out = []
        for k in range(self.c):
            x = (value >> (k * width)) & ((1 << width) - 1)
            if signed and x >> (width - 1):
                x -= 1 << width
            out.append(x)
        return tuple(out)

    async def run(self, on_result) -> None:
        from cocotb.simtime import get_sim_time

        dut = self.dut
        while True:
            if not int(dut.res_valid.value):
                await RisingEdge(dut.res_valid)
            await FallingEdge(dut.clk)
            if self.backpressure and self.rng.random() < self.backpressure:
                await ClockCycles(dut.clk, self.rng.randint(1, 6), rising=False)
            res = (int(dut.res_class.value), self._unpack(int(dut.res_counts.value), self.cnt_w, False),
                   self._unpack(int(dut.res_scores.value), self.score_w, True))
            dut.res_ready.value = 1
            await FallingEdge(dut.clk)          # taken at the rising edge in between
            if self.backpressure:
                dut.res_ready.value = 0
            self.times.append(get_sim_time("ns"))
            self.results.append(res)
            on_result(res)


class UpdateMonitor:
    """Watches layer ``k``'s update stream: one ``(neuron, spike, membrane)`` per taken beat."""

    def __init__(self, dut, k: int):
        layer = getattr(dut, f"layer{k}")
        self.valid, self.ready = layer.out_valid, layer.out_ready
        self.addr, self.spike, self.v = layer.out_addr, layer.out_spike, layer.out_v
        self.clk = dut.clk
        self.k = k

    async def run(self, on_update) -> None:
        while True:
            if not int(self.valid.value):
                await RisingEdge(self.valid)
                await FallingEdge(self.clk)
            while not int(self.ready.value):      # back-pressure from the next stage
                await FallingEdge(self.clk)
            on_update((int(self.addr.value), int(self.spike.value), int(self.v.value.to_signed())))
            await FallingEdge(self.clk)           # taken; out_valid drops for >= 2 cycles


def expected_updates(traces, sample: int) -> list[list[tuple[int, int, int]]]:
    """Per layer, the golden ``(neuron, spike, membrane)`` sequence of one sample (time-major)."""
    out = []
    for v, s in traces:
        T, _, n = v.shape
        out.append([(j, int(s[t, sample, j]), int(v[t, sample, j])) for t in range(T) for j in range(n)])
    return out


def random_stimulus(rng: np.random.Generator, n: int, T: int, n_in: int) -> np.ndarray:
    """``n`` random samples ``[n, T, n_in]`` bool, each with its own spike density in [0.01, 0.6]
    (some steps silent, some dense) so both quiet and saturating regimes occur."""
    density = rng.uniform(0.01, 0.6, size=(n, 1, 1))
    x = rng.random((n, T, n_in)) < density
    x[:, rng.random(T) < 0.1] = False      # whole silent steps
    return x
