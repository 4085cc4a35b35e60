"""An snnTorch-trained network to verified FPGA firmware, through NIR.

1. train a plain snnTorch network (Linear -> Leaky -> Linear -> Leaky) on digits with snnTorch;
2. export it to NIR (``neuro.interop.snntorch.export_snntorch``: snnTorch's own module converter,
   with the shape work-around snnTorch 1.0 + nir 1.0.8 need) and write ``OUT/snntorch_model.nir``;
3. ``neuro import OUT/snntorch_model.nir --out OUT/run --dataset digits``: a run folder, evaluated
   on the torch and numba backends, whose predictions are checked against snnTorch's own on the
   same input spikes;
4. ``neuro hw build OUT/run``: fixed point, Verilog, cocotb verification against the golden model
   (and synthesis unless --no-synth);
5. ``neuro energy report OUT/run`` when this checkout has the energy command (it is skipped,
   with a message, when it does not).

Run from the repo root:  python examples/nir_to_firmware.py --out runs/nir_example
(CI runs it with --epochs 2 --hw-samples 8 --no-synth). Exits non-zero when any check fails.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import snntorch as snn
from snntorch import utils as snn_utils
import torch
from tqdm.auto import tqdm

from neuro.cli import build_parser, main as neuro_main
from neuro.data.datasets import load_splits
from neuro.data.encoding import rate


def snntorch_net(n_in: int, n_hidden: int, n_out: int, beta: float) -> torch.nn.Sequential:
    """The network a researcher would write in snnTorch (default reset: subtract, reset_delay=True)."""
    return torch.nn.Sequential(
        torch.nn.Linear(n_in, n_hidden), snn.Leaky(beta=beta, init_hidden=True),
        torch.nn.Linear(n_hidden, n_out), snn.Leaky(beta=beta, init_hidden=True, output=True))


def forward(net: torch.nn.Sequential, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Output spikes and membrane ``[T, B, n_out]`` over ``x[T, B, n_in]``."""
    snn_utils.reset(net)
    spk, mem = [], []
    for t in range(x.shape[0]):
        s, m = net(x[t])
        spk.append(s)
        mem.append(m)
    return torch.stack(spk), torch.stack(mem)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="runs/nir_example")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--num-steps", type=int, default=25)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--hw-samples", type=int, default=100, help="test images the RTL classifies")
    ap.add_argument("--neuron-steps", type=int, default=20_000, help="random neuron-steps traced in the RTL check")
    ap.add_argument("--no-synth", action="store_true", help="skip Yosys/nextpnr")
    a = ap.parse_args(argv)
    out = Path(a.out)
    if out.exists() and any(out.iterdir()):
        print(f"error: --out {out} is not empty; choose a new folder", file=sys.stderr)
        return 2
    t_start = time.perf_counter()
    torch.manual_seed(0)

    # ---- 1. train in snnTorch (membrane-mean cross-entropy, rate-coded inputs)
    splits = load_splits("digits", seed=0)
    xtr = torch.from_numpy(np.array(splits.train.images, np.float32).reshape(len(splits.train), -1))
    ytr = torch.from_numpy(np.array(splits.train.labels)).long()
    xte = torch.from_numpy(np.array(splits.test.images, np.float32).reshape(len(splits.test), -1))
    yte = torch.from_numpy(np.array(splits.test.labels)).long()
    net = snntorch_net(xtr.shape[1], a.hidden, 10, beta=0.9)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    gen = torch.Generator().manual_seed(0)
    for _ in tqdm(range(a.epochs), desc="snnTorch training", unit="epoch"):
        for idx in torch.randperm(len(xtr), generator=gen).split(64):
            _, mem = forward(net, rate(xtr[idx], a.num_steps, seed=gen))
            loss = torch.nn.functional.cross_entropy(mem.mean(0), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    # snnTorch's own test predictions, on the spikes `neuro import` evaluates with (train.seed + 1 = 1)
    gen_eval = torch.Generator().manual_seed(1)
    preds = []
    with torch.no_grad():
        for lo in range(0, len(xte), 256):
            _, mem = forward(net, rate(xte[lo:lo + 256], a.num_steps, seed=gen_eval))
            preds.append(mem.mean(0).argmax(-1))
    snn_pred = torch.cat(preds)
    snn_acc = float((snn_pred == yte).float().mean())
    print(f"snnTorch: test accuracy {snn_acc:.4f} after {a.epochs} epochs")

    # ---- 2. export to NIR
    import nir

    from neuro.interop.snntorch import export_snntorch

    graph = export_snntorch(net, xtr.shape[1])
    out.mkdir(parents=True, exist_ok=True)
    nir_path = out / "snntorch_model.nir"
    nir.write(str(nir_path), graph)
    print(f"wrote {nir_path} ({', '.join(f'{k}:{type(n).__name__}' for k, n in graph.nodes.items())})")

    # ---- 3. import into a run folder (the CLI verb), check it predicts as snnTorch does
    run = out / "run"
    rc = neuro_main(["import", str(nir_path), "--out", str(run), "--dataset", "digits",
                     "--num-steps", str(a.num_steps)])
    if rc:
        return rc
    from neuro.train.run import load_run
    from neuro.train.trainer import evaluate

    loaded = load_run(run)
    ok = True
    for backend in ("torch", "numba"):
        acc, pred, _ = evaluate(loaded.model, loaded.data.x_eval, loaded.data.y_eval, loaded.cfg, backend=backend)
        agree = float(np.mean(pred == snn_pred.numpy()))
        print(f"imported, {backend}: test accuracy {acc:.4f}, agreement with snnTorch {agree:.4f}")
        ok &= agree == 1.0

    # ---- 4. firmware, verified in simulation
    hw = ["hw", "build", str(run), "--samples", str(a.hw_samples), "--neuron-steps", str(a.neuron_steps)]
    rc = neuro_main(hw + (["--no-synth"] if a.no_synth else []))
    ok &= rc == 0

    # ---- 5. energy report, when this checkout has it
    verbs = next(act.choices for act in build_parser()._actions if isinstance(act, argparse._SubParsersAction))
    if "energy" in verbs:
        ok &= neuro_main(["energy", "report", str(run), "--out", str(out / "energy")]) == 0
    else:
        print("energy: `neuro energy report` is not in this checkout yet; skipped")
    print(f"{'OK' if ok else 'FAILED'}: {time.perf_counter() - t_start:.1f} s in all")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
