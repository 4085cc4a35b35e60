"""Numba CPU kernels: plain functions over contiguous numpy arrays, one file per component.

Kernels take a component's Params unpacked to scalars; the thin adapters next to them accept the
Params object and are what ``neuro.registry`` registers.
"""
