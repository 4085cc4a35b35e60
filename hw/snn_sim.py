"""cocotb verification of a generated spiking-MLP core against ``hw.golden``, and its runner.

Two halves, as in cocotb's examples:

* ``snn_matches_golden`` (a cocotb test, runs inside the simulator) drives input spike events
  through ``hw.snn_tb.InputDriver``, takes the results with ``ResultMonitor`` and, with
  ``trace``, every layer's neuron updates with ``UpdateMonitor``; a ``Scoreboard`` compares all of
  it bit-exactly with ``hw.golden.snn_run`` (or a deliberately wrong model: ``mutation``).
* ``simulate`` (Python side) builds the rendered sources with ``cocotb_tools.runner`` for
  Verilator or Icarus, runs the test and returns its JSON report: samples, neuron-steps compared,
  mismatches, the RTL's classes and the measured cycles.

Settings travel in one JSON file named by the plusarg ``+snn_cfg=PATH``.
"""

from __future__ import annotations

import json
import random
import shutil
import time
from pathlib import Path

import cocotb
import numpy as np

from hw.golden import load_snn, mutate_snn, snn_run
from neuro.errors import HardwareError

CLOCK_NS = 10
TOPLEVEL = "snn_top"
TEST_MODULE = "hw.snn_sim"


# ============================================================================ cocotb side


def _cycle_bound(net, n: int) -> int:
    """Cycles no sample can exceed (every input spiking at every step), for the watchdog."""
    per_step = sum(l.n_in * (l.n_out + 4) + 4 * l.n_out for l in net.layers) + 4 * net.sizes[-1]
    return n * net.num_steps * per_step + 10_000


@cocotb.test()
async def snn_matches_golden(dut):
    """Every result (and, with trace, every neuron update) equals the golden model's."""
    from cocotb.clock import Clock
    from cocotb.simtime import get_sim_time
    from cocotb.triggers import ClockCycles, Event, FallingEdge, with_timeout

    from hw.snn_tb import InputDriver, ResultMonitor, Scoreboard, UpdateMonitor, beats_of, expected_updates, \
        random_stimulus

    cfg = json.loads(Path(str(cocotb.plusargs["snn_cfg"])).read_text())
    net = load_snn(cfg["net"])
    model = mutate_snn(net, cfg.get("mutation", "none"))
    n, T, n_in = int(cfg["samples"]), net.num_steps, net.sizes[0]
    rng = random.Random(int(cfg.get("seed", 1)))
    if cfg["mode"] == "images":
        with np.load(cfg["stimulus"]) as z:
            x = np.unpackbits(z["spikes"], axis=-1, count=n_in).astype(bool)[:n]
    else:
        x = random_stimulus(np.random.default_rng(int(cfg.get("seed", 1))), n, T, n_in)
    if len(x) < n:
        raise HardwareError(f"the stimulus holds {len(x)} samples; {n} were asked for.")
    trace = bool(cfg.get("trace", False))
    gold = snn_run(model, x.transpose(1, 0, 2), trace=trace)

    readout = cfg["readout"]
    Clock(dut.clk, CLOCK_NS, unit="ns").start(start_high=False)
    dut.rst.value = 1
    driver = InputDriver(dut, rng, gap_prob=float(cfg.get("gap_prob", 0.0)))
    results = ResultMonitor(dut, readout["C"], readout["CNT_W"], readout["SCORE_W"], rng,
                            backpressure=float(cfg.get("backpressure", 0.0)))
    await ClockCycles(dut.clk, 3, rising=False)
    dut.rst.value = 0

    board = Scoreboard()
    for i in range(n):
        board.expect("result", (int(gold.pred[i]), tuple(int(c) for c in gold.counts[i]),
                                tuple(int(s) for s in gold.scores[i])))
    done = Event()
    got_classes: list[int] = []

    def on_result(res) -> None:
        got_classes.append(res[0])
        board.observe("result", res, f"(sample {len(got_classes) - 1})")
        if len(got_classes) == n:
            done.set()

    tasks = [cocotb.start_soon(results.run(on_result))]
    if trace:
        for i in range(n):
            for k, seq in enumerate(expected_updates(gold.traces, i)):
                for item in seq:
                    board.expect(f"layer{k}", item)
        for k in range(len(net.layers)):
            mon = UpdateMonitor(dut, k)
            tasks.append(cocotb.start_soon(mon.run(
                lambda upd, k=k: board.observe(f"layer{k}", upd, f"(layer {k})"))))

    await FallingEdge(dut.clk)
    t0 = get_sim_time("ns")

    async def feed() -> None:
        for i in range(n):
            await driver.send(beats_of(x[i]))
        await done.wait()

    timed_out = False
    try:
        await with_timeout(feed(), _cycle_bound(net, n) * CLOCK_NS, "ns")
    except Exception as e:  # cocotb's SimTimeoutError
        if type(e).__name__ != "SimTimeoutError":
            raise
        timed_out = True
    for task in tasks:
        task.cancel()

    times = [(t - t0) / CLOCK_NS for t in results.times]
    neuron_steps = sum(board.compared.get(f"layer{k}", 0) for k in range(len(net.layers)))
    report = {
        "mode": cfg["mode"], "simulator": cfg.get("simulator"), "mutation": cfg.get("mutation", "none"),
        "samples": n, "results": len(got_classes), "timed_out": timed_out,
        "neuron_steps_compared": neuron_steps, "neuron_steps_per_sample": int(sum(net.sizes[1:]) * T),
        "mismatches": board.mismatches + (n - len(got_classes)), "first_mismatch": board.first_mismatch,
        "pending": board.pending(), "rtl_classes": got_classes, "golden_classes": [int(p) for p in gold.pred],
        "input_beats": driver.beats_sent,
        "latency_cycles_first": times[0] if times else None,
        "cycles_total": times[-1] if times else None,
        "cycles_per_inference": (times[-1] / len(times)) if times else None,
    }
    Path(str(cfg["report"])).write_text(json.dumps(report))
    assert not timed_out, f"the core did not finish {n} samples within {_cycle_bound(net, n)} cycles"
    assert board.first_mismatch is None, board.first_mismatch
    assert len(got_classes) == n and board.pending() == 0, (len(got_classes), board.pending())


