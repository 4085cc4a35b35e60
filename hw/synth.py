"""Open synthesis: Yosys (``synth_ice40`` / ``synth_ecp5``) and nextpnr for iCE40 UP5K and ECP5 LFE5U-85F.

``synthesize(sources, top, target, out_dir)`` runs three tool steps in a temporary folder beside
``out_dir`` and renames it onto ``out_dir`` at the end (a failure leaves the previous folder, or
none, and no half-written one):

1. **elaborate** (Yosys ``hierarchy; proc; flatten; memory -nomap``, a fraction of a second): the
   memories the design infers (ROM = initialised, e.g. by ``$readmemh``) and the top's port bits.
   A design whose memories cannot fit even if every block RAM, SPRAM and LUT of the device held
   data, or with more port bits than the package has pins, stops here, before the (slow)
   synthesis. A large memory read asynchronously gives a warning: it cannot become block RAM.
2. **synthesise** (``synth_ice40 -dsp -spram`` / ``synth_ecp5``): the JSON netlist and ``stat -json``
   give the cell counts, mapped to ``resources`` (``lut``, ``ff``, ``carry``, ``bram``, ``spram``,
   ``lutram``, ``dsp``, ``alu``, ``io``, ``other``). These are compared with the device's capacity
   (``TARGETS[...].limits``, the numbers nextpnr itself reports) and a design too large raises
   ``HardwareError`` with the figures, the limits and what to change -- before place-and-route.
3. **place and route** (nextpnr ``--timing-allow-fail --report report.json``): utilisation per
   resource with the available counts, and the achieved Fmax per clock. The counts checked in
   step 2 are lower bounds (an iCE40 logic cell packs one LUT4, one FF and one carry only when
   they connect); a design that fits them but not nextpnr's packing raises the same kind of
   ``HardwareError``, naming the resource nextpnr filled past 100 %.

Sources are read with ``read_verilog -defer``: modules are elaborated only with the parameters of
their instances, so a default such as ``parameter WEIGHT_FILE = "weights.mem"`` is never opened.
Yosys in WebAssembly spends most of its time in ``techmap`` of initialised block RAMs, about 1 s
per iCE40 EBR (the digits demo network, 27 EBR: ~36 s of Yosys) and about 0.5 s per ECP5 DP16KD
(a 784-1000-10 MNIST network, 179 DP16KD: ~89 s).

The YoWASP tools run in a WebAssembly sandbox that sees only the working folder, so every source
and ``$readmemh`` file is copied into it and referred to by its bare name (the Verilog must load its
memory files by that relative name). The first run of a YoWASP tool compiles it (cached afterwards
in ``~/.cache/yowasp``). ``timing(cycles, fmax_mhz)`` turns simulated cycles per inference into
latency and throughput at Fmax.
"""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
import os
import re
import shutil
import subprocess
import tempfile
import time
import warnings
from pathlib import Path
from typing import Iterable

from neuro.errors import ConfigError, HardwareError

# memories below this many bits may sensibly live in LUTs/FFs; larger ones read asynchronously
# cannot map to block RAM and get a warning
ASYNC_MEMORY_WARN_BITS = 1024


@dataclasses.dataclass(frozen=True)
class Target:
    """One FPGA: how to synthesise and place it, and what it holds."""

    name: str
    family: str                        # "ice40" or "ecp5": the Yosys synth_* and nextpnr-* suffix
    device: str                        # human name of the part and package
    synth_command: str                 # Yosys script line, without -top / -json
    nextpnr_args: tuple[str, ...]
    bitstream_flag: str                # nextpnr's textual configuration output
    bitstream_suffix: str
    # capacity in the units of ``resources`` (nextpnr's own counts for these parts)
    limits: dict[str, int]
    # what each limit is, for messages
    units: dict[str, str]
    bram_bits: int                     # bits of one block RAM
    spram_bits: int                    # bits of one single-port RAM (0: none)
    bigger: str | None                 # the next larger target, for the fix in an error message


