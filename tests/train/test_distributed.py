"""DDP: two CPU processes under torchrun train on disjoint shards and end with identical weights."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import torch

CONFIG = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "configs", "snn_mlp_digits.toml")


def test_torchrun_two_processes(tmp_path):
    record = tmp_path / "record"
    env = dict(os.environ, NEURO_DDP_RECORD=str(record), OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29531",
           "-m", "neuro", "train", "--quiet", "--out", str(tmp_path / "run"),
           "--set", "train.epochs=2", "--set", "data.limit_train=512", "--set", "data.limit_test=128",
           "--set", "model.hidden=[32]", "--set", "data.num_steps=8", "--set", "train.batch_size=32",
           "--set", "train.eval_backends=[\"torch\"]", "--set", "train.device=cpu",
           CONFIG]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    ranks = [json.loads((record / f"rank{i}.json").read_text()) for i in range(2)]
    assert [x["world"] for x in ranks] == [2, 2]
    seen0, seen1 = ranks[0]["seen"], ranks[1]["seen"]
    assert len(seen0) == len(seen1) == 2 * 256  # two epochs of 256 samples each
    for epoch in range(2):  # each epoch's shards are disjoint and cover the 512 samples
        a, b = set(seen0[epoch * 256:(epoch + 1) * 256]), set(seen1[epoch * 256:(epoch + 1) * 256])
        assert not a & b and len(a | b) == 512
    p0, p1 = torch.tensor(ranks[0]["params"]), torch.tensor(ranks[1]["params"])
    assert torch.equal(p0, p1)
    ckpt = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=False)
    flat = torch.cat([v.flatten() for v in ckpt["model"].values()])
    assert torch.equal(flat, p0)
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["epochs"] == 2
