"""NIR export/import of our own models: the beta <-> tau mapping, bit-exact round trips on both
backends, what the graph holds, and the errors for graphs we cannot represent."""

from __future__ import annotations

import json

import nir
import numpy as np
import pytest
import torch

from neuro.errors import ConfigError, DataError
from neuro.interop import nir as nirio
from neuro.models.conv import SpikingConvConfig, SpikingConvNet
from neuro.models.mlp import SpikingMLP, SpikingMLPConfig
from neuro.neurons.alif import ALIFParams
from neuro.neurons.lif import LIFParams


@pytest.fixture(autouse=True)
def _inference():
    with torch.no_grad():
        yield


def mlp(reset="subtract", beta=0.9, v_th=1.0, sizes=(12, 10, 4), scale=2.5, seed=0, **kw) -> SpikingMLP:
    torch.manual_seed(seed)
    m = SpikingMLP(SpikingMLPConfig(sizes=sizes, lif=LIFParams(beta=beta, v_th=v_th, reset=reset, **kw)))
    with torch.no_grad():
        for layer in m.layers:
            layer.weight.mul_(scale)
    return m.eval()


def spikes_in(T=40, B=6, n=12, p=0.4, seed=1) -> torch.Tensor:
    return (torch.rand(T, B, n, generator=torch.Generator().manual_seed(seed)) < p).float()


# ---------------------------------------------------------------------------------------------
# mapping


@pytest.mark.parametrize("beta", [0.5, 0.8, 0.85, 0.9, 0.95, 0.99])
def test_common_betas_map_back_exactly(beta):
    tau = nirio.tau_from_beta(beta)
    assert tau.dtype == np.float32
    assert nirio.beta_from_tau(tau) == np.float32(beta)
    assert float(tau) == pytest.approx(nirio.DEFAULT_DT / (1 - beta), rel=1e-6)


def test_mapping_is_within_one_ulp_and_mostly_exact():
    betas = np.random.default_rng(0).uniform(0.5, 1.0, 3000).astype(np.float32)
    back = np.array([nirio.beta_from_tau(nirio.tau_from_beta(float(b))) for b in betas])
    ulps = np.abs(back - betas) / np.spacing(betas)
    assert ulps.max() <= 1.0
    assert np.mean(ulps == 0) >= 0.95  # measured 0.979: not every float32 is 1 - q of a reachable q


def test_mapping_rejects_bad_values():
    with pytest.raises(ConfigError, match="IF neuron"):
        nirio.tau_from_beta(1.0)
    with pytest.raises(ConfigError, match="dt=0"):
        nirio.tau_from_beta(0.9, dt=0)


# ---------------------------------------------------------------------------------------------
# export content


def test_graph_holds_the_continuous_parameters():
    m = mlp(reset="zero", beta=0.8, v_th=0.75)
    g = nirio.to_nir(m, dt=1e-3)
    assert list(g.nodes) == ["input", "fc0", "lif0", "fc1", "lif1", "output"]
    assert g.edges == [("input", "fc0"), ("fc0", "lif0"), ("lif0", "fc1"), ("fc1", "lif1"), ("lif1", "output")]
    lif = g.nodes["lif0"]
    assert isinstance(lif, nir.LIF) and lif.tau.shape == (10,)
    np.testing.assert_allclose(lif.tau, 1e-3 / 0.2, rtol=1e-6)
    np.testing.assert_allclose(lif.r, lif.tau / np.float32(1e-3), rtol=1e-6)  # input gain r*dt/tau = 1
    assert np.all(lif.v_leak == 0) and np.all(lif.v_reset == 0) and np.all(lif.v_threshold == np.float32(0.75))
    assert nirio.RESET_KEY not in lif.metadata
    np.testing.assert_array_equal(g.nodes["fc1"].weight, m.layers[1].weight.detach().numpy())
    assert g.metadata["dt"] == 1e-3


def test_subtract_reset_and_extras_travel_in_metadata_and_sidecar(tmp_path):
    m = mlp(reset="subtract", refractory_steps=2)
    path = tmp_path / "m.nir"
    nirio.export_nir(m, path, data={"name": "digits", "num_steps": 25})
    side = json.loads((tmp_path / "m.neuroforge.json").read_text())
    assert side["reset"] == "subtract" and side["refractory_steps"] == 2 and side["readout"] == "membrane_mean"
    assert side["plasticity"] is None and side["astrocyte"] is None and side["data"]["num_steps"] == 25
    g = nir.read(str(path))
    assert g.nodes["lif1"].metadata[nirio.RESET_KEY] in ("subtract", b"subtract")