TARGETS: dict[str, Target] = {
    "ice40-up5k": Target(
        name="ice40-up5k", family="ice40", device="iCE40UP5K-SG48",
        # -dsp: multipliers to SB_MAC16; -spram: large RAMs without initial contents to SB_SPRAM256KA
        synth_command="synth_ice40 -dsp -spram",
        nextpnr_args=("--up5k", "--package", "sg48"), bitstream_flag="--asc", bitstream_suffix=".asc",
        limits={"lut": 5280, "ff": 5280, "carry": 5280, "bram": 30, "spram": 4, "dsp": 8, "io": 39},
        units={"lut": "logic cells (SB_LUT4)", "ff": "flip-flops (SB_DFF*)", "carry": "carry cells (SB_CARRY)",
               "bram": "4 kbit block RAMs (SB_RAM40_4K, EBR)", "spram": "256 kbit SPRAMs (SB_SPRAM256KA)",
               "dsp": "DSPs (SB_MAC16)", "io": "I/O pins (SG48 package)"},
        bram_bits=4096, spram_bits=256 * 1024, bigger="ecp5-85k",
    ),
    "ecp5-85k": Target(
        name="ecp5-85k", family="ecp5", device="LFE5U-85F-CABGA381",
        synth_command="synth_ecp5",
        nextpnr_args=("--85k", "--package", "CABGA381"), bitstream_flag="--textcfg", bitstream_suffix=".config",
        # lut: TRELLIS_COMB slots, which LUT4s, carry halves (2 per CCU2C) and distributed RAM share;
        # io: nextpnr's TRELLIS_IO count for this package
        limits={"lut": 83640, "ff": 83640, "bram": 208, "dsp": 156, "alu": 78, "io": 365},
        units={"lut": "LUT4 slots (TRELLIS_COMB: LUT4 + 2 per CCU2C + 2 per TRELLIS_DPR16X4)",
               "ff": "flip-flops (TRELLIS_FF)", "bram": "18 kbit block RAMs (DP16KD)",
               "dsp": "18x18 multipliers (MULT18X18D)", "alu": "54-bit ALUs (ALU54B)",
               "io": "I/O pins (TRELLIS_IO)"},
        bram_bits=18 * 1024, spram_bits=0, bigger=None,
    ),
}

RESOURCE_KEYS = ("lut", "ff", "carry", "bram", "spram", "lutram", "dsp", "alu", "io", "other")

# Yosys cell type -> resource key (prefix matches for the flip-flop and block-RAM variants)
_ICE40_CELLS = {"SB_LUT4": "lut", "SB_CARRY": "carry", "SB_SPRAM256KA": "spram", "SB_MAC16": "dsp"}
_ICE40_PREFIX = {"SB_DFF": "ff", "SB_RAM40_4K": "bram"}
_ECP5_CELLS = {"LUT4": "lut", "TRELLIS_COMB": "lut", "TRELLIS_FF": "ff", "CCU2C": "carry", "DP16KD": "bram",
               "PDPW16KD": "bram", "TRELLIS_DPR16X4": "lutram", "MULT18X18D": "dsp", "MULT9X9D": "dsp",
               "ALU54B": "alu"}
# cells with no resource of their own (wide-function muxes inside a slice, buffers, constants)
_FREE_CELLS = {"PFUMX", "L6MUX21", "VHI", "VLO", "$scopeinfo", "SB_GB"}


def get_target(target: str) -> Target:
    """The ``Target`` named ``target``; ``ConfigError`` listing the allowed names otherwise."""
    try:
        return TARGETS[target]
    except (KeyError, TypeError):
        raise ConfigError(f"target={target!r} is not supported; allowed: {', '.join(TARGETS)}.") from None


def resources_from_cells(cells: dict[str, int], target: str, io: int = 0) -> dict[str, int]:
    """Yosys cell counts (``num_cells_by_type``) -> ``{lut, ff, carry, bram, spram, lutram, dsp, alu, io, other}``.

    ``io`` is the top's port bits (the pins nextpnr gives an I/O cell). Cell types of neither
    family count under ``other``.
    """
    t = get_target(target)
    res = dict.fromkeys(RESOURCE_KEYS, 0)
    exact, prefix = (_ICE40_CELLS, _ICE40_PREFIX) if t.family == "ice40" else (_ECP5_CELLS, {})
    for cell, n in cells.items():
        key = exact.get(cell) or next((k for p, k in prefix.items() if cell.startswith(p)), None)
        if key is not None:
            res[key] += int(n)
        elif cell not in _FREE_CELLS:
            res["other"] += int(n)
    res["io"] = int(io)
    return res


