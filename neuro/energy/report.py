"""``neuro energy report RUN_DIR [RUN_DIR ...] --out DIR``: energy comparison of trained runs.

For every run folder (written by ``neuro train``): load the model, count operations and memory
accesses on its evaluation data (the same inputs and spike encoding as ``trainer.evaluate``),
price the counts with every profile (tier a: op proxy; tier b: hardware-aware model), measure
energy where this machine exposes counters (tier c), and, when ``RUN_DIR/hw/report.json`` exists,
estimate the FPGA design's energy from its resources and simulated switching activity. Spiking
runs are paired with ANN runs of the same dataset and layer shapes for SNN/ANN ratios, with the
fair baselines: the ANN's effective (sparsity-aware) MACs, the ANN quantized to
``ceil(log2(T+1))`` bits, and both sides at the same precision (each profile prices both).

Writes ``report.json`` (everything), ``report.md`` and a self-contained ``report.html`` (plots
embedded as PNG data URIs). The tiers are reported side by side and never added together.
"""

from __future__ import annotations

import base64
import io
import math
import time
from pathlib import Path

import numpy as np
import torch

from neuro.energy import counting
from neuro.energy.measure import available_counters, measure_energy
from neuro.energy.model import (DEFAULT_PROFILES, FPGA_PROFILES, break_even_synops_per_synapse, estimate,
                                fpga_estimate, load_profile)
from neuro.errors import ConfigError
from neuro.io import atomic_path, write_json, write_text

BATCH = 256  # same batches (and so the same input spikes) as trainer.evaluate


def count_run(run, *, max_samples: int | None = None, progress: bool = True) -> counting.Counts:
    """Counts of a loaded run (``neuro.train.run.LoadedRun``) on its evaluation split."""
    from tqdm.auto import tqdm

    from neuro.train.trainer import encode

    cfg, model = run.cfg, run.model
    x = run.data.x_eval
    if max_samples:
        x = x[:max_samples]
    name = run.path.name
    if not cfg.model.spiking:
        return counting.count_ann(model, x, batch_size=BATCH, name=name, progress=progress)
    gen = torch.Generator().manual_seed(cfg.train.seed + 1)
    parts = []
    for lo in tqdm(range(0, len(x), BATCH), desc=f"count {name}", unit="batch", disable=not progress):
        xb = encode(x[lo:lo + BATCH], cfg, gen)
        parts.append(counting.count_model(model, xb, backend="torch", batch_size=BATCH, name=name))
    return counting.merge(parts)


def _measure(run, x: torch.Tensor, counters: dict) -> dict:
    if counters["reason"]:
        return {"available": False, "reason": counters["reason"]}
    from neuro.train.trainer import encode

    cfg, model = run.cfg, run.model
    xb = x[:BATCH]
    if cfg.model.spiking:
        xb = encode(xb, cfg, torch.Generator().manual_seed(cfg.train.seed + 1))

    def fn() -> None:
        with torch.no_grad():
            model.run(xb, "torch") if cfg.model.spiking else model(xb)

    return measure_energy(fn, int(x[:BATCH].shape[0]))


def _fpga(run_dir: Path, profile_names: list[str]) -> dict:
    import json

    rep = run_dir / "hw" / "report.json"
    if not rep.is_file():
        return {"available": False, "reason": "no hardware build (run `neuro hw build RUN_DIR` first)"}
    hw = json.loads(rep.read_text())
    act_path = run_dir / "hw" / "sim" / "activity.json"
    if not act_path.is_file():
        return {"available": False, "reason": "the hardware build has no sim/activity.json (switching activity)",
                "hw": {k: hw.get(k) for k in ("design", "target", "verified", "resources", "fmax_mhz")}}
    act = json.loads(act_path.read_text())
    names = [n for n in profile_names if load_profile(n).kind == "fpga"] or \
        [FPGA_PROFILES.get(hw.get("target"), "ice40_up5k")]
    return {"available": True, "estimates": {n: fpga_estimate(hw, act, load_profile(n)) for n in names}}


def _pairs(runs: list[dict]) -> list[tuple[dict, dict]]:
    """(spiking run, ANN run) with the same dataset and the same connection-layer shapes."""
    def shape(r):
        return [(l["n_in"], l["n_out"], l["weights"]) for l in r["counts"]["layers"]]

    anns = [r for r in runs if not r["spiking"]]
    return [(s, a) for s in runs if s["spiking"] for a in anns
            if a["dataset"] == s["dataset"] and shape(a) == shape(s)]


