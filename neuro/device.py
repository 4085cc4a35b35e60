"""Device selection: CUDA when present, CPU otherwise. Nothing assumes a GPU."""

from __future__ import annotations

import torch

from neuro.errors import ConfigError

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(name: str | torch.device | None = "auto") -> torch.device:
    """``"auto"``/None -> ``cuda`` if available else ``cpu``; ``"cuda[:i]"`` must be available."""
    if isinstance(name, torch.device):
        name = str(name)
    if name in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if isinstance(name, str) and name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(
                f"device={name!r} was requested but CUDA is not available here; allowed: "
                f"{', '.join(DEVICE_CHOICES)}. Use device='auto' or 'cpu'."
            )
        return torch.device(name)
    raise ConfigError(f"device={name!r} is not supported; allowed: {', '.join(DEVICE_CHOICES)} (or 'cuda:N').")
