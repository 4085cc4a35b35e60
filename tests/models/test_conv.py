"""The spiking conv net: config checks, shapes, numpy synaptic ops against torch, torch vs numba
agreement (LIF and ALIF), gradients; and the MLP's neuron/readout options on both backends."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from neuro.errors import ConfigError
from neuro.models.conv import ConvOutput, SpikingConvConfig, SpikingConvNet, conv2d_numpy, max_pool_numpy
from neuro.models.mlp import SpikingMLP, SpikingMLPConfig
from neuro.models.readout import READOUTS, get_loss
from neuro.neurons.alif import ALIFParams
from neuro.neurons.lif import LIFParams

SMALL = dict(in_shape=(2, 10, 10), channels=(4, 6), kernel_size=3, n_classes=5)


def _net(seed=0, gain=2.5, **kw) -> SpikingConvNet:
    torch.manual_seed(seed)
    net = SpikingConvNet(SpikingConvConfig(**{**SMALL, **kw}))
    with torch.no_grad():  # larger weights than the default init so every layer spikes
        for m in (net.conv1, net.conv2, net.fc):
            m.weight.mul_(gain)
    return net


def _input(T=8, B=32, shape=(2, 10, 10), seed=1) -> torch.Tensor:
    return torch.rand(T, B, *shape, generator=torch.Generator().manual_seed(seed))


# -- config ----------------------------------------------------------------------------------------

def test_default_config_shapes():
    cfg = SpikingConvConfig()  # MNIST, 12C5-MP2-32C5-MP2-FC10, size-preserving padding
    assert cfg.pad == 2 and cfg.params == LIFParams() and cfg.readout == "membrane_mean"
    assert cfg.feature_shapes == ((12, 28, 28), (12, 14, 14), (32, 14, 14), (32, 7, 7))
    assert cfg.fc_in == 32 * 7 * 7
    valid = SpikingConvConfig(padding=0)  # snnTorch tutorial layout: 28 -> 24 -> 12 -> 8 -> 4
    assert valid.feature_shapes[-1] == (32, 4, 4) and valid.fc_in == 512
    odd = SpikingConvConfig(in_shape=(1, 9, 7), channels=(3, 5), kernel_size=2, padding=0, pool=2)
    assert odd.feature_shapes == ((3, 8, 6), (3, 4, 3), (5, 3, 2), (5, 1, 1))


@pytest.mark.parametrize("kw, match", [
    (dict(channels=(4,)), r"channels=\(4,\) is invalid; allowed: 2 positive integers"),
    (dict(channels=(4, 0)), r"channels\[1\]=0 is out of range; allowed: an integer >= 1"),
    (dict(in_shape=(8, 8)), r"in_shape=\(8, 8\) is invalid; allowed: 3 positive integers \(C, H, W\)"),
    (dict(kernel_size=0), r"kernel_size=0 is out of range; allowed: an integer >= 1"),
    (dict(kernel_size=3, padding=3), r"padding=3 is out of range; allowed: an integer in \[0, 2\]"),
    (dict(pool=0), r"pool=0 is out of range"),
    (dict(n_classes=2.5), r"n_classes=2.5 is invalid; allowed: an integer"),
    (dict(in_shape=(1, 8, 8), kernel_size=3, padding=0), r"shrinks the frame to nothing.*allowed: every stage"),
    (dict(readout="rate"), r"readout='rate' is not supported; allowed: spike_count, membrane_mean"),
    (dict(neuron="izhikevich"), r"neuron='izhikevich' is not supported; allowed: lif, alif"),
    (dict(neuron="alif", lif=LIFParams()), r"lif is a LIFParams but neuron='alif'; allowed: ALIFParams"),
])
def test_bad_config_raises(kw, match):
    with pytest.raises(ConfigError, match=match):
        SpikingConvConfig(**{**SMALL, **kw})


def test_neuron_defaults_resolve():
    assert SpikingConvConfig(**SMALL, neuron="alif").lif == ALIFParams()
    assert SpikingMLPConfig(sizes=(4, 3), neuron="alif").params == ALIFParams()
    assert SpikingMLPConfig(sizes=(4, 3)).lif == LIFParams()


# -- numpy synaptic ops ------------------------------------------------------------------------------

@pytest.mark.parametrize("k, pad", [(1, 0), (3, 1), (3, 0), (4, 2), (5, 2)])
def test_conv2d_numpy_matches_torch(k, pad, monkeypatch):
    monkeypatch.setattr("neuro.models.conv.IM2COL_BYTES", 4096)  # force several chunks
    g = torch.Generator().manual_seed(k)
    x, w, b = torch.randn(7, 3, 9, 11, generator=g), torch.randn(5, 3, k, k, generator=g), torch.randn(5, generator=g)
    ref = F.conv2d(x, w, b, padding=pad).numpy()
    out = conv2d_numpy(x.numpy(), w.numpy(), b.numpy(), pad)
    assert out.dtype == np.float32 and out.flags.c_contiguous and out.shape == ref.shape
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(conv2d_numpy(x.numpy(), w.numpy(), None, pad), ref - b.numpy()[:, None, None],
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("pool, hw", [(2, (6, 6)), (2, (7, 5)), (3, (8, 9)), (1, (3, 4))])
def test_max_pool_numpy_matches_torch(pool, hw):
    x = torch.randn(4, 3, *hw, generator=torch.Generator().manual_seed(0))
    np.testing.assert_array_equal(max_pool_numpy(x.numpy(), pool), F.max_pool2d(x, pool).numpy())


# -- forward pass ----------------------------------------------------------------------------------

@pytest.mark.parametrize("backend", ["torch", "numba"])
def test_output_shapes_and_types(backend):
    net = _net()
    x = _input(T=5, B=3)
    out = net.run(x if backend == "torch" else x.numpy(), backend)
    assert isinstance(out, ConvOutput)
    kind = torch.Tensor if backend == "torch" else np.ndarray
    assert all(isinstance(a, kind) for a in (out.spikes, out.membrane, *out.hidden_spikes))
    assert tuple(out.spikes.shape) == tuple(out.membrane.shape) == (5, 3, 5)
    assert [tuple(h.shape) for h in out.hidden_spikes] == [(5, 3, 4, 10, 10), (5, 3, 6, 5, 5)]
    assert tuple(net.logits(out).shape) == (3, 5)
    spikes = out.spikes.detach().numpy() if backend == "torch" else out.spikes
    assert set(np.unique(spikes)) <= {0.0, 1.0}


@pytest.mark.parametrize("neuron, params", [("lif", LIFParams(beta=0.85)),
                                            ("lif", LIFParams(reset="zero", refractory_steps=1)),
                                            ("alif", ALIFParams(adapt=0.5, rho=0.9))])
def test_torch_and_numba_agree(neuron, params):
    net = _net(neuron=neuron, lif=params)
    x = _input(T=10, B=64)
    with torch.no_grad():
        ot = net.run(x, "torch")
    on = net.run(x.numpy(), "numba")
    for a, b in zip([*ot.hidden_spikes, ot.spikes], [*on.hidden_spikes, on.spikes]):
        rate = float(a.mean())
        assert 0.01 < rate < 0.9, rate  # every layer is active: the comparison means something
        assert (a.numpy() == b).mean() >= 0.999
    np.testing.assert_allclose(on.membrane, ot.membrane.numpy(), atol=1e-3)
    pt, pn = net.predict(x, "torch", batch_size=20), net.predict(x.numpy(), "numba", batch_size=20)
    assert pt.dtype == pn.dtype == np.int64 and pt.shape == (64,)
    assert (pt == pn).mean() >= 0.999
    # batching does not change the answer
    np.testing.assert_array_equal(pt, net.logits(ot).argmax(-1).numpy())


@pytest.mark.parametrize("loss", ["membrane_ce", "rate_ce", "count_mse"])
@pytest.mark.parametrize("neuron", ["lif", "alif"])
def test_gradients_reach_every_parameter(loss, neuron):
    net = _net(neuron=neuron)
    x = _input(T=6, B=8)
    y = torch.arange(8) % 5
    get_loss(loss)(net(x), y).backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_bad_inputs_raise():
    net = _net()
    with pytest.raises(ConfigError, match=r"frames of shape \(1, 10, 10\).*allowed: \(2, 10, 10\)"):
        net.run(torch.zeros(3, 2, 1, 10, 10))
    with pytest.raises(ConfigError, match=r"allowed: 5 dims"):
        net.run(torch.zeros(3, 2, 200))
    with pytest.raises(ConfigError, match="backend='jax'.*allowed: torch, numba"):
        net.run(_input(T=2, B=1), "jax")
    with pytest.raises(ConfigError, match="float32 for the numba LIF kernel|floating dtype"):
        net.run(np.zeros((2, 1, 2, 10, 10), np.int64), "numba")


# -- the MLP's neuron and readout options ------------------------------------------------------------

@pytest.mark.parametrize("readout", READOUTS)
def test_mlp_alif_on_both_backends(readout):
    torch.manual_seed(0)
    net = SpikingMLP(SpikingMLPConfig(sizes=(20, 16, 4), neuron="alif", lif=ALIFParams(adapt=0.4),
                                      readout=readout))
    x = torch.rand(12, 50, 20, generator=torch.Generator().manual_seed(2)) * 2
    with torch.no_grad():
        ot = net.run(x, "torch")
    on = net.run(x.numpy(), "numba")
    assert 0.01 < float(ot.hidden_spikes[0].mean()) < 0.9
    np.testing.assert_array_equal(on.hidden_spikes[0], ot.hidden_spikes[0].numpy())
    np.testing.assert_allclose(net.logits(on), net.logits(ot).numpy(), rtol=1e-5, atol=1e-5)
    assert (net.predict(x) == net.predict(x.numpy(), "numba")).mean() >= 0.999
    # with adapt=0 the ALIF network is the LIF network, spike for spike
    lif_net = SpikingMLP(SpikingMLPConfig(sizes=(20, 16, 4), lif=LIFParams()))
    alif_net = SpikingMLP(SpikingMLPConfig(sizes=(20, 16, 4), neuron="alif", lif=ALIFParams(adapt=0.0)))
    alif_net.load_state_dict(lif_net.state_dict())
    with torch.no_grad():
        assert torch.equal(lif_net(x).spikes, alif_net(x).spikes)