def _ratio(a, b):
    return a / b if a is not None and b not in (None, 0) else None


def write_report(run_dirs: list[Path], out: Path, profiles: list[str] | None = None, progress: bool = True, *,
                 max_samples: int | None = None, measure: bool = True) -> dict:
    """Write ``out/report.json``, ``report.md`` and ``report.html`` for ``run_dirs``; return the JSON dict.

    ``profiles``: names or .toml paths (default ``DEFAULT_PROFILES``; FPGA profiles apply to the
    hardware tier). ``max_samples``: count on the first N evaluation samples only (default all).
    ``measure``: attempt tier c (RAPL/NVML) where available."""
    from neuro.train.run import load_run

    if not run_dirs:
        raise ConfigError("no run folder given; allowed: one or more folders written by `neuro train`.")
    out = Path(out)
    names = list(profiles) if profiles else list(DEFAULT_PROFILES)
    loaded = {n: load_profile(n) for n in names}
    chip = {n: p for n, p in loaded.items() if p.kind == "chip"}
    if not chip:
        chip = {n: load_profile(n) for n in DEFAULT_PROFILES[:1]}
    counters = available_counters() if measure else {"reason": "not measured (measure=False)"}
    runs = []
    for d in run_dirs:
        d = Path(d)
        t0 = time.perf_counter()
        run = load_run(d)
        counts = count_run(run, max_samples=max_samples, progress=progress)
        cd = counts.to_dict()
        m = run.metrics
        acc = m.get("test_accuracy")
        runs.append({
            "run": str(d), "name": d.name, "model": run.cfg.model.kind, "dataset": run.cfg.data.name,
            "spiking": run.cfg.model.spiking, "steps": run.cfg.data.num_steps if run.cfg.model.spiking else 1,
            "encoding": run.cfg.data.encoding if run.cfg.model.spiking else None,
            "accuracy": acc, "accuracy_source": "metrics.json test_accuracy" if acc is not None else None,
            "samples_counted": counts.samples, "counts": cd,
            "energy": {n: estimate(cd, p) for n, p in chip.items()},
            "measured": _measure(run, run.data.x_eval, counters) if measure else
            {"available": False, "reason": counters["reason"]},
            "fpga": _fpga(d, names), "count_s": round(time.perf_counter() - t0, 2)})
    comparisons = []
    for s, a in _pairs(runs):
        T = s["steps"]
        qbits = max(1, math.ceil(math.log2(T + 1)))
        st, at = s["counts"]["totals"], a["counts"]["totals"]
        comp = {"snn": s["name"], "ann": a["name"], "steps": T,
                "spike_rate": st["spike_rate"], "spikes_per_neuron": st["spikes_per_neuron"],
                "synops_per_synapse": st["synops_per_synapse"],
                "ann_effective_macs": at["eff_macs"], "ann_dense_macs": at["dense"],
                "snn_effective_acs": st["eff_acs"], "snn_effective_macs": st["eff_macs"],
                "accuracy": {"snn": s["accuracy"], "ann": a["accuracy"]}, "ratios": {}, "break_even": {},
                "break_even_vs_effective_ann": {}, "quantized_ann": {"bits": qbits, "rule": "ceil(log2(T+1))"}}
        for n, p in chip.items():
            es, ea = s["energy"][n], a["energy"][n]
            comp["ratios"][n] = {"tier_a": _ratio(es["tier_a_j"], ea["tier_a_j"]),
                                 "tier_b": _ratio(es["tier_b_j"], ea["tier_b_j"])}
            be = break_even_synops_per_synapse(p)
            comp["break_even"][n] = be
            # against the sparsity-aware ANN: s* = (e_mac / e_ac) * effective MACs / dense MACs
            comp["break_even_vs_effective_ann"][n] = be * at["eff_macs"] / at["dense"] \
                if be is not None and at["dense"] else None
        # quantized ANN baseline: both sides priced with the int8 profile at qbits-wide stored values
        q = load_profile("horowitz45_int8")
        eq = estimate(a["counts"], q, bits=qbits)
        es8 = estimate(s["counts"], q, bits=qbits)
        comp["quantized_ann"].update(profile=q.name, ann_tier_a_j=eq["tier_a_j"], ann_tier_b_j=eq["tier_b_j"],
                                     snn_tier_a_j=es8["tier_a_j"], snn_tier_b_j=es8["tier_b_j"],
                                     ratio_tier_b=_ratio(es8["tier_b_j"], eq["tier_b_j"]))
        ma, ms = a["measured"], s["measured"]
        comp["ratios"]["measured"] = _ratio(ms.get("joules_per_inference"), ma.get("joules_per_inference"))
        comparisons.append(comp)
    report = {"generated_by": "neuro energy report", "tiers": {
        "a": "op-count proxy: effective MACs x e_mac + effective ACs x e_ac",
        "b": "hardware-aware analytic: ops + neuron updates + spikes + memory accesses by buffer size + "
             "static power x latency",
        "c": "measured: RAPL/NVML, idle-subtracted", "fpga": "FPGA: toggles x e_toggle + clock/BRAM/DSP per cycle "
             "+ static power x latency"},
        "profiles": {n: {"description": p.meta["description"], **p.provenance()} for n, p in loaded.items()},
        "runs": runs, "comparisons": comparisons}
    out.mkdir(parents=True, exist_ok=True)
    plots = make_plots(report, list(chip))
    write_json(out / "report.json", report)
    write_text(out / "report.md", to_markdown(report))
    write_text(out / "report.html", to_html(report, plots))
    for name, png in plots.items():
        with atomic_path(out / f"{name}.png") as tmp:
            tmp.write_bytes(png)
    return report


