"""The ``neuro`` command line. Each verb wraps one library function; imports are lazy."""

from __future__ import annotations

import argparse
import sys


def _cmd_demo(a: argparse.Namespace) -> int:
    from neuro.demo import format_report, run_demo

    m = run_demo(a.out, a.set, progress=not a.quiet)
    print(format_report(m))
    print(f"wrote {a.out}/: config.toml checkpoint.pt metrics.json history.csv curves.png")
    ok = min(m["test_accuracy_torch"], m["test_accuracy_numba"]) >= a.min_accuracy \
        and m["agreement_torch_numba"] >= 0.999
    if not ok:
        print(f"FAILED: accuracy below {a.min_accuracy} or backend agreement below 0.999", file=sys.stderr)
    if ok and not a.no_hw:
        from hw.build import build, report_markdown

        r = build(a.out, target="ice40-up5k", sim="verilator", samples=a.hw_samples, progress=not a.quiet)
        print(report_markdown(r), end="")
        print(f"wrote {a.out}/hw/: report.json report.md golden/ verilog/ sim/ synth/")
        if not r["verified"]:
            print("FAILED: the RTL does not match the golden model", file=sys.stderr)
            ok = False
    if ok and not a.no_energy:
        from pathlib import Path

        from neuro.demo import run_demo_ann
        from neuro.energy.report import format_summary, write_report

        out = Path(a.out)
        ann = run_demo_ann(out / "ann", a.set, progress=not a.quiet)
        print(f"ANN twin (same layer sizes, ReLU): test accuracy {ann['test_accuracy']:.4f}")
        rep = write_report([out, out / "ann"], out / "energy", progress=not a.quiet)
        print(format_summary(rep), end="")
        print(f"wrote {a.out}/ann/ (the ANN run) and {a.out}/energy/: report.json report.md report.html")
    return 0 if ok else 1


def _cmd_train(a: argparse.Namespace) -> int:
    from pathlib import Path

    from neuro.train.config import load_config
    from neuro.train.trainer import train

    cfg = load_config(a.config, a.set)
    out = a.out or f"runs/{Path(a.config).stem}"
    m = train(cfg, out, resume=a.resume, progress=not a.quiet)
    if m:  # rank 0
        keys = [k for k in m if k.startswith(("test_accuracy", "agreement"))] + ["spike_rate", "params", "wall_s"]
        print(", ".join(f"{k}={m[k]:.4f}" if isinstance(m[k], float) else f"{k}={m[k]}" for k in keys if k in m))
        names = sorted(q.name + ("/" if q.is_dir() else "") for q in Path(out).iterdir() if not q.name.startswith("."))
        print(f"wrote {out}/: " + " ".join(names))
    return 0


def _cmd_info(a: argparse.Namespace) -> int:
    import numba
    import torch

    from neuro import __version__
    from neuro.device import resolve_device
    from neuro.registry import REGISTRY

    print(f"neuroforge {__version__}  torch {torch.__version__}  numba {numba.__version__}")
    print(f"default device: {resolve_device('auto')}  (CUDA available: {torch.cuda.is_available()})")
    print("registered (component, backend) pairs:")
    for c, b in REGISTRY.pairs():
        print(f"  {c:<12} {b}")
    return 0


def _cmd_data(a: argparse.Namespace) -> int:
    from neuro.data.datasets import DATASETS, load_dataset

    if a.action == "list":
        for name in DATASETS:
            print(name)
        return 0
    for name in a.names or list(DATASETS):
        for split in ("train", "test"):
            d = load_dataset(name, split=split, data_dir=a.data_dir)
            print(f"{name:<14} {split:<5} {len(d.labels):>6} samples, images {d.images.shape[1:]}")
    return 0


def _cmd_hw(a: argparse.Namespace) -> int:
    from hw.build import build

    r = build(a.run_dir, target=a.target, sim=a.sim, samples=a.samples, weight_bits=a.weight_bits,
              mem_bits=a.mem_bits, min_neuron_steps=a.neuron_steps, synth=not a.no_synth, max_lanes=a.lanes,
              vendor_build=a.vendor_build, progress=not a.quiet)
    from hw.build import report_markdown

    print(report_markdown(r), end="")
    from pathlib import Path

    hw_dir = Path(a.run_dir) / "hw"
    print(f"wrote {hw_dir}/: " + " ".join(sorted(p.name + ("/" if p.is_dir() else "") for p in hw_dir.iterdir())))
    return 0 if r["verified"] else 1


