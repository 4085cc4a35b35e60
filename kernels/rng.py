"""Counter-based random numbers for Numba kernels: the splitmix64 finaliser.

A kernel that draws from ``mix64(counter)`` gets the same numbers whatever thread or batch runs it,
so torch twins and parallel loops can reproduce its draws exactly.
"""

from __future__ import annotations

import numba
import numpy as np

GOLDEN = np.uint64(0x9E3779B97F4A7C15)   # 2^64 / phi: splitmix64's counter increment
_M2 = np.uint64(0xBF58476D1CE4E5B9)
_M3 = np.uint64(0x94D049BB133111EB)


@numba.njit(cache=True, inline="always")
def mix64(z):
    """The splitmix64 finaliser of the uint64 ``z``: a well-mixed uint64."""
    z = (z ^ (z >> np.uint64(30))) * _M2
    z = (z ^ (z >> np.uint64(27))) * _M3
    return z ^ (z >> np.uint64(31))
