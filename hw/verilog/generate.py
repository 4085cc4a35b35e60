"""Render the Verilog templates in ``templates/`` from validated parameters.

Parameters become Verilog ``parameter`` defaults (overridable with ``-G``/``#(...)``); nothing is
string-patched. Files are written to a temporary name in the target folder and renamed, so a crash
never leaves a half-written ``.v``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from hw.golden import FixedLIFParams
from neuro.errors import ConfigError, HardwareError
from neuro.io import write_text

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _environment():
    try:
        import jinja2
    except ImportError as e:  # pragma: no cover - jinja2 is a core dependency
        raise HardwareError("Verilog generation needs jinja2; run `pip install jinja2` (or `make test`).") from e
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )


def verilog_parameters(p: FixedLIFParams) -> dict[str, int]:
    """The ``lif_neuron`` Verilog parameters for ``p`` (what the template writes as defaults)."""
    return {
        "MEM_W": p.mem_w,
        "IN_W": p.in_w,
        "LEAK_SHIFT": p.leak_shift,
        "THRESHOLD": p.threshold,
        "RESET_ZERO": int(p.reset_zero),
        "REFRAC": p.refractory_steps,
    }


def render_lif_neuron(p: FixedLIFParams, module_name: str = "lif_neuron",
                      template: str = "lif_neuron.v.j2") -> str:
    """Verilog-2005 source text of one LIF neuron module with ``p`` as parameter defaults."""
    if not isinstance(p, FixedLIFParams):
        raise ConfigError(f"p has type {type(p).__name__}; allowed: hw.golden.FixedLIFParams.")
    if not isinstance(module_name, str) or not _IDENT.match(module_name):
        raise ConfigError(
            f"module_name={module_name!r} is not a Verilog identifier; allowed: letters, digits and _ "
            "not starting with a digit."
        )
    return _environment().get_template(template).render(p=p, module_name=module_name, source=repr(p))


def write_lif_neuron(p: FixedLIFParams, path: str | os.PathLike, module_name: str = "lif_neuron") -> Path:
    """Render the LIF neuron for ``p`` and write it atomically to ``path``; returns the path."""
    return write_text(path, render_lif_neuron(p, module_name=module_name))


# ============================================================================ spiking network cores

def _bits(n: int) -> int:
    """Bits to address ``n`` items (at least 1)."""
    return max(1, int(n - 1).bit_length())


def _hex_lines(values, bits: int) -> str:
    """Two's-complement hex words, one per line, for ``$readmemh``."""
    mask, digits = (1 << bits) - 1, (bits + 3) // 4
    return "".join(f"{int(v) & mask:0{digits}x}\n" for v in values)


def layer_lanes(n_out: int, max_lanes: int) -> int:
    """Lanes of a layer core: the largest power of two <= ``max_lanes`` dividing ``n_out``."""
    lanes = 1
    while lanes * 2 <= max_lanes and n_out % (lanes * 2) == 0:
        lanes *= 2
    return lanes