def _needed(res: dict[str, int], t: Target) -> dict[str, int]:
    """The device slots each limit counts (a lower bound of what place-and-route will need)."""
    need = {k: int(res.get(k, 0)) for k in t.limits}
    if t.family == "ecp5":
        need["lut"] = int(res.get("lut", 0)) + 2 * int(res.get("carry", 0)) + 2 * int(res.get("lutram", 0))
    return need


_HINTS = {
    "dsp": "fewer multipliers in parallel (fewer lanes, or leak by shift instead of by multiply)",
    "alu": "fewer wide accumulators in parallel",
    "io": "a narrower top-level wrapper (e.g. a byte-wide result port)",
    "bram": "fewer or narrower weights (fewer neurons or weight bits)",
    "spram": "smaller uninitialised RAMs",
}


def _fix(t: Target, over: Iterable[str] = ()) -> str:
    hints = [_HINTS[k] for k in over if k in _HINTS]
    if hints:
        return f"fix: {'; '.join(hints)}; in general " + _fix(t)[len("fix: "):]
    fix = ("fix: shrink the design (narrower weights/membranes, fewer or smaller layers), time-multiplex more "
           "(fewer parallel lanes or neurons per cycle)")
    return fix + (f", or use the bigger target {t.bigger!r}." if t.bigger else
                  "; this is the largest target supported.")


def _table(values: dict[str, int]) -> str:
    return ", ".join(f"{k} {v:,}" for k, v in values.items())


def check_fit(resources: dict[str, int], target: str, top: str = "design") -> None:
    """Raise ``HardwareError`` when ``resources`` (from ``resources_from_cells``) exceed ``target``.

    The message lists every resource over its limit, all the design's figures, the target's
    limits and the fix.
    """
    t = get_target(target)
    need = _needed(resources, t)
    over = [k for k, cap in t.limits.items() if need[k] > cap]
    if not over:
        return
    lines = "; ".join(f"{k} {need[k]:,} > {t.limits[k]:,} {t.units.get(k, k)}" for k in over)
    raise HardwareError(
        f"{top} is too large for {t.name} ({t.device}): {lines}. Design after Yosys: "
        f"{_table({k: need[k] for k in t.limits})}; {t.name} limits: {_table(t.limits)}. {_fix(t, over)}"
    )


# ============================================================================ inputs


def _check_inputs(sources, top, mem_files, clock_mhz_goal, out_dir) -> tuple[list[Path], list[Path], Path]:
    if not isinstance(top, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_$]*", top):
        raise ConfigError(f"top={top!r} is not a Verilog module name; allowed: letters, digits and _.")
    if isinstance(sources, (str, os.PathLike)):
        sources = [sources]
    srcs = [Path(s) for s in sources]
    mems = [Path(m) for m in (mem_files or ())]
    if not srcs:
        raise ConfigError("sources is empty; pass the Verilog files of the design (.v or .sv).")
    for p in srcs:
        if p.suffix not in (".v", ".sv", ".vh", ".svh"):
            raise ConfigError(f"source {p} has suffix {p.suffix!r}; allowed: .v, .sv (.vh/.svh includes).")
    for p in srcs + mems:
        if not p.is_file():
            raise ConfigError(f"{p} does not exist (or is not a file); pass existing Verilog and $readmemh files.")
    names = [p.name for p in srcs + mems]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ConfigError(f"file names {dup} appear more than once; the tools see one flat folder, so every "
                          "source and memory file needs a distinct name.")
    if clock_mhz_goal is not None and (isinstance(clock_mhz_goal, bool) or not isinstance(clock_mhz_goal, numbers.Real)
                                       or not math.isfinite(clock_mhz_goal) or clock_mhz_goal <= 0):
        raise ConfigError(f"clock_mhz_goal={clock_mhz_goal!r}; allowed: None or a number of MHz > 0.")
    out = Path(out_dir).resolve()
    inside = [p for p in srcs + mems if out == p.resolve().parent or out in p.resolve().parents]
    if inside:
        raise ConfigError(f"out_dir {out} holds the input {inside[0]}; it is replaced by the synthesis results, "
                          "so pass a separate folder (e.g. RUN_DIR/hw/synth).")
    return srcs, mems, out


