"""Energy profiles (data files with provenance) and the energy model: counts -> joules.

Three tiers are computed separately and never summed (tier c, measured energy, is in
``neuro.energy.measure``):

- **a, op-count proxy** (the common practice): ``E = eff_MACs * e_mac + eff_ACs * e_ac``.
- **b, hardware-aware analytic model**: the ops of tier a, plus neuron updates (spiking) or
  activations (ANN), spikes routed, memory accesses priced by the size of the buffer they hit
  (weights, membrane state, inputs, outputs of each layer at the profile's precision: the smallest
  SRAM level that holds the buffer, else DRAM), plus static power times latency, where latency =
  (synaptic ops + neuron updates) / throughput + T * time per step (T steps cost time).
- **FPGA**: ``fpga_estimate(hw_report, activity, profile)`` prices the toggles of a cocotb
  simulation, the clock tree, BRAM and DSP per cycle, and the device's static power.

A profile is a TOML file (``neuro/energy/profiles/*.toml`` or your own path) with the tables
``[profile]`` (name, description, source, provenance in measured/simulated/derived,
technology_nm, precision, bits, notes), ``[ops_pj]`` (mac, ac, neuron_update, activation, spike;
``nan`` = the hardware cannot do it), ``[memory]`` (word_bits, sram_kb, sram_read_pj,
sram_write_pj, dram_read_pj, dram_write_pj: pJ per word access) and ``[timing]``
(static_power_w, ops_per_s, step_s). FPGA profiles have ``kind = "fpga"`` and an ``[fpga]`` table
(vcc_core_v, pj_per_toggle, pj_per_ff_clock, pj_per_bram_cycle, pj_per_dsp_cycle,
static_power_w). A missing or unknown field is a ConfigError naming it.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from pathlib import Path

from neuro.errors import ConfigError

PROFILE_DIR = Path(__file__).parent / "profiles"
PROVENANCES = ("measured", "simulated", "derived")
PJ = 1e-12

_PROFILE_FIELDS = {"name": str, "description": str, "source": str, "provenance": str, "notes": str,
                   "technology_nm": (int, float), "precision": str, "bits": int}
_TABLES = {
    "ops_pj": {"mac": (int, float), "ac": (int, float), "neuron_update": (int, float),
               "activation": (int, float), "spike": (int, float)},
    "memory": {"word_bits": int, "sram_kb": list, "sram_read_pj": list, "sram_write_pj": list,
               "dram_read_pj": (int, float), "dram_write_pj": (int, float)},
    "timing": {"static_power_w": (int, float), "ops_per_s": (int, float), "step_s": (int, float)},
    "fpga": {"vcc_core_v": (int, float), "pj_per_toggle": (int, float), "pj_per_ff_clock": (int, float),
             "pj_per_bram_cycle": (int, float), "pj_per_dsp_cycle": (int, float),
             "static_power_w": (int, float)},
}
DEFAULT_PROFILES = ("horowitz45_fp32", "horowitz45_int8", "loihi", "truenorth", "spinnaker2",
                    "cpu_generic", "gpu_generic")
FPGA_PROFILES = {"ice40-up5k": "ice40_up5k", "ecp5-85k": "ecp5_85k"}


@dataclass(frozen=True)
class Profile:
    """A validated profile: ``meta`` ([profile]) and the numeric tables, as plain dicts."""

    meta: dict
    ops_pj: dict
    memory: dict
    timing: dict
    fpga: dict
    path: str

    @property
    def name(self) -> str:
        return self.meta["name"]

    @property
    def kind(self) -> str:
        return self.meta.get("kind", "chip")

    def provenance(self) -> dict:
        return {k: self.meta[k] for k in ("source", "provenance", "technology_nm", "precision", "bits", "notes")}


def list_profiles() -> list[str]:
    """Names of the bundled profiles."""
    return sorted(p.stem for p in PROFILE_DIR.glob("*.toml"))


def load_profile(name_or_path: str | Path) -> Profile:
    """A bundled profile by name (``horowitz45_fp32``) or any TOML file by path."""
    p = Path(name_or_path)
    if not (p.suffix == ".toml" and p.is_file()):
        p = PROFILE_DIR / f"{name_or_path}.toml"
        if not p.is_file():
            raise ConfigError(f"energy profile {str(name_or_path)!r} not found; allowed: a bundled name "
                              f"({', '.join(list_profiles())}) or the path of a .toml profile file.")
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"energy profile {str(p)!r} is not valid TOML: {e}. Fix the file.") from e
    return parse_profile(data, str(p))


def parse_profile(data: dict, where: str = "<profile>") -> Profile:
    """Validate a profile dict (see the module docstring); ConfigError names the missing/bad field."""
    def need(table: str, spec: dict, sect: dict) -> None:
        for key, tp in spec.items():
            if key not in sect:
                raise ConfigError(f"energy profile {where}: missing field {table}.{key}; allowed: a profile with "
                                  f"every field of [{table}] ({', '.join(spec)}). Add {table}.{key} with its source.")
            v = sect[key]
            if isinstance(v, bool) or not isinstance(v, tp):
                raise ConfigError(f"energy profile {where}: {table}.{key}={v!r} has the wrong type; allowed: "
                                  f"{tp.__name__ if isinstance(tp, type) else 'a number'}.")
        unknown = sorted(set(sect) - set(spec) - ({"kind"} if table == "profile" else set()))
        if unknown:
            raise ConfigError(f"energy profile {where}: unknown field {table}.{unknown[0]}; allowed: "
                              f"{', '.join(spec)}.")

    if "profile" not in data:
        raise ConfigError(f"energy profile {where}: missing table [profile]; allowed tables: profile, ops_pj, "
                          "memory, timing (chip profiles) or profile, fpga (kind = \"fpga\").")
    meta = data["profile"]
    need("profile", _PROFILE_FIELDS, meta)
    if meta["provenance"] not in PROVENANCES:
        raise ConfigError(f"energy profile {where}: profile.provenance={meta['provenance']!r}; allowed: "
                          f"{', '.join(PROVENANCES)}.")
    kind = meta.get("kind", "chip")
    tables = ("fpga",) if kind == "fpga" else ("ops_pj", "memory", "timing")
    if kind not in ("chip", "fpga"):
        raise ConfigError(f"energy profile {where}: profile.kind={kind!r}; allowed: chip, fpga.")
    for t in tables:
        if t not in data:
            raise ConfigError(f"energy profile {where}: missing table [{t}] (fields {', '.join(_TABLES[t])}).")
        need(t, _TABLES[t], data[t])
        for k, v in data[t].items():
            vals = v if isinstance(v, list) else [v]
            if any(not isinstance(x, (int, float)) or x < 0 for x in vals):
                raise ConfigError(f"energy profile {where}: {t}.{k}={v!r}; allowed: numbers >= 0 (nan = the "
                                  "hardware cannot do this operation).")
    extra = sorted(set(data) - {"profile", *tables})
    if extra:
        raise ConfigError(f"energy profile {where}: unknown table [{extra[0]}]; allowed: profile, "
                          f"{', '.join(tables)}.")
    if kind == "chip":
        m = data["memory"]
        if not (len(m["sram_kb"]) == len(m["sram_read_pj"]) == len(m["sram_write_pj"]) >= 1):
            raise ConfigError(f"energy profile {where}: memory.sram_kb, sram_read_pj and sram_write_pj must have "
                              "the same length >= 1 (one entry per SRAM size).")
        if list(m["sram_kb"]) != sorted(m["sram_kb"]):
            raise ConfigError(f"energy profile {where}: memory.sram_kb={m['sram_kb']} must be increasing.")
        if data["timing"]["ops_per_s"] <= 0:
            raise ConfigError(f"energy profile {where}: timing.ops_per_s must be > 0.")
    return Profile(meta, data.get("ops_pj", {}), data.get("memory", {}), data.get("timing", {}),
                   data.get("fpga", {}), where)


# ---------------------------------------------------------------------------------------------
# tiers a and b


def access_pj(profile: Profile, buffer_bytes: float, bits: int, write: bool = False) -> float:
    """pJ to read (or write) one ``bits``-wide value from a buffer of ``buffer_bytes``: the smallest
    SRAM level that holds it, else DRAM; a word's energy scaled by ``bits / word_bits``."""
    m = profile.memory
    table = m["sram_write_pj"] if write else m["sram_read_pj"]
    word = None
    for kb, e in zip(m["sram_kb"], table):
        if buffer_bytes <= kb * 1024:
            word = e
            break
    if word is None:
        word = m["dram_write_pj"] if write else m["dram_read_pj"]
    return word * bits / m["word_bits"]


