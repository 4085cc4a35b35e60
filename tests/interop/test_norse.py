"""Cross-library round trips with Norse (optional; in the dev extra): a Norse box-LIF network into
our model, and our export into Norse's own ``from_nir``, compared spike for spike over T steps.
Membranes agree to a documented tolerance (Norse's Euler step rounds differently from ours)."""

from __future__ import annotations

import pytest
import torch

from hw.sim import in_ci  # noqa: E402

try:  # in the dev extra: a missing norse fails CI, and only skips locally
    import norse.torch as norse_torch
except ImportError:
    if in_ci():
        raise
    pytest.skip("norse is not installed (pip install -c constraints.txt norse; it is in the dev extra)",
                allow_module_level=True)

from norse.torch.module.lif_box import LIFBoxCell, LIFBoxParameters  # noqa: E402

from neuro.errors import ConfigError  # noqa: E402
from neuro.interop import nir as nirio  # noqa: E402
from neuro.interop.norse import export_norse, run_norse, to_norse  # noqa: E402
from neuro.models.mlp import SpikingMLP, SpikingMLPConfig  # noqa: E402
from neuro.neurons.lif import LIFParams  # noqa: E402

T = 60
#: |membrane difference| bound: Norse computes v + dt/tau*(i - v), we compute beta*v + i*dt/tau.
MEMBRANE_ATOL = 1e-5


@pytest.fixture(autouse=True)
def _inference():
    with torch.no_grad():
        yield


def spikes_in(n=16, B=8, p=0.5, seed=1):
    return (torch.rand(T, B, n, generator=torch.Generator().manual_seed(seed)) < p).float()


def norse_net(tau_mem_inv=100.0, v_th=1.0, dt=1e-3):
    torch.manual_seed(0)
    p = LIFBoxParameters(tau_mem_inv=torch.tensor(tau_mem_inv), v_th=torch.tensor(v_th))
    net = norse_torch.SequentialState(torch.nn.Linear(16, 24), LIFBoxCell(p, dt=dt), torch.nn.Linear(24, 6),
                                      LIFBoxCell(p, dt=dt))
    for m in net.children():
        if isinstance(m, torch.nn.Linear):
            m.weight.mul_(20.0)
    return net


@pytest.mark.parametrize("tau_mem_inv,v_th", [(100.0, 1.0), (200.0, 0.5)])
def test_norse_network_imported_gives_the_same_spikes(tau_mem_inv, v_th):
    net = norse_net(tau_mem_inv, v_th)
    imp = nirio.from_nir(export_norse(net, 16, dt=1e-3))
    p = imp.model.config.params
    assert p.beta == pytest.approx(1 - 1e-3 * tau_mem_inv, abs=1e-7) and p.reset == "zero"
    x = spikes_in()
    ref = run_norse(net, x)
    assert 0.05 < float(ref.mean()) < 0.9
    ours = imp.model.run(x)
    assert torch.equal(ours.spikes, ref)
    # membrane of the output layer: Norse's state after reset equals ours wherever no spike fired
    state, mems = None, []
    for t in range(T):
        _, state = net(x[t], state)
        mems.append(state[-1].v)
    quiet = ours.spikes == 0
    diff = (torch.stack(mems) - ours.membrane)[quiet].abs().max()
    assert float(diff) <= MEMBRANE_ATOL


@pytest.mark.parametrize("beta", [0.5, 0.9])
def test_our_export_imported_by_norse_gives_the_same_spikes(beta):
    torch.manual_seed(4)
    m = SpikingMLP(SpikingMLPConfig(sizes=(16, 20, 5), lif=LIFParams(beta=beta, v_th=1.0, reset="zero"))).eval()
    for layer in m.layers:
        layer.weight.mul_(3.0)
    g = nirio.fold_gain(nirio.to_nir(m))  # Norse ignores r: move it into the weights
    net = to_norse(g, dt=nirio.DEFAULT_DT)
    x = spikes_in(seed=3)
    ours = m.run(x)
    assert 0.05 < float(ours.spikes.mean()) < 0.9
    assert torch.equal(run_norse(net, x), ours.spikes)


def test_unsupported_norse_layers_are_refused():
    from norse.torch.functional.reset import reset_subtract

    p = LIFBoxParameters(reset_method=reset_subtract)
    with pytest.raises(ConfigError, match="reset_value"):
        export_norse(norse_torch.SequentialState(torch.nn.Linear(4, 3), LIFBoxCell(p)), 4)
    with pytest.raises(ConfigError, match="supported: torch.nn.Linear"):
        export_norse(norse_torch.SequentialState(torch.nn.Linear(4, 3), torch.nn.ReLU()), 4)
    with pytest.raises(ConfigError, match="dt=0.001"):
        export_norse(norse_torch.SequentialState(torch.nn.Linear(4, 3), LIFBoxCell(LIFBoxParameters(), dt=1e-4)), 4,
                     dt=1e-3)