# ---------------------------------------------------------------------------------------------
# round trips: ours -> NIR (file) -> ours, bit for bit on both backends


@pytest.mark.parametrize("reset,beta,refractory", [("subtract", 0.9, 0), ("zero", 0.8, 0), ("subtract", 0.95, 2),
                                                   ("zero", 1.0, 0)])
def test_mlp_round_trip_is_exact(tmp_path, reset, beta, refractory):
    m = mlp(reset=reset, beta=beta, refractory_steps=refractory, scale=1.5 if beta == 1.0 else 2.5)
    path = tmp_path / "m.nir"
    nirio.export_nir(m, path)
    if beta == 1.0:
        assert isinstance(nir.read(str(path)).nodes["lif0"], nir.IF)
    imp = nirio.from_nir(path)
    assert imp.kind == "spiking_mlp" and imp.notes == []
    assert imp.model.config == m.config  # beta, v_th, reset, refractory, readout: all restored
    x = spikes_in()
    a, b = m.run(x), imp.model.run(x)
    assert 0.05 < float(a.spikes.mean()) < 0.9  # the comparison sees real activity
    assert torch.equal(a.spikes, b.spikes) and torch.equal(a.membrane, b.membrane)
    for h1, h2 in zip(a.hidden_spikes, b.hidden_spikes):
        assert torch.equal(h1, h2)
    c = imp.model.run(x.numpy(), "numba")
    np.testing.assert_array_equal(c.spikes, a.spikes.numpy())


def test_conv_round_trip_is_exact(tmp_path):
    torch.manual_seed(3)
    m = SpikingConvNet(SpikingConvConfig(in_shape=(1, 10, 10), channels=(3, 4), kernel_size=3, n_classes=5,
                                         lif=LIFParams(beta=0.85, reset="zero"))).eval()
    with torch.no_grad():
        for mod, k in ((m.conv1, 6), (m.conv2, 4), (m.fc, 4)):
            mod.weight.mul_(k)
    g = nirio.to_nir(m)
    kinds = [type(g.nodes[k]).__name__ for k in g.nodes]
    assert kinds == ["Input", "Conv2d", "LIF", "SumPool2d", "Threshold", "Conv2d", "LIF", "SumPool2d", "Threshold",
                     "Flatten", "Affine", "LIF", "Output"]
    nirio.export_nir(m, tmp_path / "c.nir")
    imp = nirio.from_nir(tmp_path / "c.nir")
    assert imp.kind == "spiking_conv" and imp.model.config == m.config
    x = (torch.rand(20, 3, 1, 10, 10, generator=torch.Generator().manual_seed(2)) < 0.5).float()
    a, b = m.run(x), imp.model.run(x)
    assert min(float(h.mean()) for h in a.hidden_spikes) > 0.04 and float(a.spikes.mean()) > 0.1
    assert torch.equal(a.spikes, b.spikes) and torch.equal(a.membrane, b.membrane)


# ---------------------------------------------------------------------------------------------
# foreign graphs: gains and thresholds folded into the weights


def _nir_reference(graph, x: np.ndarray, dt: float) -> np.ndarray:
    """NIR semantics of an Affine/LIF chain integrated by forward Euler, float64."""
    h = x.astype(np.float64)
    order = nirio._chain(graph)
    state = {}
    out = []
    for t in range(x.shape[0]):
        h = x[t].astype(np.float64)
        for k in order[1:-1]:
            n = graph.nodes[k]
            if isinstance(n, nir.Affine):
                h = h @ n.weight.T.astype(np.float64) + n.bias
            else:
                v = state.get(k, np.zeros_like(h))
                v = v + dt / n.tau * (n.v_leak - v + n.r * h)
                s = (v > n.v_threshold).astype(np.float64)
                state[k] = np.where(s > 0, n.v_reset, v)
                h = s
        out.append(h)
    return np.stack(out)


