"""Interoperability with other SNN tools through NIR (the Neuromorphic Intermediate Representation).

- ``neuro.interop.nir``: our spiking MLP / conv net <-> ``nir.NIRGraph`` and ``.nir`` files (the
  beta <-> tau mapping, the side-car file for what NIR cannot hold);
- ``neuro.interop.snntorch``: snnTorch networks to NIR (snnTorch's exporter plus a shape fix) and
  back (snnTorch's importer);
- ``neuro.interop.norse``: Norse box-LIF networks to NIR and back (optional dependency);
- ``neuro.interop.runs``: run folders from NIR files and back (``neuro import`` / ``neuro export``).

Imports are lazy: ``import neuro.interop`` loads nothing heavy.
"""