def _find_tools(t: Target) -> tuple[str, str]:
    from hw import sim

    return sim.find_tool("yosys"), sim.find_tool(f"nextpnr-{t.family}")


# ============================================================================ running the tools


def _tail(text: str, n: int = 25) -> str:
    return "\n".join(text.strip().splitlines()[-n:])


def _run(cmd: list[str], cwd: Path, log: Path, what: str, timeout_s: float, *, tool_writes_log: bool) -> float:
    """Run ``cmd`` in ``cwd``; returns the wall seconds. The console output goes to ``log`` unless the
    tool writes that log itself (Yosys ``-l``). A failure raises ``HardwareError`` with the log's end."""
    t0 = time.perf_counter()
    try:
        res = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise HardwareError(f"{what} did not finish in {timeout_s:.0f} s; shrink the design or raise "
                            "timeout_s.") from None
    wall = time.perf_counter() - t0
    out = res.stdout + res.stderr
    if not tool_writes_log or not log.exists():
        log.write_text(out)
    if res.returncode != 0:
        detail = log.read_text(errors="replace")
        hint = ""
        if "Unable to find a placement location" in detail or "no BELs remaining" in detail:
            hint = " (after packing, the design may not fit the device: shrink it or use a bigger target)"
        elif "$readmemh" in detail or "$readmemb" in detail:
            hint = " (pass every file the Verilog loads with $readmemh/$readmemb in mem_files=[...])"
        raise HardwareError(f"{what} failed (exit {res.returncode}){hint}; last lines of its log:\n{_tail(detail)}")
    return wall


def _param_int(v) -> int:
    if isinstance(v, int):
        return v
    s = str(v)
    return int(s, 2) if s and set(s) <= {"0", "1"} else 0


def memories_from_netlist(netlist: dict, top: str) -> list[dict]:
    """The ``$mem_v2`` cells of ``top`` in a Yosys JSON netlist (after ``memory -nomap``).

    Each: ``name``, ``width``, ``depth``, ``bits``, ``initialised`` (any defined initial bit,
    e.g. from ``$readmemh``), ``rom`` (no write port), ``async_read`` (a read port without a clock).
    """
    mod = netlist.get("modules", {}).get(top, {})
    mems = []
    for cname, cell in mod.get("cells", {}).items():
        if cell.get("type") != "$mem_v2":
            continue
        p = cell.get("parameters", {})
        width, depth = _param_int(p.get("WIDTH", 0)), _param_int(p.get("SIZE", 0))
        rd_ports = _param_int(p.get("RD_PORTS", 0))
        clk_en = str(p.get("RD_CLK_ENABLE", "")).rjust(rd_ports, "0")
        init = str(p.get("INIT", ""))
        mems.append({
            "name": str(p.get("MEMID", cname)).lstrip("\\"), "width": width, "depth": depth, "bits": width * depth,
            "initialised": any(c in "01" for c in init), "rom": _param_int(p.get("WR_PORTS", 0)) == 0,
            "async_read": rd_ports > 0 and "0" in clk_en[-rd_ports:],
        })
    return mems