def _cmd_import(a: argparse.Namespace) -> int:
    from neuro.interop.runs import import_run

    m = import_run(a.model, a.out, dataset=a.dataset, encoding=a.encoding, num_steps=a.num_steps, gain=a.gain,
                   dt=a.dt, seed=a.seed, readout=a.readout)
    for note in m["import_notes"]:
        print(f"note: {note}")
    keys = [k for k in m if k.startswith(("test_accuracy_", "agreement"))] + ["spike_rate", "params"]
    print(", ".join(f"{k}={m[k]:.4f}" if isinstance(m[k], float) else f"{k}={m[k]}" for k in keys if k in m))
    print(f"wrote {a.out}/: config.toml checkpoint.pt metrics.json model.nir")
    return 0


def _cmd_energy(a: argparse.Namespace) -> int:
    from pathlib import Path

    from neuro.energy.report import format_summary, write_report

    r = write_report([Path(d) for d in a.run_dirs], Path(a.out), a.profile, progress=not a.quiet,
                     max_samples=a.max_samples, measure=not a.no_measure)
    print(format_summary(r), end="")
    print(f"wrote {a.out}/: report.json report.md report.html")
    return 0


def _cmd_export(a: argparse.Namespace) -> int:
    from neuro.interop.nir import sidecar_path
    from neuro.interop.runs import export_run

    path = export_run(a.run_dir, a.out, dt=a.dt)
    print(f"wrote {path} and {sidecar_path(path)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="neuro", description="neuroforge: neuromorphic networks on torch and Numba, "
                                 "FPGA firmware verified in simulation, energy reports.")
    from neuro import __version__

    ap.add_argument("--version", action="version", version=f"neuroforge {__version__}")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND", required=True)

    d = sub.add_parser("demo", help="train a spiking MLP on the bundled digits set, evaluate on torch and numba")
    d.add_argument("--set", action="append", default=[], metavar="TABLE.KEY=VALUE",
                   help="override one key of the demo config, e.g. --set train.epochs=5 (repeatable)")
    d.add_argument("--out", default="runs/demo", help="run folder (replaced if it holds an earlier demo)")
    d.add_argument("--min-accuracy", type=float, default=0.90, help="exit non-zero below this test accuracy")
    d.add_argument("--quiet", action="store_true", help="no progress bar")
    d.add_argument("--no-hw", action="store_true", help="skip the hardware build (neuro hw build on the demo run)")
    d.add_argument("--no-energy", action="store_true", help="skip the ANN twin and the energy report")
    d.add_argument("--hw-samples", type=int, default=359,
                   help="test images the RTL classifies in the hardware build (digits has 359)")
    d.set_defaults(func=_cmd_demo)

    t = sub.add_parser("train", help="train a model from a TOML config (surrogate-gradient BPTT or backprop)")
    t.add_argument("config", help="TOML file with [data], [model], [train] tables (see examples/configs/)")
    t.add_argument("--set", action="append", default=[], metavar="TABLE.KEY=VALUE",
                   help="override one config key, e.g. --set train.epochs=3 (repeatable)")
    t.add_argument("--out", default=None, help="run folder (default: runs/<config name>)")
    t.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    t.add_argument("--quiet", action="store_true", help="no progress bars")
    t.set_defaults(func=_cmd_train)

    i = sub.add_parser("info", help="versions, default device and the backend registry")
    i.set_defaults(func=_cmd_info)

    g = sub.add_parser("data", help="list datasets, or load (and download if needed) them")
    g.add_argument("action", choices=["list", "fetch"])
    g.add_argument("names", nargs="*", help="dataset names (default: all)")
    g.add_argument("--data-dir", default=None, help="folder to look in first (default: $NEURO_DATA_DIR)")
    g.set_defaults(func=_cmd_data)
    h = sub.add_parser("hw", help="FPGA firmware from a trained run: golden model, Verilog/hls4ml, cocotb, synthesis")
    hs = h.add_subparsers(dest="hw_command", metavar="HW_COMMAND", required=True)
    hb = hs.add_parser("build", help="quantize, generate, verify in simulation and synthesise RUN_DIR into RUN_DIR/hw")
    hb.add_argument("run_dir", help="run folder written by `neuro train` (config.toml + checkpoint.pt)")
    hb.add_argument("--target", default="ice40-up5k", choices=["ice40-up5k", "ecp5-85k"], help="FPGA for synthesis")
    hb.add_argument("--sim", default="verilator", choices=["verilator", "icarus"], help="RTL simulator for cocotb")
    hb.add_argument("--samples", type=int, default=100, help="test images classified by the RTL and compared")
    hb.add_argument("--neuron-steps", type=int, default=100_000,
                    help="random neuron-steps traced and compared (membrane and spike of every update)")
    hb.add_argument("--weight-bits", type=int, default=8, help="signed weight width")
    hb.add_argument("--mem-bits", type=int, default=16, help="signed membrane width")
    hb.add_argument("--lanes", type=int, default=4,
                    help="neurons each layer core updates per cycle for an input event (power of two)")
    hb.add_argument("--no-synth", action="store_true", help="skip Yosys/nextpnr")
    hb.add_argument("--vendor-build", action="store_true",
                    help="ANN only: also run hls4ml build(), which needs AMD Vitis HLS / Vivado on PATH")
    hb.add_argument("--quiet", action="store_true", help="no progress bars")
    hb.set_defaults(func=_cmd_hw)
    im = sub.add_parser("import", help="a NIR graph (from snnTorch, Norse, ... or neuro export) into a run folder")
    im.add_argument("model", help="NIR file (.nir, HDF5); a MODEL.neuroforge.json side-car beside it is read too")
    im.add_argument("--out", required=True, help="new run folder (config.toml checkpoint.pt metrics.json model.nir)")
    im.add_argument("--dataset", default=None, choices=["digits", "mnist", "fashion_mnist"],
                    help="dataset to evaluate on (default: the side-car's, else digits)")
    im.add_argument("--encoding", default=None, choices=["rate", "latency", "direct"], help="input spike encoding")
    im.add_argument("--num-steps", type=int, default=None, help="time steps per sample (default: side-car, else 25)")
    im.add_argument("--gain", type=float, default=None, help="encoding gain (default: side-car, else 1.0)")
    im.add_argument("--readout", default=None,
                    choices=["membrane_mean", "membrane_max", "membrane_last", "spike_count"],
                    help="class scores from the output layer (default: side-car, else membrane_mean)")
    im.add_argument("--dt", type=float, default=None,
                    help="time step (s) of the LIF mapping beta = 1 - dt/tau (default: the graph's, else 1e-4)")
    im.add_argument("--seed", type=int, default=0, help="train.seed of the run (evaluation spikes use seed + 1)")
    im.set_defaults(func=_cmd_import)
    ex = sub.add_parser("export", help="a trained spiking run to a NIR graph (+ side-car JSON)")
    ex.add_argument("run_dir", help="run folder (config.toml + checkpoint.pt)")
    ex.add_argument("--format", default="nir", choices=["nir"], help="output format")
    ex.add_argument("--out", default=None, help="output file (default: RUN_DIR/model.nir)")
    ex.add_argument("--dt", type=float, default=1e-4, help="time step (s) for tau = dt / (1 - beta), r = tau / dt")
    ex.set_defaults(func=_cmd_export)
    en = sub.add_parser("energy", help="energy comparison reports of trained runs (op counts, profiles, FPGA)")
    ens = en.add_subparsers(dest="energy_command", metavar="ENERGY_COMMAND", required=True)
    er = ens.add_parser("report", help="count, price and compare RUN_DIRs into report.json/.md/.html")
    er.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run folders written by `neuro train`")
    er.add_argument("--profile", action="append", default=None, metavar="NAME",
                    help="energy profile name or .toml path (repeatable; default: the bundled set)")
    er.add_argument("--out", required=True, help="output folder (report.json report.md report.html *.png)")
    er.add_argument("--max-samples", type=int, default=None, help="count on the first N evaluation samples only")
    er.add_argument("--no-measure", action="store_true", help="skip tier c (RAPL/NVML measurement)")
    er.add_argument("--quiet", action="store_true", help="no progress bars")
    er.set_defaults(func=_cmd_energy)
    return ap


def main(argv: list[str] | None = None) -> int:
    a = build_parser().parse_args(argv)
    from neuro.errors import NeuroError

    try:
        return a.func(a)
    except NeuroError as e:
        print(f"neuro {a.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
