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
    return 0 if ok else 1


def _cmd_train(a: argparse.Namespace) -> int:
    from neuro.train.config import load_config
    from neuro.train.trainer import train

    cfg = load_config(a.config, a.set)
    out = a.out or f"runs/{__import__('pathlib').Path(a.config).stem}"
    m = train(cfg, out, resume=a.resume, progress=not a.quiet)
    if m:  # rank 0
        keys = [k for k in m if k.startswith(("test_accuracy", "agreement"))] + ["spike_rate", "params", "wall_s"]
        print(", ".join(f"{k}={m[k]:.4f}" if isinstance(m[k], float) else f"{k}={m[k]}" for k in keys if k in m))
        print(f"wrote {out}/: config.toml checkpoint.pt metrics.json history.csv curves.png")
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
    print(f"wrote {a.run_dir.rstrip('/')}/hw/: report.json report.md golden/ verilog/ sim/"
          + (" synth/" if not a.no_synth and r.get("fmax_mhz") else "") + (" hls4ml/" if "hls4ml" in r else ""))
    return 0 if r["verified"] else 1


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
