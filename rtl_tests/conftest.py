"""Shared fixtures of the RTL tests: a trained spiking MLP on digits (the demo network)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def digits_run(tmp_path_factory):
    """A run folder with the demo network (64-128-10, T=25) trained on digits (about 6 s)."""
    from neuro.demo import demo_config
    from neuro.train.trainer import train

    out = tmp_path_factory.mktemp("digits_run")
    train(demo_config(['train.eval_backends=["torch"]']), out, progress=False)
    return out
