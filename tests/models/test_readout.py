"""Readouts on hand-made outputs (torch and numpy agree) and losses equal to snnTorch's."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pytest
import snntorch.functional as SF
import torch

from neuro.errors import ConfigError
from neuro.models.readout import LOSSES, READOUTS, Loss, get_loss, readout


class Out(NamedTuple):
    spikes: object
    membrane: object


# T=3, B=2, C=3
SPIKES = np.array([[[1, 0, 0], [0, 1, 1]],
                   [[1, 1, 0], [0, 0, 1]],
                   [[0, 1, 0], [1, 0, 1]]], np.float32)
MEM = np.array([[[0.5, -1.0, 2.0], [0.0, 0.25, 1.0]],
                [[1.5, 0.0, -2.0], [3.0, 0.75, 1.0]],
                [[-0.5, 2.0, 0.5], [1.5, -0.25, 4.0]]], np.float32)
EXPECTED = {
    "spike_count": [[2, 2, 0], [1, 1, 3]],
    "membrane_mean": [[0.5, 1.0 / 3, 0.5 / 3], [1.5, 0.25, 2.0]],
    "membrane_max": [[1.5, 2.0, 2.0], [3.0, 0.75, 4.0]],
    "membrane_last": [[-0.5, 2.0, 0.5], [1.5, -0.25, 4.0]],
}


def test_names():
    assert READOUTS == ("spike_count", "membrane_mean", "membrane_max", "membrane_last")
    assert LOSSES == ("rate_ce", "membrane_ce", "count_mse")


@pytest.mark.parametrize("name", READOUTS)
def test_readout_known_answers_torch_and_numpy(name):
    r_np = readout(name, Out(SPIKES, MEM))
    r_t = readout(name, Out(torch.from_numpy(SPIKES), torch.from_numpy(MEM)))
    assert isinstance(r_np, np.ndarray) and isinstance(r_t, torch.Tensor)
    assert r_np.dtype == np.float32 and r_t.dtype == torch.float32
    assert r_np.shape == (2, 3) and tuple(r_t.shape) == (2, 3)
    np.testing.assert_allclose(r_np, EXPECTED[name], rtol=1e-6)
    np.testing.assert_allclose(r_t.numpy(), r_np, rtol=1e-6)


def test_readout_is_differentiable():
    mem = torch.from_numpy(MEM).requires_grad_(True)
    readout("membrane_max", Out(torch.from_numpy(SPIKES), mem)).sum().backward()
    # the gradient of the max goes to the arg-max step of each (b, c)
    assert mem.grad.sum().item() == 6.0 and mem.grad[1, 1, 0].item() == 1.0


def test_bad_readout_and_output():
    with pytest.raises(ConfigError, match="readout='mean'.*allowed: spike_count, membrane_mean"):
        readout("mean", Out(SPIKES, MEM))
    with pytest.raises(ConfigError, match=r"shape \(3, 6\).*\[T, B, C\]"):
        readout("spike_count", Out(SPIKES.reshape(3, 6), MEM))
    with pytest.raises(ConfigError, match="no spikes/membrane"):
        readout("spike_count", SPIKES)


def _random_out(T=7, B=16, C=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    spikes = (torch.rand(T, B, C, generator=g) < 0.35).float()
    mem = torch.randn(T, B, C, generator=g)
    y = torch.randint(0, C, (B,), generator=g)
    return Out(spikes, mem), y


@pytest.mark.parametrize("seed", [0, 1])
def test_rate_ce_equals_snntorch(seed):
    out, y = _random_out(seed=seed)
    ours = get_loss("rate_ce")(out, y)
    ref = SF.ce_rate_loss()(out.spikes.clone(), y)
    assert ours.shape == ()
    torch.testing.assert_close(ours, ref.reshape(()), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("rates", [(1.0, 0.0), (0.8, 0.2), (0.75, 0.3)])
def test_count_mse_equals_snntorch(rates):
    out, y = _random_out(T=10, seed=2)
    ours = get_loss("count_mse", correct_rate=rates[0], incorrect_rate=rates[1])(out, y)
    ref = SF.mse_count_loss(correct_rate=rates[0], incorrect_rate=rates[1])(out.spikes, y)
    assert ours.item() > 0
    torch.testing.assert_close(ours, ref.reshape(()), rtol=1e-6, atol=1e-6)


def test_count_mse_known_answer():
    # T=3: targets int(0.8*3)=2 for the label, int(0.2*3)=0 for the others; counts [[2,2,0],[1,1,3]]
    y = torch.tensor([0, 2])
    loss = get_loss("count_mse")(Out(torch.from_numpy(SPIKES), torch.from_numpy(MEM)), y)
    # errors: [[0,2,0],[1,1,1]] -> squares sum 7 over 6 entries, / T=3
    assert loss.item() == pytest.approx(7 / 6 / 3, rel=1e-6)


def test_membrane_ce_equals_snntorch_count_and_max_losses():
    out, y = _random_out(seed=3)
    torch.testing.assert_close(get_loss("membrane_ce", readout="spike_count")(out, y),
                               SF.ce_count_loss()(out.spikes, y).reshape(()))
    torch.testing.assert_close(get_loss("membrane_ce", readout="membrane_max")(out, y),
                               SF.ce_max_membrane_loss()(out.membrane, y).reshape(()))
    torch.testing.assert_close(get_loss("membrane_ce", readout="membrane_mean")(out, y),
                               torch.nn.functional.cross_entropy(out.membrane.mean(0), y))
    torch.testing.assert_close(get_loss("membrane_ce", readout="membrane_last")(out, y),
                               torch.nn.functional.cross_entropy(out.membrane[-1], y))


@pytest.mark.parametrize("name", LOSSES)
def test_losses_backpropagate(name):
    out, y = _random_out(seed=4)
    spikes, mem = out.spikes.requires_grad_(True), out.membrane.requires_grad_(True)
    get_loss(name, readout="membrane_mean")(Out(spikes, mem), y).backward()
    grad = mem.grad if name == "membrane_ce" else spikes.grad
    assert grad is not None and grad.abs().sum() > 0


def test_get_loss_errors():
    with pytest.raises(ConfigError, match="loss='nll'.*allowed: rate_ce, membrane_ce, count_mse"):
        get_loss("nll")
    with pytest.raises(ConfigError, match="unknown option.*gamma.*allowed: readout, correct_rate, incorrect_rate"):
        get_loss("rate_ce", gamma=2)
    with pytest.raises(ConfigError, match=r"Loss.correct_rate=1.5.*\[0.0, 1.0\]"):
        get_loss("count_mse", correct_rate=1.5)
    with pytest.raises(ConfigError, match="readout='sum'"):
        get_loss("membrane_ce", readout="sum")
    assert get_loss("rate_ce") == Loss("rate_ce")


def test_loss_label_checks():
    out, y = _random_out(B=4, C=5)
    loss = get_loss("membrane_ce")
    with pytest.raises(ConfigError, match="labels contain 5; allowed: class indices in \\[0, 4\\]"):
        loss(out, torch.tensor([0, 1, 5, 2]))
    with pytest.raises(ConfigError, match=r"shape \(3,\); allowed: \(4,\)"):
        loss(out, torch.tensor([0, 1, 2]))
    with pytest.raises(ConfigError, match="integer torch tensor"):
        loss(out, torch.zeros(4))
    # int32 labels are accepted (converted to int64)
    torch.testing.assert_close(loss(out, y.int()), loss(out, y))
