"""Render the Verilog templates in ``templates/`` from validated parameters.

Parameters become Verilog ``parameter`` defaults (overridable with ``-G``/``#(...)``); nothing is
string-patched. Files are written to a temporary name in the target folder and renamed, so a crash
never leaves a half-written ``.v``.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from hw.golden import FixedLIFParams
from neuro.errors import ConfigError, HardwareError

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


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file in the same folder and ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; generated sources are ordinary readable files
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def write_lif_neuron(p: FixedLIFParams, path: str | os.PathLike, module_name: str = "lif_neuron") -> Path:
    """Render the LIF neuron for ``p`` and write it atomically to ``path``; returns the path."""
    return atomic_write_text(path, render_lif_neuron(p, module_name=module_name))