# ============================================================================ Python side


def build(sources_dir: str | Path, sim: str, build_dir: str | Path, *, waves: bool = False):
    """Build the core rendered into ``sources_dir`` for ``sim`` (``verilator`` or ``icarus``); the runner."""
    from cocotb_tools.runner import get_runner

    from hw.sim import find_tool

    if sim not in ("verilator", "icarus"):
        from neuro.errors import ConfigError

        raise ConfigError(f"sim={sim!r}; allowed: verilator, icarus.")
    find_tool("verilator" if sim == "verilator" else "icarus")
    src = Path(sources_dir)
    sources = sorted(src.glob("*.v"))
    if not sources:
        raise HardwareError(f"no Verilog sources in {str(src)!r}; render the core first (hw.verilog.write_snn).")
    runner = get_runner(sim)
    runner.build(sources=sources, hdl_toplevel=TOPLEVEL, build_dir=Path(build_dir),
                 build_args=(["-Wall"] if sim == "verilator" else ["-g2005"]),
                 timescale=("1ns", "1ps"), waves=waves, log_file=Path(build_dir) / "build.log", always=True)
    return runner


def simulate(runner, sources_dir: str | Path, net_file: str | Path, test_dir: str | Path, *, mode: str,
             samples: int, stimulus: str | Path | None = None, mutation: str = "none", trace: bool = False,
             seed: int = 1, gap_prob: float = 0.0, backpressure: float = 0.0, sim: str = "",
             waves: bool = False) -> dict:
    """Run ``snn_matches_golden`` once; its report plus ``passed`` and ``wall_s``.

    The memory files next to the sources are copied into ``test_dir`` (``$readmemh`` reads them by
    relative name from the simulator's working folder).
    """
    from neuro.io import write_json

    from hw.verilog import snn_readout_parameters

    test_dir = Path(test_dir)
    test_dir.mkdir(parents=True, exist_ok=True)
    for mem in Path(sources_dir).glob("*.mem"):
        shutil.copyfile(mem, test_dir / mem.name)
    net = load_snn(net_file)
    report_file = test_dir / "report.json"
    report_file.unlink(missing_ok=True)
    cfg = {"net": str(Path(net_file).resolve()), "mode": mode, "samples": int(samples), "mutation": mutation,
           "trace": trace, "seed": seed, "gap_prob": gap_prob, "backpressure": backpressure, "simulator": sim,
           "stimulus": str(Path(stimulus).resolve()) if stimulus else None, "report": str(report_file.resolve()),
           "readout": snn_readout_parameters(net)}
    write_json(test_dir / "cfg.json", cfg)
    t0 = time.perf_counter()
    passed = True
    try:
        runner.test(test_module=TEST_MODULE, hdl_toplevel=TOPLEVEL, hdl_toplevel_lang="verilog",
                    test_dir=test_dir, seed=seed, plusargs=[f"+snn_cfg={(test_dir / 'cfg.json').resolve()}"],
                    log_file=test_dir / "sim.log", waves=waves)
        passed = _results_passed(test_dir)
    except SystemExit:
        passed = False
    wall = time.perf_counter() - t0
    if not report_file.is_file():
        log = test_dir / "sim.log"
        tail = log.read_text(errors="replace")[-3000:] if log.is_file() else "no simulator log"
        raise HardwareError(f"the {sim or 'RTL'} simulation wrote no report; the end of its log:\n{tail}")
    rep = json.loads(report_file.read_text())
    rep.update(passed=passed and rep["mismatches"] == 0 and not rep["timed_out"], wall_s=round(wall, 2))
    return rep


def _results_passed(test_dir: Path) -> bool:
    """True when the cocotb results file of ``test_dir`` has no failure."""
    from cocotb_tools.runner import get_results

    files = sorted(Path(test_dir).glob("*result*.xml"))
    if not files:
        return False
    _, failed = get_results(files[-1])
    return failed == 0