def _nan0(x: float) -> float:
    return 0.0 if x == 0 else x


def estimate(counts: dict, profile: Profile, *, bits: int | None = None) -> dict:
    """Energy per inference of ``counts`` (``Counts.to_dict()``) under ``profile``, tiers a and b.

    ``bits``: precision of stored values for memory traffic and buffer sizes (default: the
    profile's). Returns ``{"profile", "tier_a_j", "tier_b_j", "supported", "layers": [...],
    "breakdown_j": {...}, "latency_s"}``; a tier is ``None`` when the profile cannot run an
    operation the model needs (``nan`` coefficient with a non-zero count)."""
    if profile.kind != "chip":
        raise ConfigError(f"profile {profile.name!r} is an FPGA profile; allowed here: a chip profile. Use "
                          "fpga_estimate() for FPGA designs.")
    ops, tm = profile.ops_pj, profile.timing
    bits = int(bits or profile.meta["bits"])
    layers, supported = [], True
    keys = ("macs", "acs", "neurons", "spikes", "weights_mem", "state_mem", "input_mem", "output_mem")
    total = dict.fromkeys(keys, 0.0)
    work = 0.0
    for l in counts["layers"]:
        spiking = l["kind"] == "spiking"
        upd_pj = ops["neuron_update"] if spiking else ops["activation"]
        parts = {"macs": l["eff_macs"] * ops["mac"] if l["eff_macs"] else 0.0,
                 "acs": l["eff_acs"] * ops["ac"] if l["eff_acs"] else 0.0,
                 "neurons": l["neuron_updates"] * upd_pj if l["neuron_updates"] else 0.0,
                 "spikes": l["spikes"] * ops["spike"] if spiking and l["spikes"] else 0.0}
        wbytes = l["params"] * bits / 8
        sbytes = l["n_out"] * max(l["n_state"], 1) * bits / 8
        ibytes = l["n_in"] * (1 if spiking else bits) / 8
        obytes = l["n_out"] * bits / 8
        parts["weights_mem"] = l["weight_reads"] * access_pj(profile, wbytes, bits)
        parts["state_mem"] = l["state_reads"] * access_pj(profile, sbytes, bits) + \
            l["state_writes"] * access_pj(profile, sbytes, bits, write=True)
        parts["input_mem"] = l["input_reads"] * access_pj(profile, ibytes, bits)
        parts["output_mem"] = l["output_writes"] * access_pj(profile, obytes, bits, write=True)
        ok = not any(math.isnan(v) for v in parts.values())
        supported &= ok
        a = (parts["macs"] + parts["acs"]) * PJ
        layers.append({"name": l["name"], "tier_a_j": a if ok else None,
                       "tier_b_dynamic_j": sum(parts.values()) * PJ if ok else None,
                       "breakdown_j": {k: v * PJ for k, v in parts.items()}})
        for k in keys:
            total[k] += parts[k]
        work += l["synops"] + l["neuron_updates"]
    steps = counts.get("steps", 1) if counts.get("spiking") else 1
    latency = work / tm["ops_per_s"] + steps * tm["step_s"]
    static = tm["static_power_w"] * latency
    dynamic = sum(total.values()) * PJ
    return {"profile": profile.name, "bits": bits, "supported": bool(supported),
            "tier_a_j": (total["macs"] + total["acs"]) * PJ if supported else None,
            "tier_b_j": dynamic + static if supported else None,
            "tier_b_dynamic_j": dynamic if supported else None, "tier_b_static_j": static,
            "latency_s": latency, "breakdown_j": {k: v * PJ for k, v in total.items()}, "layers": layers}