def check_memories(mems: list[dict], io: int, target: str, top: str = "design") -> None:
    """Before synthesis: raise ``HardwareError`` when the memories cannot fit ``target`` even with every
    block RAM, SPRAM (RAM without initial contents only) and LUT (16 bits each) holding data, or when
    the top has more port bits than the package has I/O pins. Warn about large asynchronous reads."""
    t = get_target(target)
    luts = t.limits["lut"]
    block = t.limits["bram"] * t.bram_bits
    spram = t.limits.get("spram", 0) * t.spram_bits
    init_bits = sum(m["bits"] for m in mems if m["initialised"])
    total = sum(m["bits"] for m in mems)
    cap_init = block + 16 * luts
    cap_all = cap_init + spram
    problems = []
    if init_bits > cap_init:
        problems.append(f"initialised memories (ROMs, $readmemh) need {init_bits:,} bits > {cap_init:,} "
                        f"(= {t.limits['bram']} block RAMs x {t.bram_bits:,} bits + {luts:,} LUT4s x 16 bits)")
    if total > cap_all:
        problems.append(f"all memories need {total:,} bits > {cap_all:,} (block RAM {block:,}"
                        + (f" + SPRAM {spram:,}" if spram else "") + f" + {luts:,} LUT4s x 16 bits)")
    if io > t.limits["io"]:
        problems.append(f"the top has {io:,} port bits > {t.limits['io']:,} {t.units['io']}")
    if problems:
        biggest = sorted(mems, key=lambda m: -m["bits"])[:4]
        listing = ", ".join(f"{m['name']} {m['depth']}x{m['width']}" for m in biggest)
        raise HardwareError(
            f"{top} is too large for {t.name} ({t.device}), found before synthesis: " + "; ".join(problems)
            + (f". Largest memories: {listing}" if listing else "") + f". {t.name} limits: {_table(t.limits)}. "
            + _fix(t, ["io"] if io > t.limits["io"] else []))
    for m in mems:
        if m["async_read"] and m["bits"] >= ASYNC_MEMORY_WARN_BITS:
            warnings.warn(f"memory {m['name']} ({m['depth']}x{m['width']} = {m['bits']:,} bits) in {top} is read "
                          "asynchronously, so it is built from LUTs, not block RAM; register its read "
                          "(`always @(posedge clk) q <= mem[addr];`) to map it to block RAM.", stacklevel=3)


def _read_cmd(names: list[str]) -> str:
    v = [n for n in names if n.endswith(".v")]
    sv = [n for n in names if n.endswith(".sv")]
    lines = [f"read_verilog -defer {' '.join(v)}"] if v else []
    if sv:
        lines.append(f"read_verilog -defer -sv {' '.join(sv)}")
    return "\n".join(lines)


def _summarise_report(report: dict) -> tuple[dict, dict]:
    util = {}
    for bel, u in sorted(report.get("utilization", {}).items()):
        avail, used = int(u.get("available", 0)), int(u.get("used", 0))
        if avail > 0:
            util[bel] = {"used": used, "available": avail, "percent": round(100.0 * used / avail, 2)}
    fmax = {clk: {"achieved_mhz": float(v["achieved"]), "constraint_mhz": float(v.get("constraint", 0.0))}
            for clk, v in report.get("fmax", {}).items()}
    return util, fmax


# nextpnr resource -> key of ``placed`` (what place-and-route used, after packing)
_PLACED = {
    "ice40": {"ICESTORM_LC": "logic_cells", "ICESTORM_RAM": "bram", "ICESTORM_SPRAM": "spram",
              "ICESTORM_DSP": "dsp", "SB_IO": "io"},
    "ecp5": {"TRELLIS_COMB": "logic_cells", "TRELLIS_FF": "ff", "TRELLIS_RAMW": "lutram", "DP16KD": "bram",
             "MULT18X18D": "dsp", "ALU54B": "alu", "TRELLIS_IO": "io"},
}