# ---------------------------------------------------------------------------------------------
# plots


def make_plots(report: dict, profiles: list[str]) -> dict[str, bytes]:
    """PNG bytes of the four figures: per-layer energy by tier, accuracy vs energy, spike rate per
    layer, profile comparison."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = report["runs"]
    main = profiles[0]
    figs = {}

    def png(fig) -> bytes:
        buf = io.BytesIO()
        fig.tight_layout()
        fig.savefig(buf, format="png", dpi=100)
        plt.close(fig)
        return buf.getvalue()

    fig, ax = plt.subplots(figsize=(8, 4))
    labels, ta, tb = [], [], []
    for r in runs:
        for l in r["energy"][main]["layers"]:
            labels.append(f"{r['name']}\n{l['name']}")
            ta.append(l["tier_a_j"] or 0.0)
            tb.append(l["tier_b_dynamic_j"] or 0.0)
    xs = np.arange(len(labels))
    ax.bar(xs - 0.2, np.array(ta) * 1e9, 0.4, label="tier a: op proxy")
    ax.bar(xs + 0.2, np.array(tb) * 1e9, 0.4, label="tier b: dynamic (ops + memory)")
    ax.set_xticks(xs, labels, fontsize=7)
    ax.set_ylabel("nJ per inference")
    ax.set_yscale("log")
    ax.set_title(f"Energy per layer by tier ({main})")
    ax.legend(fontsize=8)
    figs["per_layer_energy"] = png(fig)

    fig, ax = plt.subplots(figsize=(6, 4))
    for r in runs:
        e = r["energy"][main]["tier_b_j"]
        if e is not None and r["accuracy"] is not None:
            ax.scatter(e * 1e9, r["accuracy"], marker="o" if r["spiking"] else "s", s=60)
            ax.annotate(r["name"], (e * 1e9, r["accuracy"]), fontsize=8, xytext=(4, 4), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel(f"tier b energy per inference, nJ ({main})")
    ax.set_ylabel("test accuracy")
    ax.set_title("Accuracy vs energy (o spiking, s ANN)")
    figs["accuracy_vs_energy"] = png(fig)

    fig, ax = plt.subplots(figsize=(6, 4))
    snns = [r for r in runs if r["spiking"]]
    for i, r in enumerate(snns):
        rows = r["counts"]["layers"]
        ax.bar(np.arange(len(rows)) + i * 0.8 / max(len(snns), 1), [x["spike_rate"] or 0 for x in rows],
               0.8 / max(len(snns), 1), label=r["name"])
    if snns:
        rows = snns[0]["counts"]["layers"]
        ax.set_xticks(np.arange(len(rows)) + 0.4 - 0.4 / len(snns), [x["name"] for x in rows], fontsize=8)
    ax.set_xlabel("layer")
    ax.set_ylabel("spikes per neuron per step")
    ax.set_title("Spike rate per layer")
    if snns:
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "no spiking run", ha="center", transform=ax.transAxes)
    figs["spike_rate"] = png(fig)

    fig, ax = plt.subplots(figsize=(8, 4))
    w = 0.8 / max(len(runs), 1)
    for i, r in enumerate(runs):
        vals = [r["energy"][p]["tier_b_j"] for p in profiles]
        ax.bar(np.arange(len(profiles)) + i * w, [v * 1e9 if v else 0.0 for v in vals], w, label=r["name"])
    ax.set_xticks(np.arange(len(profiles)) + w * (len(runs) - 1) / 2, profiles, rotation=30, fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("tier b nJ per inference (0 = unsupported)")
    ax.set_title("Profile comparison")
    ax.legend(fontsize=8)
    figs["profile_comparison"] = png(fig)
    return figs


# ---------------------------------------------------------------------------------------------
# text outputs


def _fmt_j(v) -> str:
    if v is None:
        return "n/a"
    if v == 0:
        return "0"
    for unit, s in (("J", 1), ("mJ", 1e-3), ("uJ", 1e-6), ("nJ", 1e-9), ("pJ", 1e-12)):
        if abs(v) >= s:
            return f"{v / s:.3g} {unit}"
    return f"{v:.3g} J"


def _fmt(v, nd=3) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.{nd}g}" if abs(v) < 1e4 else f"{v:,.0f}"
    return str(v)


def _tables(report: dict) -> dict:
    """Rows shared by the markdown and HTML outputs."""
    profiles = list(report["runs"][0]["energy"]) if report["runs"] else []
    summary = []
    for r in report["runs"]:
        t = r["counts"]["totals"]
        summary.append([r["name"], r["model"], r["dataset"], _fmt(r["accuracy"], 4), str(r["steps"]),
                        _fmt(t["dense"]), _fmt(t["eff_macs"]), _fmt(t["eff_acs"]),
                        _fmt(t["neuron_updates"]), _fmt(t["spike_rate"]), _fmt(t["activation_sparsity"]),
                        _fmt(t["connection_sparsity"]), _fmt(float(t["footprint_bytes"]))])
    energy = []
    for r in report["runs"]:
        for p in profiles:
            e = r["energy"][p]
            energy.append([r["name"], p, _fmt_j(e["tier_a_j"]), _fmt_j(e["tier_b_j"]), _fmt_j(e["tier_b_static_j"]),
                           _fmt_j(r["measured"].get("joules_per_inference")) if r["measured"]["available"]
                           else "not available on this machine",
                           "; ".join(f"{n}: {_fmt_j(x['total_j'])}" + (" (no synthesis: " + "/".join(
                               x["resources_missing"]) + " unpriced)" if x["resources_missing"] else "")
                               for n, x in r["fpga"]["estimates"].items())
                           if r["fpga"]["available"] else r["fpga"]["reason"]])
    layers = []
    for r in report["runs"]:
        for l in r["counts"]["layers"]:
            layers.append([r["name"], l["name"], l["kind"], f"{l['n_in']}->{l['n_out']}", _fmt(l["dense"]),
                           _fmt(l["eff_macs"]), _fmt(l["eff_acs"]), _fmt(l["neuron_updates"]), _fmt(l["spikes"]),
                           _fmt(l["spike_rate"]), _fmt(l["weight_reads"]), _fmt(l["state_reads"]),
                           _fmt(l["input_reads"]), _fmt(l["output_writes"])])
    comps = []
    for c in report["comparisons"]:
        for p, rt in c["ratios"].items():
            if p == "measured":
                continue
            comps.append([c["snn"], c["ann"], p, _fmt(rt["tier_a"]), _fmt(rt["tier_b"]),
                          _fmt(c["synops_per_synapse"]), _fmt(c["break_even"].get(p)),
                          _fmt(c["break_even_vs_effective_ann"].get(p))])
    prov = [[n, p["provenance"], str(p["technology_nm"]), p["precision"], p["source"]]
            for n, p in report["profiles"].items()]
    return {"summary": summary, "energy": energy, "layers": layers, "comparisons": comps, "profiles": prov}


HEADERS = {
    "summary": ["run", "model", "dataset", "accuracy", "T", "dense ops", "eff. MACs", "eff. ACs", "neuron updates",
                "spike rate", "act. sparsity", "conn. sparsity", "footprint B"],
    "energy": ["run", "profile", "tier a (op proxy)", "tier b (analytic)", "of which static", "tier c (measured)",
               "FPGA"],
    "layers": ["run", "layer", "kind", "shape", "dense", "eff. MACs", "eff. ACs", "updates", "spikes", "spike rate",
               "weight reads", "state r/w", "input reads", "output writes"],
    "comparisons": ["SNN", "ANN", "profile", "SNN/ANN tier a", "SNN/ANN tier b", "synops per synapse",
                    "break-even vs dense ANN (e_mac/e_ac)", "break-even vs sparsity-aware ANN"],
    "profiles": ["profile", "provenance", "node nm", "precision", "source"],
}


def _md_table(headers, rows) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(str(c).replace("|", "/") for c in r) + " |" for r in rows]
    return "\n".join(out)


def to_markdown(report: dict) -> str:
    t = _tables(report)
    parts = ["# Energy report", "",
             "Per inference. Tiers are reported side by side and never added: " +
             "; ".join(f"**{k}** {v}" for k, v in report["tiers"].items()) + ".", "",
             "## Runs (counts per sample)", _md_table(HEADERS["summary"], t["summary"]), "",
             "## Energy per inference", _md_table(HEADERS["energy"], t["energy"]), "",
             "## SNN / ANN", _md_table(HEADERS["comparisons"], t["comparisons"]), ""]
    for c in report["comparisons"]:
        q = c["quantized_ann"]
        parts.append(f"- {c['snn']} vs {c['ann']}: spike rate {_fmt(c['spike_rate'])} per neuron per step, "
                     f"{_fmt(c['spikes_per_neuron'])} spikes per neuron per inference, "
                     f"{_fmt(c['synops_per_synapse'])} synaptic events per synapse per inference; ANN effective MACs "
                     f"{_fmt(c['ann_effective_macs'])} of {_fmt(c['ann_dense_macs'])} dense. Quantized baseline "
                     f"({q['bits']} bits = {q['rule']}, {q.get('profile')}): SNN/ANN tier b "
                     f"{_fmt(q.get('ratio_tier_b'))}.")
    parts += ["", "## Layers (per sample)", _md_table(HEADERS["layers"], t["layers"]), "",
              "## Profiles and provenance", _md_table(HEADERS["profiles"], t["profiles"]), ""]
    return "\n".join(parts) + "\n"


def to_html(report: dict, plots: dict[str, bytes]) -> str:
    """Self-contained HTML (Jinja2 template, plots as data URIs)."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
                             autoescape=jinja2.select_autoescape(["html", "j2"]))
    images = {k: "data:image/png;base64," + base64.b64encode(v).decode() for k, v in plots.items()}
    return env.get_template("report.html.j2").render(report=report, t=_tables(report), headers=HEADERS,
                                                     images=images, notes=[c for c in report["comparisons"]])