def test_foreign_gains_and_thresholds_are_folded():
    rng = np.random.default_rng(0)
    dt, tau = 1e-3, 4e-3  # beta = 0.75; gains r*dt/tau: 2 and 0.5 (powers of two: folding is exact)
    n = lambda k, r, th: nir.LIF(tau=np.full(k, tau, np.float32), r=np.full(k, r, np.float32),  # noqa: E731
                                 v_leak=np.zeros(k, np.float32), v_threshold=np.full(k, th, np.float32),
                                 v_reset=np.zeros(k, np.float32))
    w1, w2 = rng.normal(0, 1, (8, 6)).astype(np.float32), rng.normal(0, 1, (3, 8)).astype(np.float32)
    g = nir.NIRGraph.from_list(nir.Affine(w1, np.zeros(8, np.float32)), n(8, 8.0, 1.0),
                               nir.Affine(w2, np.full(3, 0.25, np.float32)), n(3, 2.0, 2.0))
    imp = nirio.from_nir(g, dt=dt)
    assert imp.model.config.params.beta == 0.75 and imp.model.config.params.v_th == 1.0
    assert len(imp.notes) == 2
    np.testing.assert_array_equal(imp.model.layers[0].weight.detach().numpy(), 2 * w1)
    np.testing.assert_array_equal(imp.model.layers[1].weight.detach().numpy(), 0.25 * w2)
    x = (rng.random((50, 4, 6)) < 0.5).astype(np.float32)
    ref = _nir_reference(g, x, dt)
    ours = imp.model.run(torch.from_numpy(x)).spikes.numpy()
    assert ref.mean() > 0.05
    np.testing.assert_array_equal(ours, ref)


# ---------------------------------------------------------------------------------------------
# errors


def _lif(k=4, **kw):
    d = dict(tau=np.full(k, 1e-3, np.float32), r=np.full(k, 10.0, np.float32), v_leak=np.zeros(k, np.float32),
             v_threshold=np.ones(k, np.float32))
    d.update(kw)
    return nir.LIF(**d)


def test_unsupported_primitive_names_the_node_and_the_supported_set():
    g = nir.NIRGraph.from_list(nir.Affine(np.ones((4, 3), np.float32), np.zeros(4, np.float32)),
                               nir.CubaLIF(tau_syn=np.ones(4), tau_mem=np.ones(4), r=np.ones(4), v_leak=np.zeros(4),
                                           v_threshold=np.ones(4)))
    with pytest.raises(ConfigError, match=r"'cubalif' is a CubaLIF; supported primitives: Input, Output, Affine"):
        nirio.from_nir(g)


@pytest.mark.parametrize("bad,match", [
    (dict(v_leak=np.full(4, 0.1, np.float32)), "v_leak=0.1"),
    (dict(v_threshold=np.array([1, 1, 2, 1], np.float32)), "varying across neurons"),
    (dict(tau=np.full(4, 1e-5, np.float32)), "tau >= dt"),
])
def test_unrepresentable_neurons_are_refused(bad, match):
    g = nir.NIRGraph.from_list(nir.Affine(np.ones((4, 3), np.float32), np.zeros(4, np.float32)), _lif(**bad))
    with pytest.raises(ConfigError, match=match):
        nirio.from_nir(g, dt=1e-4)


def test_layers_with_different_beta_are_refused():
    g = nir.NIRGraph.from_list(nir.Affine(np.ones((4, 3), np.float32), np.zeros(4, np.float32)), _lif(),
                               nir.Affine(np.ones((4, 4), np.float32), np.zeros(4, np.float32)),
                               _lif(tau=np.full(4, 2e-3, np.float32)))
    with pytest.raises(ConfigError, match="one beta"):
        nirio.from_nir(g, dt=1e-4)


def test_branches_are_refused():
    nodes = {"input": nir.Input(input_type={"input": np.array([3])}),
             "a": nir.Affine(np.ones((4, 3), np.float32), np.zeros(4, np.float32)),
             "b": nir.Affine(np.ones((4, 3), np.float32), np.zeros(4, np.float32)), "lif": _lif(),
             "output": nir.Output(output_type={"output": np.array([4])})}
    g = nir.NIRGraph(nodes=nodes, edges=[("input", "a"), ("input", "b"), ("a", "lif"), ("b", "lif"),
                                         ("lif", "output")])
    with pytest.raises(ConfigError, match="feed-forward chain"):
        nirio.from_nir(g)


def test_alif_and_ann_are_not_exported(tmp_path):
    from neuro.models.ann import ann_like

    m = SpikingMLP(SpikingMLPConfig(sizes=(4, 3), lif=ALIFParams(), neuron="alif"))
    with pytest.raises(ConfigError, match="ALIF"):
        nirio.to_nir(m)
    with pytest.raises(ConfigError, match="SpikingMLP, SpikingConvNet"):
        nirio.to_nir(ann_like(SpikingMLPConfig(sizes=(4, 3))))


def test_missing_or_corrupt_files(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        nirio.from_nir(tmp_path / "nope.nir")
    (tmp_path / "bad.nir").write_bytes(b"not hdf5")
    with pytest.raises(DataError, match="not a readable NIR file"):
        nirio.from_nir(tmp_path / "bad.nir")