def synthesize(sources: Iterable[Path], top: str, target: str, out_dir: Path, *, mem_files: Iterable[Path] = (),
               clock_mhz_goal: float | None = None, progress: bool = True, seed: int = 1,
               timeout_s: float = 3600.0) -> dict:
    """Synthesise, check and place-and-route ``top`` for ``target``; results in ``out_dir``.

    ``sources``: Verilog files; ``mem_files``: the ``$readmemh`` files they load by bare name.
    ``clock_mhz_goal``: nextpnr's ``--freq`` (its default, 12 MHz, when None); timing failures are
    allowed (``--timing-allow-fail``) and the achieved Fmax is reported. Returns::

        {"target", "device", "top",
         "resources": {lut, ff, carry, bram, spram, lutram, dsp, alu, io, other},   # after Yosys
         "limits": {...},                 # the device capacity the resources were checked against
         "cells": {Yosys cell type: count},
         "memories": [{name, width, depth, bits, initialised, rom, async_read}],   # as inferred
         "utilisation": {nextpnr resource: {used, available, percent}},
         "placed": {logic_cells, ff (ECP5), bram, spram (iCE40), lutram (ECP5), dsp, alu (ECP5), io}:
                   the same {used, available, percent} under common names (logic cells after packing),
         "fmax_mhz": lowest achieved Fmax over the clocks (None without a clock),
         "fmax_by_clock": {clock: {achieved_mhz, constraint_mhz}}, "timing_met": bool | None,
         "yosys_s", "nextpnr_s", "elaborate_s",
         "logs": {elaborate, yosys, nextpnr}, "files": {netlist, stat, report, bitstream, script}}

    Raises ``ConfigError`` for an unknown target or bad input, ``HardwareError`` for a missing tool
    (naming the package), a design too large for the target (before place-and-route) or a failing tool.
    """
    t = get_target(target)
    srcs, mems_in, out = _check_inputs(sources, top, mem_files, clock_mhz_goal, out_dir)
    yosys, nextpnr = _find_tools(t)
    from tqdm.auto import tqdm

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    os.chmod(tmp, 0o755)                               # mkdtemp's 0700 would carry over to out_dir
    bar = tqdm(total=3, desc=f"synth {t.name}", unit="stage", disable=not progress)
    try:
        for p in srcs + mems_in:
            shutil.copyfile(p, tmp / p.name)
        names = [p.name for p in srcs if p.suffix in (".v", ".sv")]
        read = _read_cmd(names)

        # ---- 1. elaborate: memories and ports, before the slow synthesis
        bar.set_postfix_str("elaborate")
        (tmp / "elaborate.ys").write_text(
            f"{read}\nhierarchy -check -top {top}\nproc\nflatten\nopt_clean\nmemory -nomap\nopt_clean\n"
            "write_json elaborated.json\ntee -q -o elaborated_stat.json stat -json\n")
        elab_s = _run([yosys, "-q", "-l", "elaborate.log", "-s", "elaborate.ys"], tmp, tmp / "elaborate.log",
                      f"Yosys elaboration of {top}", timeout_s, tool_writes_log=True)
        elab = json.loads((tmp / "elaborated.json").read_text())
        io = int(_design_stat(json.loads((tmp / "elaborated_stat.json").read_text()), top).get("num_port_bits", 0))
        memories = memories_from_netlist(elab, top)
        (tmp / "elaborated.json").unlink()            # large (memory contents); the log keeps the summary
        check_memories(memories, io, t.name, top)
        bar.update()

        # ---- 2. synthesise and compare with the device
        bar.set_postfix_str("yosys " + t.synth_command.split()[0])
        netlist = f"{top}.json"
        (tmp / "synth.ys").write_text(
            f"{read}\n{t.synth_command} -top {top} -json {netlist}\ntee -q -o stat.json stat -json\n")
        yosys_s = _run([yosys, "-q", "-l", "yosys.log", "-s", "synth.ys"], tmp, tmp / "yosys.log",
                       f"Yosys {t.synth_command.split()[0]} of {top}", timeout_s, tool_writes_log=True)
        stat = _design_stat(json.loads((tmp / "stat.json").read_text()), top)
        cells = {k: int(v) for k, v in sorted(stat.get("num_cells_by_type", {}).items())}
        resources = resources_from_cells(cells, t.name, io=int(stat.get("num_port_bits", io)))
        check_fit(resources, t.name, top)
        bar.update()

        # ---- 3. place and route
        bar.set_postfix_str(f"nextpnr-{t.family}")
        bitstream = f"{top}{t.bitstream_suffix}"
        cmd = [nextpnr, *t.nextpnr_args, "--json", netlist, t.bitstream_flag, bitstream, "--report", "report.json",
               "--timing-allow-fail", "--seed", str(int(seed))]
        if t.family == "ice40":
            cmd.append("--pcf-allow-unconstrained")
        if clock_mhz_goal is not None:
            cmd += ["--freq", f"{float(clock_mhz_goal):g}"]
        (tmp / "nextpnr.cmd").write_text(" ".join(["nextpnr-" + t.family] + cmd[1:]) + "\n")
        try:
            nextpnr_s = _run(cmd, tmp, tmp / "nextpnr.log", f"nextpnr-{t.family} for {t.device}", timeout_s,
                             tool_writes_log=False)
        except HardwareError:
            _raise_if_overfull((tmp / "nextpnr.log").read_text(errors="replace"), t, top, resources)
            raise
        util, fmax = _summarise_report(json.loads((tmp / "report.json").read_text()))
        bar.update()

        achieved = [v["achieved_mhz"] for v in fmax.values()]
        fmax_mhz = min(achieved) if achieved else None
        timing_met = (None if clock_mhz_goal is None or fmax_mhz is None else bool(fmax_mhz >= clock_mhz_goal))
        result = {
            "target": t.name, "device": t.device, "top": top,
            "resources": resources, "limits": dict(t.limits), "cells": cells, "memories": memories,
            "utilisation": util, "placed": {key: util[bel] for bel, key in _PLACED[t.family].items() if bel in util},
            "fmax_mhz": fmax_mhz, "fmax_by_clock": fmax,
            "clock_mhz_goal": clock_mhz_goal, "timing_met": timing_met,
            "elaborate_s": round(elab_s, 3), "yosys_s": round(yosys_s, 3), "nextpnr_s": round(nextpnr_s, 3),
            "logs": {k: str(out / f"{k}.log") for k in ("elaborate", "yosys", "nextpnr")},
            "files": {"netlist": str(out / netlist), "stat": str(out / "stat.json"), "report": str(out / "report.json"),
                      "bitstream": str(out / bitstream), "script": str(out / "synth.ys")},
        }
        (tmp / "synth.json").write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
        _replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        bar.close()
    return result


