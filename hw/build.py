"""``neuro hw build``: a trained run folder -> verified firmware, simulation logs, synthesis and a report.

Stages (each writes one sub-folder of ``RUN_DIR/hw/``):

``golden/``   fixed-point network (``net.npz``), quantization report, fixed vs float accuracy on the
              evaluation split, the RTL stimulus (encoded test images) and the golden answers.
``verilog/``  generated sources + ``$readmemh`` files; Verilator ``--lint-only -Wall`` log.
``sim/``      cocotb runs: random stimulus with idle gaps and back-pressure, every neuron update
              of every layer compared (>= ``min_neuron_steps``), then ``samples`` test images with
              their classes compared; a short traced run for switching activity (``activity.json``).
``synth/``    Yosys + nextpnr for the target (``hw.synth``): resources and Fmax.
``hls4ml/``   conventional networks only: the hls4ml project and its C-simulation comparison.

Everything is built in a temporary folder beside ``RUN_DIR/hw`` and renamed into place at the end,
so a failed build leaves the previous ``hw/`` (or none) and no half-written one.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from neuro.errors import ConfigError, HardwareError

TARGETS = ("ice40-up5k", "ecp5-85k")
SIMULATORS = ("verilator", "icarus")


def _progress(enabled: bool, total: int, desc: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, disable=not enabled, unit="stage")


def encoded_images(run, n: int, seed_offset: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The first ``n`` evaluation images encoded as the trainer's evaluation does (encoder seed
    ``train.seed + 1``): spikes ``[T, n, n_in]`` bool, labels ``[n]`` and float predictions ``[n]``.
    More than the split holds: the split again with the next encoder seeds (new spike trains)."""
    import torch

    from neuro.train.trainer import encode

    cfg, model, data = run.cfg, run.model, run.data
    spikes, labels, preds = [], [], []
    left, rep = n, 0
    while left > 0:
        gen = torch.Generator().manual_seed(cfg.train.seed + seed_offset + rep)
        m = min(left, len(data.x_eval))
        for lo in range(0, m, 256):
            xb = encode(data.x_eval[lo:min(lo + 256, m)], cfg, gen)
            with torch.no_grad():
                preds.append(model.logits(model.run(xb, "torch")).argmax(-1).numpy())
            spikes.append(xb.numpy() > 0)
        labels.append(data.y_eval[:m].numpy())
        left -= m
        rep += 1
    return np.concatenate(spikes, axis=1), np.concatenate(labels), np.concatenate(preds)


def _lint(sources: list[Path], top: str, log: Path) -> dict:
    from hw.sim import find_verilator

    exe = find_verilator()
    res = subprocess.run([exe, "--lint-only", "-Wall", "--top-module", top, *[p.name for p in sources]],
                         cwd=sources[0].parent, capture_output=True, text=True, env=os.environ.copy())
    log.write_text(res.stdout + res.stderr)
    return {"clean": res.returncode == 0 and "%Warning" not in res.stderr, "returncode": res.returncode}


