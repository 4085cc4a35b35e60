"""Known answers of every count on tiny hand-computed networks."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from neuro.energy.counting import connection_ops, count_model, count_module


def _nb_3x3():
    """NeuroBench's documented example: W 3x3 with three zeros, x = [0, 1.3, -1]."""
    layer = nn.Linear(3, 3, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[1.3, 0.0, -3.2], [0.0, 1.2, -5.1], [-1.1, 2.7, 0.0]]))
    return layer, torch.tensor([[0.0, 1.3, -1.0]])


def test_neurobench_documented_3x3_example():
    layer, x = _nb_3x3()
    assert connection_ops(layer, x) == (4, 9, False)  # Effective 4, Dense 9, MACs (1.3 is not binary)
    c = count_module(layer, [x])
    assert (c.eff_macs, c.eff_acs, c.dense) == (4, 0, 9)
    assert c.connection_sparsity == pytest.approx(3 / 9)
    assert c.footprint_bytes == 9 * 4
    row = c.layer_table()[0]
    # ANN layer without activation: 3 outputs, one weight + one input fetch per effective MAC, no bias
    assert (row["neuron_updates"], row["weight_reads"], row["input_reads"], row["output_writes"]) == (3, 4, 4, 3)
    assert row["state_reads"] == row["state_writes"] == 0


def test_binary_input_counts_as_accumulates():
    layer, _ = _nb_3x3()
    assert connection_ops(layer, torch.tensor([[0.0, 1.0, -1.0], [1.0, 1.0, 1.0]])) == (4 + 6, 18, True)


def test_conv_known_answer():
    conv = nn.Conv2d(1, 1, 2, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([[[[1.0, 0.0], [2.0, 3.0]]]]))
    x = torch.tensor([[[[1.0, 2.0, 0.0], [0.0, 1.0, 1.0], [1.0, 0.0, 1.0]]]])
    # output positions (0,0) 2, (0,1) 3, (1,0) 1, (1,1) 2 effective pairs; 4 positions x 4 taps dense
    assert connection_ops(conv, x) == (8, 16, False)
    conv_p = nn.Conv2d(1, 1, 2, padding=1, bias=False)
    with torch.no_grad():
        conv_p.weight.fill_(1.0)
    # padding: 4x4 outputs; in-bounds taps per output = rows(1,2,2,1) x cols(1,2,2,1) -> 6*6 = 36 of 64
    assert connection_ops(conv_p, torch.ones(1, 1, 3, 3))[1] == 36


def _tiny_snn():
    from neuro.models.mlp import SpikingMLP, SpikingMLPConfig
    from neuro.neurons.lif import LIFParams

    net = SpikingMLP(SpikingMLPConfig(sizes=(3, 2), lif=LIFParams(beta=0.5, v_th=1.0, reset="subtract")))
    with torch.no_grad():
        net.layers[0].weight.copy_(torch.tensor([[1.5, 0.0, 0.5], [0.0, 0.0, 2.0]]))
        net.layers[0].bias.zero_()
    x = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0], [1.0, 1.0, 0.0]]).reshape(3, 1, 3)  # [T=3, B=1, 3]
    return net, x


@pytest.mark.parametrize("backend", ["torch", "numba"])
def test_tiny_snn_known_answer(backend):
    """Currents n0: 2.0, 0.5, 1.5 and n1: 2.0, 2.0, 0.0; beta 0.5, v_th 1, subtract reset (delayed):
    n0 v = 2.0 (spike), 0.5, 1.75 (spike); n1 v = 2.0 (spike), 2.0 (spike), 0.0 -> 4 spikes in 6 updates."""
    net, x = _tiny_snn()
    c = count_model(net, x, backend=backend)
    assert c.samples == 1 and c.steps == 3
    assert (c.dense, c.eff_acs, c.eff_macs) == (18, 3 + 2 + 1, 0)
    row = c.layer_table()[0]
    assert (row["neuron_updates"], row["spikes"]) == (6, 4)
    assert row["spike_rate"] == pytest.approx(4 / 6)
    assert c.activation_sparsity == pytest.approx(2 / 6)
    assert c.connection_sparsity == pytest.approx(3 / 6)
    # Lemaire-style accesses: weights = synops + one bias per update; state = synops + updates
    assert row["weight_reads"] == 6 + 6
    assert row["state_reads"] == row["state_writes"] == 6 + 6
    assert row["input_reads"] == 5 and row["output_writes"] == 4
    t = c.totals()
    assert t["spikes_per_neuron"] == pytest.approx(2.0)
    assert t["synops_per_synapse"] == pytest.approx(6 / 6)
    assert c.footprint_bytes == (6 + 2) * 4


def test_ann_twin_counts_relu_sparsity():
    from neuro.energy.counting import count_ann
    from neuro.models.ann import ann_like
    from neuro.models.mlp import SpikingMLPConfig

    ann = ann_like(SpikingMLPConfig(sizes=(2, 2, 1)))
    with torch.no_grad():
        ann.layers[0].weight.copy_(torch.tensor([[1.0, 1.0], [-1.0, 0.0]]))
        ann.layers[0].bias.zero_()
        ann.layers[1].weight.copy_(torch.tensor([[2.0, 0.0]]))
        ann.layers[1].bias.zero_()
    x = torch.tensor([[0.5, 0.25], [0.0, 1.0]])
    c = count_ann(ann, x)
    # layer 0: nnz cols of W: [2, 1]; x nnz per column over 2 rows: [1, 2] -> 1*2 + 2*1 = 4 MACs / 2 samples
    # relu outputs: sample 0 [0.75, 0] sample 1 [1, 0] -> 2 of 4 zero; layer 1: nnz W cols [1, 0] -> 2 MACs
    assert c.eff_macs == pytest.approx((4 + 2) / 2)
    assert c.dense == pytest.approx((2 * 4 + 2 * 2) / 2)
    assert c.activation_sparsity == pytest.approx(0.5)
    rows = c.layer_table()
    assert [r["kind"] for r in rows] == ["ann", "linear"]
    assert [r["neuron_updates"] for r in rows] == [2, 1]


def test_alif_layers_carry_two_state_values():
    """ALIF keeps a membrane and an adaptation variable: state accesses = synops + 2 per update."""
    from neuro.models.mlp import SpikingMLP, SpikingMLPConfig

    torch.manual_seed(0)
    net = SpikingMLP(SpikingMLPConfig(sizes=(3, 2), neuron="alif"))
    _, x = _tiny_snn()
    row = count_model(net, x).layer_table()[0]
    assert row["n_state"] == 2
    assert row["state_reads"] == row["synops"] + 2 * row["neuron_updates"] == row["synops"] + 12
