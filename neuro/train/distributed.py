"""DistributedDataParallel support: process group set-up and disjoint per-rank shards.

Launch with ``torchrun --nproc_per_node=N -m neuro train CONFIG``. gloo on CPU, nccl on CUDA.
Every rank draws the same permutation from the same seeded generator each epoch and takes every
``world``-th index from its own offset, so shards are disjoint and equal in size (the remainder
of ``n / world`` samples is dropped that epoch). Models keep no hidden state, so DDP just works.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world > 1


def setup(device: torch.device) -> DistInfo:
    """Initialise the process group when launched by torchrun (``WORLD_SIZE`` > 1)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return DistInfo(dist.get_rank(), dist.get_world_size())


def local_device(device: torch.device) -> torch.device:
    """One GPU per process under torchrun (``LOCAL_RANK``); the CPU stays the CPU."""
    if device.type == "cuda" and "LOCAL_RANK" in os.environ:
        return torch.device("cuda", int(os.environ["LOCAL_RANK"]))
    return device


def shard(perm: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """This rank's disjoint share of an epoch's permutation."""
    if not info.enabled:
        return perm
    n = len(perm) // info.world * info.world
    return perm[info.rank:n:info.world]


def teardown(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()