def build_snn(run, out: Path, *, target: str, sim: str, samples: int, min_neuron_steps: int, qc,
              synth: bool, progress: bool, max_lanes: int = 4, activity_samples: int = 2) -> dict:
    """The spiking-MLP path into ``out`` (the temporary ``hw/``); returns the report dict."""
    from hw import snn_sim
    from hw.golden import save_snn, snn_run
    from hw.quant import quantize_snn, report_dict
    from hw.verilog import write_snn
    from hw.verilog.generate import layer_lanes
    from neuro.io import write_json
    import torch

    from neuro.train.trainer import encode

    cfg = run.cfg
    bar = _progress(progress, 5 if synth else 4, "hw build")
    t_start = time.perf_counter()
    # ---- golden
    gdir = out / "golden"
    gdir.mkdir(parents=True)
    calib = encode(run.data.x_train[:256], cfg, torch.Generator().manual_seed(cfg.train.seed + 7)).numpy()
    net, layers = quantize_snn(run.model, cfg.data.num_steps, calib, qc)
    save_snn(net, gdir / "net.npz")
    n_eval = len(run.data.x_eval)
    x_all, y_all, float_pred = encoded_images(run, max(n_eval, samples))
    fixed_pred = np.concatenate([snn_run(net, x_all[:, lo:lo + 512]).pred for lo in range(0, x_all.shape[1], 512)])
    float_acc = float(np.mean(float_pred[:n_eval] == y_all[:n_eval]))
    fixed_acc = float(np.mean(fixed_pred[:n_eval] == y_all[:n_eval]))
    x_rtl = x_all[:, :samples].transpose(1, 0, 2)
    with open(gdir / "stimulus.npz", "wb") as f:
        np.savez_compressed(f, spikes=np.packbits(x_rtl, axis=-1), labels=y_all[:samples])
    quant = report_dict(net, layers, qc)
    quant.update(float_accuracy=float_acc, fixed_accuracy=fixed_acc, eval_samples=n_eval,
                 float_fixed_agreement=float(np.mean(float_pred[:n_eval] == fixed_pred[:n_eval])))
    write_json(gdir / "quant.json", quant)
    bar.update()
    # ---- verilog
    vdir = out / "verilog"
    files = write_snn(net, vdir, max_lanes=max_lanes)
    sources = [p for name, p in files.items() if name.endswith(".v")]
    lint = _lint(sources, "snn_top_io", vdir / "lint.log")
    bar.update()
    # ---- simulation
    sdir = out / "sim"
    runner = snn_sim.build(vdir, sim, sdir / f"build_{sim}")
    per_sample = int(sum(net.sizes[1:]) * net.num_steps)
    n_random = max(1, math.ceil(min_neuron_steps / per_sample))
    rand = snn_sim.simulate(runner, vdir, gdir / "net.npz", sdir / "random", mode="random", samples=n_random,
                            trace=True, seed=cfg.train.seed + 11, gap_prob=0.1, backpressure=0.3, sim=sim)
    imgs = snn_sim.simulate(runner, vdir, gdir / "net.npz", sdir / "images", mode="images", samples=samples,
                            stimulus=gdir / "stimulus.npz", sim=sim)
    rtl_classes = np.asarray(imgs.pop("rtl_classes"), dtype=np.int64)
    imgs.pop("golden_classes")
    rand.pop("rtl_classes"), rand.pop("golden_classes")
    activity = _activity(vdir, gdir, sdir, samples=min(activity_samples, samples))
    write_json(sdir / "summary.json", {"random": rand, "images": imgs})
    bar.update()
    # ---- synthesis
    resources, fmax, syn = {"lut": None, "ff": None, "bram": None, "dsp": None}, None, None
    if synth:
        from hw.synth import synthesize

        mems = [p for name, p in files.items() if name.endswith(".mem")]
        syn = synthesize(sources, "snn_top_io", target, out / "synth", mem_files=mems, progress=progress)
        resources, fmax = syn["resources"], syn["fmax_mhz"]
        bar.update()
    bar.close()
    cycles = imgs["latency_cycles_first"]
    y_rtl = y_all[:samples]
    mismatches = int(rand["mismatches"] + imgs["mismatches"] + int(np.sum(rtl_classes != fixed_pred[:samples])))
    report = {
        "design": "spiking_mlp", "sizes": list(net.sizes), "lanes": [layer_lanes(n, max_lanes) for n in net.sizes[1:]], "num_steps": net.num_steps, "readout": net.readout,
        "target": target, "simulator": sim, "run": str(run.path),
        "verified": bool(rand["passed"] and imgs["passed"] and mismatches == 0 and len(rtl_classes) == samples),
        "mismatches": mismatches, "samples": samples,
        "neuron_steps_verified": rand["neuron_steps_compared"],
        "float_accuracy": float_acc, "fixed_accuracy": fixed_acc, "accuracy_eval_samples": n_eval,
        "rtl_accuracy": float(np.mean(rtl_classes == y_rtl)) if len(rtl_classes) else None,
        "fixed_accuracy_on_rtl_samples": float(np.mean(fixed_pred[:samples] == y_rtl)),
        "rtl_samples_from": "evaluation split" + (" (repeated with new encoder seeds)" if samples > n_eval else ""),
        "resources": resources, "utilisation": syn.get("utilisation") if syn else None,
        "fmax_mhz": fmax, "cycles_per_inference": cycles,
        "cycles_per_inference_streaming": imgs["cycles_per_inference"],
        "latency_us": (cycles / fmax) if (fmax and cycles) else None,
        "throughput_inferences_per_s": (fmax * 1e6 / imgs["cycles_per_inference"]) if fmax else None,
        "lint_clean": lint["clean"],
        "activity": {k: activity[k] for k in ("cycles", "samples", "toggles_total", "toggles_per_cycle")}
        if activity else None, "quantization": {k: quant[k] for k in ("config", "layers")},
        "sim_wall_s": {"random": rand["wall_s"], "images": imgs["wall_s"]},
        "wall_s": round(time.perf_counter() - t_start, 1),
    }
    return report