_UTIL_LINE = re.compile(r"^Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s+\d+%", re.M)


def _raise_if_overfull(log: str, t: Target, top: str, resources: dict[str, int]) -> None:
    """After a failed nextpnr run: ``HardwareError`` naming each device resource its packer filled past 100 %."""
    over = [(bel, int(u), int(a)) for bel, u, a in _UTIL_LINE.findall(log) if int(u) > int(a)]
    if not over:
        return
    lines = "; ".join(f"{bel} {u:,} > {a:,}" for bel, u, a in over)
    raise HardwareError(
        f"{top} is too large for {t.name} ({t.device}) after nextpnr packed it: {lines} (Yosys counted "
        f"{_table({k: resources[k] for k in ('lut', 'ff', 'carry', 'bram', 'dsp')})}; an iCE40 logic cell holds one "
        f"LUT4 + one FF + one carry, an ECP5 slot one LUT4). {t.name} limits: {_table(t.limits)}. {_fix(t)}")


def _design_stat(stat: dict, top: str) -> dict:
    """``stat -json``'s whole-design totals (its ``design`` entry), else the top module's."""
    if "design" in stat:
        return stat["design"]
    mods = stat.get("modules", {})
    return mods.get(f"\\{top}") or mods.get(top) or {}


def _replace_dir(tmp: Path, out: Path) -> None:
    """Move the finished ``tmp`` onto ``out`` (the old ``out`` is moved aside first, then deleted)."""
    old = None
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
        os.replace(out, old / out.name)
    try:
        os.replace(tmp, out)
    except BaseException:
        if old is not None:                         # put the previous results back
            os.replace(old / out.name, out)
            shutil.rmtree(old, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


# ============================================================================ cycles -> time


def timing(cycles_per_inference: int, fmax_mhz: float) -> dict:
    """Latency and throughput of ``cycles_per_inference`` clock cycles at ``fmax_mhz``.

    ``{"latency_us": cycles / fmax_mhz, "throughput_inf_per_s": fmax_mhz * 1e6 / cycles}``: one
    inference after another, no overlap (for a pipelined design pass its initiation interval).
    """
    if (isinstance(cycles_per_inference, bool) or not isinstance(cycles_per_inference, numbers.Integral)
            or cycles_per_inference < 1):
        raise ConfigError(f"cycles_per_inference={cycles_per_inference!r}; allowed: an int >= 1 "
                          "(clock cycles from simulation).")
    if (isinstance(fmax_mhz, bool) or not isinstance(fmax_mhz, numbers.Real) or not math.isfinite(fmax_mhz)
            or fmax_mhz <= 0):
        raise ConfigError(f"fmax_mhz={fmax_mhz!r}; allowed: a finite number of MHz > 0 (nextpnr's Fmax).")
    cycles, f = int(cycles_per_inference), float(fmax_mhz)
    return {"latency_us": cycles / f, "throughput_inf_per_s": f * 1e6 / cycles}
