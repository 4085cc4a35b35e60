"""Switching activity from a simulation's VCD: bit toggles per signal, for FPGA energy estimates.

A toggle is one bit changing value between two consecutive recorded values of a signal (x/z
count as 0). Signals reachable under several hierarchical names (aliases sharing a VCD id code)
are counted once, under the first name declared.
"""

from __future__ import annotations

from pathlib import Path

from neuro.errors import HardwareError


def _bits(value: str) -> int | None:
    try:
        return int(value.replace("x", "0").replace("z", "0").replace("X", "0").replace("Z", "0"), 2)
    except ValueError:
        return None


def vcd_toggles(path: str | Path) -> dict:
    """``{"toggles_by_signal": {name: toggles}, "toggles_total", "signals", "end_time"}`` of a VCD file.

    Multi-bit values count the Hamming distance between successive values; the first recorded
    value of each signal (its initialisation) is not a toggle.
    """
    path = Path(path)
    if not path.is_file():
        raise HardwareError(f"no VCD file at {str(path)!r}; run the simulation with waves enabled.")
    names: dict[str, str] = {}
    scope: list[str] = []
    last: dict[str, int] = {}
    toggles: dict[str, int] = {}
    end_time = 0
    with open(path, "r", encoding="ascii", errors="replace") as f:
        for line in f:                                   # header
            tok = line.split()
            if not tok:
                continue
            if tok[0] == "$scope":
                scope.append(tok[2])
            elif tok[0] == "$upscope":
                scope.pop()
            elif tok[0] == "$var":
                code, name = tok[3], tok[4]
                names.setdefault(code, ".".join(scope + [name]))
            elif tok[0] == "$enddefinitions":
                break
        for line in f:                                   # value changes
            c = line[:1]
            if c == "#":
                end_time = int(line[1:])
                continue
            if c in "01xzXZ":
                value, code = (1 if c == "1" else 0), line[1:].strip()
            elif c in "bB":
                raw, code = line[1:].split()
                value = _bits(raw)
                if value is None:
                    continue
            else:
                continue                                 # $dumpvars/$end markers, reals
            if code not in names:
                continue
            prev = last.get(code)
            if prev is not None and prev != value:
                toggles[code] = toggles.get(code, 0) + bin(prev ^ value).count("1")
            last[code] = value
    by_name = {names[c]: n for c, n in sorted(toggles.items(), key=lambda kv: -kv[1])}
    return {"toggles_by_signal": by_name, "toggles_total": int(sum(toggles.values())), "signals": len(names),
            "end_time": end_time}