def _activity(vdir: Path, gdir: Path, sdir: Path, samples: int) -> dict | None:
    """Switching activity of ``samples`` test images (Verilator with a VCD) -> ``sim/activity.json``.
    None when Verilator is not available (Icarus writes FST, which this reader does not parse)."""
    from hw import snn_sim
    from hw.activity import vcd_toggles
    from neuro.io import write_json

    try:
        runner = snn_sim.build(vdir, "verilator", sdir / "build_waves", waves=True)
    except HardwareError:
        return None
    rep = snn_sim.simulate(runner, vdir, gdir / "net.npz", sdir / "activity", mode="images", samples=samples,
                           stimulus=gdir / "stimulus.npz", sim="verilator", waves=True)
    vcd = sdir / "activity" / "dump.vcd"
    tog = vcd_toggles(vcd)
    cycles = int(rep["cycles_total"])
    act = {"cycles": cycles, "samples": samples, "toggles_total": tog["toggles_total"],
           "toggles_per_cycle": tog["toggles_total"] / max(cycles, 1), "signals": tog["signals"],
           "clock_mhz": 1e3 / snn_sim.CLOCK_NS, "verified": rep["passed"],
           "toggles_by_signal": tog["toggles_by_signal"]}
    write_json(sdir / "activity.json", act)
    vcd.unlink()                                     # tens of MB; the counts are what is kept
    return act


def build(run_dir: str | Path, *, target: str = "ice40-up5k", sim: str = "verilator", samples: int = 100,
          min_neuron_steps: int = 100_000, weight_bits: int = 8, mem_bits: int = 16, synth: bool = True,
          max_lanes: int = 4, vendor_build: bool = False, progress: bool = True) -> dict:
    """Build, verify and synthesise ``run_dir``'s network into ``run_dir/hw``; returns the report."""
    from hw.quant import QuantConfig
    from neuro.io import write_json, write_text
    from neuro.train.run import load_run

    if target not in TARGETS:
        raise ConfigError(f"target={target!r}; allowed: {', '.join(TARGETS)}.")
    if sim not in SIMULATORS:
        raise ConfigError(f"sim={sim!r}; allowed: {', '.join(SIMULATORS)}.")
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ConfigError(f"samples={samples!r}; allowed: an int >= 1 (test images simulated on the RTL).")
    qc = QuantConfig(weight_bits=weight_bits, mem_bits=mem_bits)
    run = load_run(run_dir)
    final = Path(run_dir) / "hw"
    tmp = Path(tempfile.mkdtemp(prefix=".hw.", dir=run_dir))
    try:
        if getattr(run.model, "spiking", False):
            report = build_snn(run, tmp, target=target, sim=sim, samples=samples, min_neuron_steps=min_neuron_steps,
                               qc=qc, synth=synth, progress=progress, max_lanes=max_lanes)
        else:
            report = build_ann(run, tmp, target=target, samples=samples, weight_bits=weight_bits,
                               vendor_build=vendor_build, progress=progress)
        write_json(tmp / "report.json", report)
        write_text(tmp / "report.md", report_markdown(report))
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return report


