"""ANN twins: same layers and parameter counts as the spiking models, ReLU forward, predict, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from neuro.errors import ConfigError
from neuro.models.ann import ANN, ann_like, is_spiking
from neuro.models.conv import SpikingConvConfig, SpikingConvNet
from neuro.models.mlp import SpikingMLP, SpikingMLPConfig
from neuro.neurons.alif import ALIFParams

CONFIGS = [
    SpikingMLPConfig(sizes=(64, 128, 10)),
    SpikingMLPConfig(sizes=(20, 32, 16, 3), neuron="alif", lif=ALIFParams()),
    SpikingMLPConfig(sizes=(7, 2)),
    SpikingConvConfig(in_shape=(1, 8, 8), channels=(4, 8), kernel_size=3, n_classes=10),
    SpikingConvConfig(),
    SpikingConvConfig(in_shape=(3, 12, 10), channels=(5, 6), kernel_size=2, padding=0, pool=2, n_classes=4),
]


def _spiking(cfg):
    return SpikingMLP(cfg) if isinstance(cfg, SpikingMLPConfig) else SpikingConvNet(cfg)


def _count(m) -> int:
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: type(c).__name__)
def test_same_parameters_as_the_spiking_model(cfg):
    snn = _spiking(cfg)
    for ann in (ann_like(cfg), ann_like(snn)):
        assert isinstance(ann, ANN)
        assert _count(ann) == _count(snn)
        assert {k: v.shape for k, v in ann.state_dict().items()} == {k: v.shape for k, v in snn.state_dict().items()}


def test_known_parameter_counts():
    assert _count(ann_like(SpikingMLPConfig(sizes=(64, 128, 10)))) == 64 * 128 + 128 + 128 * 10 + 10
    # 1->4 3x3, 4->8 3x3, 8*2*2 -> 10
    assert _count(ann_like(CONFIGS[3])) == (4 * 9 + 4) + (8 * 4 * 9 + 8) + (32 * 10 + 10)


def test_mlp_forward_is_relu_network():
    snn = SpikingMLP(SpikingMLPConfig(sizes=(6, 5, 4, 3)))
    ann = ann_like(snn, copy_weights=True)
    x = torch.randn(9, 6, generator=torch.Generator().manual_seed(0))
    l0, l1, l2 = snn.layers
    ref = l2(F.relu(l1(F.relu(l0(x)))))
    torch.testing.assert_close(ann(x), ref)
    assert ann.logits(ref) is ref


def test_conv_forward_is_relu_network():
    snn = SpikingConvNet(CONFIGS[3])
    ann = ann_like(snn, copy_weights=True)
    x = torch.randn(5, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    h = F.max_pool2d(F.relu(F.conv2d(x, snn.conv1.weight, snn.conv1.bias, padding=1)), 2)
    h = F.max_pool2d(F.relu(F.conv2d(h, snn.conv2.weight, snn.conv2.bias, padding=1)), 2)
    ref = F.linear(h.flatten(1), snn.fc.weight, snn.fc.bias)
    out = ann(x)
    assert tuple(out.shape) == (5, 10)
    torch.testing.assert_close(out, ref)


def test_predict_and_gradients():
    ann = ann_like(CONFIGS[5])
    x = torch.randn(11, 3, 12, 10, generator=torch.Generator().manual_seed(1))
    pred = ann.predict(x, batch_size=4)
    assert pred.dtype == np.int64 and pred.shape == (11,)
    np.testing.assert_array_equal(pred, ann(x).argmax(-1).numpy())
    np.testing.assert_array_equal(ann.predict(x.numpy()), pred)
    F.cross_entropy(ann(x), torch.arange(11) % 4).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in ann.parameters())


def test_errors():
    ann = ann_like(CONFIGS[0])
    with pytest.raises(ConfigError, match="backend='numba' cannot evaluate an ANN; allowed: torch"):
        ann.predict(torch.zeros(2, 64), backend="numba")
    with pytest.raises(ConfigError, match=r"samples of shape \(63,\).*allowed: \(64,\)"):
        ann(torch.zeros(2, 63))
    with pytest.raises(ConfigError, match="allowed: 2 dims"):
        ann(torch.zeros(4, 2, 64))  # a time axis is not accepted
    with pytest.raises(ConfigError, match="ann_like\\(\\) got a Linear; allowed: SpikingMLP"):
        ann_like(torch.nn.Linear(2, 2))
    with pytest.raises(ConfigError, match="copy_weights=True needs a model"):
        ann_like(CONFIGS[0], copy_weights=True)


def test_is_spiking():
    assert is_spiking(SpikingMLP(CONFIGS[2])) and is_spiking(SpikingConvNet(CONFIGS[3]))
    assert not is_spiking(ann_like(CONFIGS[2])) and not is_spiking(ann_like(CONFIGS[3]))
    assert not is_spiking(torch.nn.Linear(2, 2))
    assert is_spiking(torch.nn.DataParallel(SpikingMLP(CONFIGS[2])))
