"""RTL tests of the generated ``lif_neuron`` against the integer golden model ``hw.golden``.

Two halves, as in cocotb's examples:

* the cocotb test ``random_steps_match_golden`` runs inside the simulator: random stimulus with
  idle gaps and resets goes through a driver, a monitor samples the outputs every cycle and a
  scoreboard compares them bit-exactly (valid, spike, membrane) with ``hw.golden.lif_step``;
* the pytest functions render the Verilog for a parameter set, build it with
  ``cocotb_tools.runner`` for Verilator and Icarus, run the cocotb test and assert the numbers of
  its report (steps checked, spikes, saturations, refractory steps). The mutation tests run the
  same cocotb test against a deliberately wrong model and assert that the run fails.

Settings travel as plusargs: ``+lif_params=<json>``, ``+lif_steps=N``, ``+lif_mutation=NAME``,
``+lif_report=PATH``.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import cocotb
import pytest
from cocotb.clock import Clock
from cocotb.simtime import get_sim_time
from cocotb.triggers import FallingEdge, First
from cocotb.utils import get_sim_steps
from cocotb_tools.runner import get_runner

from hw.golden import FixedLIFParams
from hw.sim import require_or_skip
from hw.verilog import verilog_parameters, write_lif_neuron
from rtl_tests.lif_neuron.tb import (
    MUTANTS,
    Driver,
    Item,
    LIFModel,
    Monitor,
    Scoreboard,
    model_step_fn,
    params_from_plusarg,
    params_to_plusarg,
    random_items,
    write_report,
)

CLOCK_NS = 10
RESET_CYCLES = 3


# ============================================================================ cocotb side


def _check_dut_parameters(dut, p: FixedLIFParams) -> list[str]:
    """Names of the DUT parameters that the simulator exposes and that match ``p``."""
    seen = []
    for name, want in verilog_parameters(p).items():
        try:
            got = int(getattr(dut, name).value)
        except (AttributeError, TypeError, ValueError):
            continue  # not every simulator exposes parameters through VPI
        assert got == want, f"DUT parameter {name}={got} but the test expects {want}"
        seen.append(name)
    return seen


@cocotb.test()
async def random_steps_match_golden(dut):
    """Random steps with idle gaps and resets; every cycle's outputs equal the golden model's."""
    p = params_from_plusarg(str(cocotb.plusargs["lif_params"]))
    n_steps = int(cocotb.plusargs.get("lif_steps", 20000))
    mutation = str(cocotb.plusargs.get("lif_mutation", "none"))
    report_path = cocotb.plusargs.get("lif_report")
    checked_params = _check_dut_parameters(dut, p)

    period = get_sim_steps(CLOCK_NS, "ns")
    Clock(dut.clk, CLOCK_NS, unit="ns").start(start_high=False)
    dut.rst.value = 1
    dut.in_valid.value = 0
    dut.in_current.value = 0
    for _ in range(RESET_CYCLES):
        await FallingEdge(dut.clk)

    model = LIFModel(p, model_step_fn(mutation))
    scoreboard = Scoreboard()
    scoreboard.expect(get_sim_time("step") // period + 1, model.reset())  # outputs of the reset

    rng = random.Random(cocotb.RANDOM_SEED)
    items = list(random_items(p, n_steps, rng)) + [Item("idle"), Item("idle")]

    def on_drive(cycle: int, item: Item) -> None:
        scoreboard.expect(cycle + 1, model.apply(item))

    monitor = cocotb.start_soon(Monitor(dut, period).run(scoreboard.observe))
    driver = cocotb.start_soon(Driver(dut, period).run(items, on_drive))
    await First(driver, monitor)
    if scoreboard.first_mismatch is None:
        await FallingEdge(dut.clk)   # the last idle item's outputs
        await FallingEdge(dut.clk)
    driver.cancel()
    monitor.cancel()

    cov = model.cov
    summary = {
        "params": {k: getattr(p, k) for k in p.__dataclass_fields__},
        "mutation": mutation,
        "seed": cocotb.RANDOM_SEED,
        "items": len(items),
        "compared_cycles": scoreboard.compared,
        "compared_steps": scoreboard.compared_valid,
        "first_mismatch": scoreboard.first_mismatch,
        "dut_parameters_checked": checked_params,
        "coverage": vars(cov),
    }
    if report_path:
        write_report(str(report_path), summary)
    dut._log.info("lif_neuron summary: %s", json.dumps(summary))

    assert scoreboard.first_mismatch is None, f"mismatch against the {mutation} model: {scoreboard.first_mismatch}"
    assert not scoreboard.expected, f"{len(scoreboard.expected)} expected outputs never observed"
    assert scoreboard.compared == len(items) + 1, (scoreboard.compared, len(items))
    assert scoreboard.compared_valid == cov.steps == n_steps


# ============================================================================ pytest side

# one parameter set per corner of the arithmetic; EXPECT_SAT names the saturations each must reach
PARAM_SETS: dict[str, FixedLIFParams] = {
    # subtractive reset, no refractory period, negative saturation
    "sub16": FixedLIFParams(mem_w=16, in_w=12, leak_shift=5, threshold=3000, reset="subtract",
                            refractory_steps=0),
    # reset to zero, refractory 3, threshold at V_MAX: spikes only through positive saturation
    "zero16_refrac3": FixedLIFParams(mem_w=16, in_w=12, leak_shift=7, threshold=32767, reset="zero",
                                     refractory_steps=3),
    # narrow: IN_W == MEM_W = 8, saturates both ways, subtractive reset, refractory 2
    "sub8_refrac2": FixedLIFParams(mem_w=8, in_w=8, leak_shift=2, threshold=50, reset="subtract",
                                   refractory_steps=2),
}
EXPECT_SAT = {"sub16": ("sat_low",), "zero16_refrac3": ("sat_high", "sat_low"),
              "sub8_refrac2": ("sat_high", "sat_low")}
SEEDS = {"sub16": 11, "zero16_refrac3": 22, "sub8_refrac2": 33}
N_STEPS = 20_000
TEST_MODULE = "rtl_tests.lif_neuron.test_lif_neuron"


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    """``build(sim, name)``: a cocotb runner with the generated ``lif_neuron`` for ``PARAM_SETS[name]``.

    Builds once per (simulator, parameter set) and module; the Verilog is rendered into the build
    folder by ``hw.verilog.write_lif_neuron``.
    """
    built = {}

    def _build(sim: str, name: str):
        if (sim, name) not in built:
            require_or_skip("verilator" if sim == "verilator" else "icarus")
            build_dir = tmp_path_factory.mktemp(f"{sim}_{name}")
            src = write_lif_neuron(PARAM_SETS[name], build_dir / "lif_neuron.v")
            runner = get_runner(sim)
            runner.build(
                sources=[src],
                hdl_toplevel="lif_neuron",
                build_dir=build_dir / "sim_build",
                build_args=(["-Wall"] if sim == "verilator" else ["-g2005"]),   # lint clean / plain Verilog-2005
                timescale=("1ns", "1ps"),
                log_file=build_dir / "build.log",
            )
            built[sim, name] = runner
        return built[sim, name]

    return _build


def _run(runner, name: str, test_dir: Path, *, mutation: str = "none", n_steps: int = N_STEPS) -> dict:
    """Run the cocotb test; its JSON report. A failing run raises SystemExit (cocotb_tools under pytest)."""
    report = test_dir / "report.json"
    runner.test(
        test_module=TEST_MODULE,
        hdl_toplevel="lif_neuron",
        hdl_toplevel_lang="verilog",
        test_dir=test_dir,
        seed=SEEDS[name],
        plusargs=[params_to_plusarg(PARAM_SETS[name]), f"+lif_steps={n_steps}",
                  f"+lif_mutation={mutation}", f"+lif_report={report}"],
        log_file=test_dir / "sim.log",
    )
    return json.loads(report.read_text())


def _assert_golden_run(rep: dict, name: str) -> None:
    p = PARAM_SETS[name]
    cov = rep["coverage"]
    assert rep["first_mismatch"] is None
    assert len(rep["dut_parameters_checked"]) == 6      # the DUT was built with these parameters
    assert rep["compared_steps"] == cov["steps"] == N_STEPS
    assert rep["compared_cycles"] == rep["items"] + 1
    assert cov["idle"] > N_STEPS // 10          # idle gaps were exercised
    assert cov["resets"] >= 1
    assert cov["spikes"] > 50
    assert cov["negative_v"] > 100
    for key in EXPECT_SAT[name]:
        assert cov[key] > 0, f"{key} never reached for {name}: {cov}"
    if p.refractory_steps:
        assert cov["refractory_blocked"] >= cov["spikes"]   # every spike opens a refractory period
    else:
        assert cov["refractory_blocked"] == 0


def _run_golden(runner, name: str, test_dir: Path) -> dict:
    try:
        return _run(runner, name, test_dir)
    except SystemExit as e:
        report, log = test_dir / "report.json", test_dir / "sim.log"
        detail = (json.loads(report.read_text())["first_mismatch"] if report.is_file() else None) or (
            log.read_text(errors="replace")[-3000:] if log.is_file() else "no simulator log")
        pytest.fail(f"cocotb run failed (exit {e.code}) for {name}: {detail}", pytrace=False)


@pytest.mark.hw
@pytest.mark.parametrize("name", list(PARAM_SETS))
def test_lif_neuron_verilator(build, name, tmp_path):
    """Verilator: 20,000 random steps per parameter set match the golden model bit-exactly."""
    _assert_golden_run(_run_golden(build("verilator", name), name, tmp_path), name)


@pytest.mark.hw
@pytest.mark.parametrize("name", list(PARAM_SETS))
def test_lif_neuron_icarus(build, name, tmp_path):
    """Icarus Verilog: the same stimulus and checks as with Verilator."""
    _assert_golden_run(_run_golden(build("icarus", name), name, tmp_path), name)


def _assert_mutant_caught(runner, name: str, mutation: str, tmp_path: Path) -> None:
    # cocotb_tools' runner ends a failing run under pytest with SystemExit(1)
    with pytest.raises(SystemExit) as exc:
        _run(runner, name, tmp_path, mutation=mutation)
    assert exc.value.code != 0
    rep = json.loads((tmp_path / "report.json").read_text())
    assert rep["mutation"] == mutation
    assert rep["first_mismatch"] is not None, "the wrong model was not caught"
    assert "model = " in rep["first_mismatch"]
    assert rep["compared_steps"] < N_STEPS          # stopped at the first mismatch


@pytest.mark.hw
@pytest.mark.parametrize("mutation", sorted(MUTANTS))
def test_lif_neuron_mutants_caught_icarus(build, mutation, tmp_path):
    """Each deliberately wrong model (leak shift, threshold, rounding, wrap-around) is caught."""
    _assert_mutant_caught(build("icarus", "sub8_refrac2"), "sub8_refrac2", mutation, tmp_path)


@pytest.mark.hw
def test_lif_neuron_mutant_caught_verilator(build, tmp_path):
    """The leak shift off by one is caught on Verilator too (reuses the sub16 build)."""
    _assert_mutant_caught(build("verilator", "sub16"), "sub16", "leak_shift", tmp_path)