def build_ann(run, out: Path, *, target: str, samples: int, weight_bits: int, vendor_build: bool,
              progress: bool) -> dict:
    """Conventional networks: the hls4ml project and its bit-accurate C simulation (``hw.hls4ml_export``)."""
    from hw.hls4ml_export import export_ann

    data = run.data
    n = len(data.x_eval)          # the C simulation is fast: the whole evaluation split
    res = export_ann(run.model, data.x_train[:256], data.x_eval[:n], data.y_eval[:n], out / "hls4ml",
                     weight_bits=weight_bits, vendor_build=vendor_build, progress=progress)
    res["project_dir"] = "hls4ml/project"            # relative to RUN_DIR/hw (built in a temp folder)
    agree = res.get("csim_vs_golden_argmax_agreement")
    exact = res.get("csim_vs_golden_max_abs")
    return {
        "design": run.cfg.model.kind, "target": target, "simulator": "hls4ml C simulation (g++)", "run": str(run.path),
        "verified": bool(exact == 0 and agree == 1.0), "mismatches": int(round((1 - (agree or 0)) * n)),
        "samples": n, "float_accuracy": res.get("float_accuracy"), "fixed_accuracy": res.get("fixed_accuracy"),
        "rtl_accuracy": None, "csim_accuracy": res.get("csim_accuracy"),
        "resources": {"lut": None, "ff": None, "bram": None, "dsp": None}, "fmax_mhz": None,
        "cycles_per_inference": None, "latency_us": None, "hls4ml": res,
        "note": "RTL for the conventional network needs Vitis HLS (hls4ml build(), --vendor-build); the C "
                "simulation is bit-accurate to the HLS code and is compared with the golden model.",
    }


def report_markdown(r: dict) -> str:
    """A short human-readable report of a hardware build."""
    def pct(x):
        return "-" if x is None else f"{100 * x:.2f} %"

    res = r.get("resources") or {}
    lines = [f"# Hardware build: {r['design']} on {r['target']}", "",
             f"- verified: **{r['verified']}** ({r['mismatches']} mismatches; {r['samples']} test images"
             + (f", {r['neuron_steps_verified']:,} random neuron-steps traced" if r.get("neuron_steps_verified") else "")
             + f"; simulator {r['simulator']})",
             f"- accuracy: float {pct(r['float_accuracy'])}, fixed point {pct(r['fixed_accuracy'])}"
             + (f", RTL {pct(r['rtl_accuracy'])} on its {r['samples']} images" if r.get("rtl_accuracy") is not None else ""),
             "- resources: " + ", ".join(f"{k} {v}" for k, v in res.items() if v is not None) if any(
                 v is not None for v in res.values()) else ("- resources: not synthesised" if "hls4ml" not in r
                                                             else "- resources: from Vitis HLS only (--vendor-build)"),
             f"- Fmax: {r['fmax_mhz']:.1f} MHz" if r.get("fmax_mhz") else "- Fmax: -",
             f"- cycles per inference: {r['cycles_per_inference']:,.0f}" if r.get("cycles_per_inference") else "",
             f"- latency: {r['latency_us']:.1f} us at Fmax" if r.get("latency_us") else ""]
    if r.get("note"):
        lines += ["- note: " + r["note"]]
    return "\n".join(line for line in lines if line) + "\n"
