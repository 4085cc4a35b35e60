"""Checkpoints: model, optimizer, scheduler and every RNG state, written atomically.

``save`` writes to a temp name and renames, so a crash mid-write keeps the previous checkpoint.
``load`` checks the architecture (parameter names and shapes) against the model it is loaded into
and names the first mismatch.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from neuro.errors import ConfigError
from neuro.io import atomic_path


def architecture(model: torch.nn.Module) -> dict[str, list[int]]:
    """Parameter and buffer names with their shapes: the identity a checkpoint must match."""
    return {k: list(v.shape) for k, v in model.state_dict().items()}


def rng_state(generator: torch.Generator) -> dict[str, Any]:
    return {"torch": torch.get_rng_state(), "generator": generator.get_state(),
            "numpy": np.random.get_state(), "python": random.getstate(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}


def restore_rng(state: dict[str, Any], generator: torch.Generator) -> None:
    torch.set_rng_state(state["torch"])
    generator.set_state(state["generator"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if state.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save(path: str | Path, **payload: Any) -> Path:
    """Atomically ``torch.save`` the payload dict to ``path``."""
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return Path(path)


def load(path: str | Path, model: torch.nn.Module) -> dict[str, Any]:
    """Load a checkpoint for ``model``; a different architecture is a ConfigError naming it."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"no checkpoint at {str(path)!r}; --resume needs a run folder written by `neuro train`.")
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    want, have = architecture(model), ckpt.get("architecture", {})
    if want != have:
        diff = sorted(set(want) ^ set(have)) or \
            [k for k in want if want[k] != have.get(k)]
        k = diff[0]
        raise ConfigError(
            f"checkpoint {str(path)!r} is from a different architecture: {k} is "
            f"{have.get(k, 'absent')} there and {want.get(k, 'absent')} in the configured model. "
            "Resume with the run's own config.toml or start a new --out folder."
        )
    return ckpt