def _weight_words(layer, lanes: int) -> str:
    """``wmem`` words: row j, group g holds W[j, g*lanes + l] in bits [l*W_W +: W_W], as hex lines."""
    bits = layer.weight_w
    mask = (1 << bits) - 1
    w = (layer.weight.reshape(layer.n_in, layer.n_out // lanes, lanes) & mask).astype(object)
    words = np.zeros(w.shape[:2], dtype=object)
    for lane in range(lanes):
        words = words | (w[:, :, lane] << (lane * bits))
    return _hex_lines(words.reshape(-1), bits * lanes)


def snn_layer_parameters(net, k: int, file_prefix: str = "", max_lanes: int = 1) -> dict[str, int | str]:
    """The ``*_layer`` Verilog parameters of layer ``k`` of a ``hw.golden.FixedSNN``."""
    layer = net.layers[k]
    lanes = layer_lanes(layer.n_out, max_lanes)
    groups = layer.n_out // lanes
    return {
        "N_IN": layer.n_in, "N_OUT": layer.n_out, "IN_AW": _bits(layer.n_in), "OUT_AW": _bits(layer.n_out),
        "LANES": lanes, "LG": lanes.bit_length() - 1, "G_AW": _bits(groups),
        "WA_W": _bits(layer.n_in * groups), "W_W": layer.weight_w, "MEM_W": layer.mem_w,
        "ACC_W": layer.acc_w, "THRESHOLD": layer.threshold, "LEAK_MULT": int(layer.leak == "multiply"),
        "BETA": layer.beta, "BETA_F": layer.beta_frac, "ROUND_HALF": int(layer.rounding == "nearest"),
        "LEAK_SHIFT": layer.leak_shift, "RESET_ZERO": int(layer.reset == "zero"),
        "T_STEPS": net.num_steps, "T_W": _bits(net.num_steps),
        "WEIGHT_FILE": f'"{file_prefix}l{k}_weights.mem"', "BIAS_FILE": f'"{file_prefix}l{k}_bias.mem"',
    }


READOUT_MODE = {"spike_count": 0, "membrane_mean": 1, "membrane_max": 2, "membrane_last": 3}


def snn_readout_parameters(net) -> dict[str, int]:
    """The ``*_readout`` Verilog parameters of a ``hw.golden.FixedSNN``."""
    C = net.sizes[-1]
    return {"C": C, "AW": _bits(C), "CLS_W": _bits(C), "MEM_W": net.layers[-1].mem_w, "SCORE_W": net.score_w,
            "CNT_W": snn_count_width(net), "MODE": READOUT_MODE[net.readout], "T_STEPS": net.num_steps,
            "T_W": _bits(net.num_steps)}


def snn_count_width(net) -> int:
    """Bits of one spike counter (0..T)."""
    return max(1, int(net.num_steps).bit_length())


def render_snn(net, top: str = "snn_top", max_lanes: int = 1) -> dict[str, str]:
    """Verilog sources and ``$readmemh`` files of a fixed-point spiking MLP, by file name.

    Files: ``{top}_layer.v``, ``{top}_readout.v``, ``{top}.v``, ``{top}_io.v`` (the top behind a
    byte-wide result port, for synthesis on small packages) and, per layer k,
    ``l{k}_weights.mem`` (``wmem[j*N_OUT + n]``) and ``l{k}_bias.mem``. The same network gives
    the same text (no dates, no absolute paths): the memory files are named relative to the
    simulator's or synthesiser's working folder.
    """
    from hw.golden import FixedSNN

    if not isinstance(net, FixedSNN):
        raise ConfigError(f"net has type {type(net).__name__}; allowed: hw.golden.FixedSNN (see hw.quant).")
    if not isinstance(top, str) or not _IDENT.match(top):
        raise ConfigError(f"top={top!r} is not a Verilog identifier; allowed: letters, digits and _.")
    env = _environment()
    source = f"a {len(net.layers)}-layer hw.golden.FixedSNN {list(net.sizes)}"
    ctx = {"prefix": top, "source": source}
    if isinstance(max_lanes, bool) or not isinstance(max_lanes, int) or not 1 <= max_lanes <= 64:
        raise ConfigError(f"max_lanes={max_lanes!r}; allowed: an int in [1, 64] (neurons updated per cycle "
                          "by an event; each layer uses the largest power of two <= max_lanes dividing its size).")
    layers = [snn_layer_parameters(net, k, max_lanes=max_lanes) for k in range(len(net.layers))]
    readout = snn_readout_parameters(net)
    C = net.sizes[-1]
    files = {
        f"{top}_layer.v": env.get_template("snn_layer.v.j2").render(**ctx),
        f"{top}_readout.v": env.get_template("snn_readout.v.j2").render(**ctx),
        f"{top}.v": env.get_template("snn_top.v.j2").render(
            **ctx, top=top, layers=layers, readout=readout, sizes=list(net.sizes), num_steps=net.num_steps,
            readout_name=net.readout, in_aw=_bits(net.sizes[0]), cls_w=readout["CLS_W"],
            counts_w=C * readout["CNT_W"], scores_w=C * readout["SCORE_W"]),
    }
    n_bits = C * (readout["CNT_W"] + readout["SCORE_W"])
    bytes_n = (n_bits + 7) // 8 + (1 if n_bits % 8 == 0 else 0)   # at least one pad bit
    files[f"{top}_io.v"] = env.get_template("snn_io.v.j2").render(
        **ctx, top=top, in_aw=_bits(net.sizes[0]), cls_w=readout["CLS_W"], counts_w=C * readout["CNT_W"],
        scores_w=C * readout["SCORE_W"], sel_w=_bits(bytes_n), bytes_n=bytes_n)
    for k, layer in enumerate(net.layers):
        files[f"l{k}_weights.mem"] = _weight_words(layer, layers[k]["LANES"])
        files[f"l{k}_bias.mem"] = _hex_lines(layer.bias, layer.mem_w)
    return files


def write_snn(net, folder: str | os.PathLike, top: str = "snn_top", max_lanes: int = 1) -> dict[str, Path]:
    """Render the network and write every file atomically into ``folder``; paths by file name."""
    return {name: write_text(Path(folder) / name, text)
            for name, text in render_snn(net, top, max_lanes).items()}