def break_even_synops_per_synapse(profile: Profile) -> float | None:
    """Tier-a break-even of a spiking layer against a dense ANN layer of the same shape: an SNN
    synapse carrying ``s`` events per inference costs ``s * e_ac`` against one MAC ``e_mac``, so the
    SNN wins below ``s = e_mac / e_ac`` synaptic events per synapse per inference (5.1 for Horowitz
    fp32, 7.7 for int8). None when the profile lacks a MAC or AC price."""
    e_mac, e_ac = profile.ops_pj["mac"], profile.ops_pj["ac"]
    if math.isnan(e_mac) or math.isnan(e_ac) or e_ac == 0:
        return None
    return e_mac / e_ac


# ---------------------------------------------------------------------------------------------
# FPGA tier


def fpga_estimate(hw_report: dict, activity: dict, profile: Profile) -> dict:
    """Energy per inference of an FPGA design from ``neuro hw build`` outputs.

    ``hw_report``: ``RUN_DIR/hw/report.json`` (resources {lut, ff, bram, dsp}, fmax_mhz,
    cycles_per_inference, latency_us, ...). ``activity``: ``RUN_DIR/hw/sim/activity.json``
    ({cycles, samples, toggles_total, clock_mhz, ...}) counted from the cocotb simulation's VCD.

    dynamic = (toggles_total * pj_per_toggle + cycles * (ff * pj_per_ff_clock + bram *
    pj_per_bram_cycle + dsp * pj_per_dsp_cycle)) / samples;
    latency = latency_us, else cycles_per_inference / fmax_mhz, else (cycles_per_inference or
    cycles / samples) / clock_mhz; static = static_power_w * latency. Energies in joules. Resources
    that are None (synthesis not run) are priced as 0 and listed in ``resources_missing``."""
    if profile.kind != "fpga":
        raise ConfigError(f"profile {profile.name!r} is not an FPGA profile; allowed: "
                          f"{', '.join(FPGA_PROFILES.values())} or your own file with kind = \"fpga\".")
    for key in ("cycles", "samples", "toggles_total"):
        if key not in activity:
            raise ConfigError(f"activity.json lacks {key!r}; allowed: a file written by `neuro hw build` with "
                              "cycles, samples, toggles_total, clock_mhz.")
    if activity["samples"] <= 0:
        raise ConfigError(f"activity.json: samples={activity['samples']}; allowed: >= 1.")
    res = hw_report.get("resources") or {}
    missing = [k for k in ("ff", "bram", "dsp") if res.get(k) is None]  # no synthesis: priced as 0
    f = profile.fpga
    cycles, samples = float(activity["cycles"]), float(activity["samples"])
    parts_pj = {"toggles": activity["toggles_total"] * f["pj_per_toggle"],
                "clock": cycles * (res.get("ff") or 0) * f["pj_per_ff_clock"],
                "bram": cycles * (res.get("bram") or 0) * f["pj_per_bram_cycle"],
                "dsp": cycles * (res.get("dsp") or 0) * f["pj_per_dsp_cycle"]}
    per_inf = {k: v / samples * PJ for k, v in parts_pj.items()}
    if hw_report.get("latency_us"):
        latency, how = hw_report["latency_us"] * 1e-6, "report latency_us"
    elif hw_report.get("cycles_per_inference") and hw_report.get("fmax_mhz"):
        latency, how = hw_report["cycles_per_inference"] / (hw_report["fmax_mhz"] * 1e6), "cycles / fmax"
    elif activity.get("clock_mhz"):
        cyc = hw_report.get("cycles_per_inference") or cycles / samples
        latency, how = cyc / (activity["clock_mhz"] * 1e6), "cycles at the simulation clock (no Fmax)"
    else:
        raise ConfigError("no latency: report.json has no latency_us or cycles_per_inference + fmax_mhz, and "
                          "activity.json has no clock_mhz; allowed: any one of them.")
    dynamic = sum(per_inf.values())
    static = f["static_power_w"] * latency
    return {"profile": profile.name, "design": hw_report.get("design"), "target": hw_report.get("target"),
            "verified": hw_report.get("verified"), "resources": res, "fmax_mhz": hw_report.get("fmax_mhz"),
            "latency_s": latency, "latency_from": how, "dynamic_j": dynamic, "static_j": static,
            "total_j": dynamic + static, "breakdown_j": per_inf,
            "toggles_per_inference": activity["toggles_total"] / samples, "resources_missing": missing}