def format_summary(report: dict) -> str:
    """A few lines for the terminal: per run accuracy and energies, then the SNN/ANN ratios."""
    lines = []
    for r in report["runs"]:
        first = next(iter(r["energy"]))
        e = r["energy"][first]
        meas = _fmt_j(r["measured"]["joules_per_inference"]) if r["measured"]["available"] \
            else "not available on this machine"
        fpga = "; ".join(f"{n} {_fmt_j(x['total_j'])}" for n, x in r["fpga"]["estimates"].items()) \
            if r["fpga"]["available"] else r["fpga"]["reason"]
        lines.append(f"{r['name']}: {r['model']} on {r['dataset']}, accuracy {_fmt(r['accuracy'], 4)}, {first}: "
                     f"tier a {_fmt_j(e['tier_a_j'])}, tier b {_fmt_j(e['tier_b_j'])} per inference; "
                     f"measured: {meas}; FPGA: {fpga}")
    for c in report["comparisons"]:
        rt = "; ".join(f"{p} a {_fmt(v['tier_a'])} b {_fmt(v['tier_b'])}" for p, v in c["ratios"].items()
                       if p != "measured")
        lines.append(f"SNN/ANN {c['snn']}/{c['ann']}: {rt}")
    return "\n".join(lines) + "\n"
