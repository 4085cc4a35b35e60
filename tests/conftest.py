"""Shared fixtures: the real data folder beside the repo, when it exists."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """``$NEURO_DATA_DIR`` or ``../shared/data`` beside the repo; skips (outside CI) when absent."""
    env = os.environ.get("NEURO_DATA_DIR")
    d = Path(env) if env else REPO.parent / "shared" / "data"
    if not (d / "mnist").is_dir():
        msg = f"real MNIST data not found in {d}; set NEURO_DATA_DIR to a folder holding mnist/ and fashion-mnist/"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(msg)
        pytest.skip(msg)
    return d
