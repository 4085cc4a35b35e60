"""Numba twins of ``neuro.rules.contrastive``: the EP/CHL fixed-point solver and dual propagation's
backward sweep, on numpy arrays (float32 or float64) held in ``numba.typed.List``s (one array per
layer). Same equations and sweep order as the torch versions; parity-tested."""

from __future__ import annotations

import numba


@numba.njit(cache=True)
def _store_clipped(dst, h, target, beta):
    """The output layer's box-constrained minimiser of ``E + beta C``: ``clip((h + beta y) / (1 + beta),
    0, 1)`` for ``beta > -1`` (beta = 0: plain clip), else the corner ``(h + beta y) > (1 + beta) / 2``."""
    for i in range(h.shape[0]):
        for j in range(h.shape[1]):
            v = h[i, j]
            if beta != 0.0:
                v = v + beta * target[i, j]
                if beta <= -1.0:
                    dst[i, j] = 1.0 if v > 0.5 * (1.0 + beta) else 0.0
                    continue
                v = v / (1.0 + beta)
            dst[i, j] = 0.0 if v < 0.0 else (1.0 if v > 1.0 else v)


@numba.njit(cache=True)
def ep_settle_kernel(x, states, weights, biases, steps, beta, target, clamp):
    """``steps`` Gauss-Seidel sweeps in place on ``states`` (``ep_settle``'s equations)."""
    L = len(weights)
    for _ in range(steps):
        for l in range(L):
            below = x if l == 0 else states[l - 1]
            h = below @ weights[l].T + biases[l]
            if l < L - 1:
                h += states[l + 1] @ weights[l + 1]
                _store_clipped(states[l], h, target, 0.0)
            elif clamp:
                states[l][:, :] = target
            else:
                _store_clipped(states[l], h, target, beta)


@numba.njit(cache=True)
def dp_sweep_kernel(zs, sbar, weights, g, ab, a1b, alpha, alpha1):
    """``dp_sweep``: returns (differences ``s^+ - s^-`` per layer, updated layer inputs ``sbar``).
    Scalars arrive in the arrays' dtype (``ab = alpha beta``, ``a1b = (1 - alpha) beta``,
    ``alpha1 = 1 - alpha``) so float32 rounding is torch's."""
    L = len(weights)
    diffs = [zs[0][:0, :0].copy()]  # typed list of 2-D arrays, filled below
    diffs.pop()
    for k in range(L):
        diffs.append(zs[k].copy())
    out = [s.copy() for s in sbar]
    diffs[L - 1][:, :] = (zs[L - 1] - ab * g) - (zs[L - 1] + a1b * g)
    for k in range(L - 2, -1, -1):
        u = diffs[k + 1] @ weights[k + 1]
        z = zs[k]
        for i in range(z.shape[0]):
            for j in range(z.shape[1]):
                sp = z[i, j] + alpha * u[i, j]
                sm = z[i, j] - alpha1 * u[i, j]
                sp = sp if sp > 0 else sp * 0
                sm = sm if sm > 0 else sm * 0
                diffs[k][i, j] = sp - sm
                out[k + 1][i, j] = alpha * sp + alpha1 * sm
    return diffs, out


def ep_grads(x, y, weights, biases, p, states=None):
    """The Numba backend of ``neuro.rules.contrastive.ep_grads`` (registry entry ``("ep", "numba")``):
    the same phases with every solver sweep in :func:`ep_settle_kernel`."""
    from neuro.rules.contrastive import ep_grads as _ep
    return _ep(x, y, weights, biases, p, states, backend="numba")


def dp_grads(x, y, weights, biases, p):
    """The Numba backend of ``neuro.rules.contrastive.dp_grads`` (registry ``("dualprop", "numba")``)."""
    from neuro.rules.contrastive import dp_grads as _dp
    return _dp(x, y, weights, biases, p, backend="numba")
