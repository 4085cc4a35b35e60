"""Classification with a dense associative memory (Krotov & Hopfield 2016, section 3).

Each stored memory is a training image binarised to ``+-1`` (pixel > ``threshold``) followed by
``C`` label units (``+1`` for its class, ``-1`` for the others): ``xi [P, F + C]``. A test image is
presented with all label units at ``-1`` and the label units are updated once from that state
(``neuro.rules.hopfield.dense_field`` restricted to them); the predicted class is the label unit
driven most strongly towards ``+1`` (argmax of the field; every sign and argmax is the same as with
the unscaled energy). Nothing is trained: the memories are the training set, so this is the
retrieval half of Krotov & Hopfield's model (they also learn the memories by gradient descent).
With the label units at ``-1`` the field of label ``c`` is ``sum_{mu in class c} H_mu`` plus a term
common to all labels: a vote of the stored images weighted by ``H = F'``-like of their overlap
with the test image (``exp`` makes it nearly a nearest-neighbour rule, a low-degree polynomial a
broad vote).
"""

from __future__ import annotations

import numpy as np
import torch

from neuro.errors import ConfigError
from neuro.rules.hopfield import DenseAMParams, dense_field


class DenseAMClassifier:
    """``fit(images, labels)`` stores the memories; ``predict(images, backend)`` returns labels.

    images: ``[n, F]`` (or ``[n, H, W]``) floats, labels int ``[n]`` in ``[0, n_classes)``.
    ``backend="torch"`` runs on ``device`` (default: the CPU; ``"cuda"`` works when present),
    ``"numba"`` on the CPU kernel ``kernels.hopfield.dense_field`` (same numbers). float64 by default:
    the polynomial fields are then exact (see ``neuro.rules.hopfield``).
    """

    def __init__(self, p: DenseAMParams, n_classes: int = 10, threshold: float = 0.5,
                 dtype=torch.float64, device=None) -> None:
        if not isinstance(n_classes, int) or n_classes < 2:
            raise ConfigError(f"n_classes={n_classes!r} is out of range; allowed: an integer >= 2.")
        self.p, self.n_classes, self.threshold = p, n_classes, float(threshold)
        self.dtype, self.device = dtype, torch.device(device) if device is not None else torch.device("cpu")
        self.memories: torch.Tensor | None = None

    def binarise(self, images) -> torch.Tensor:
        x = images if isinstance(images, torch.Tensor) else torch.from_numpy(np.array(images, dtype=np.float64))
        x = x.reshape(len(x), -1)
        return torch.where(x > self.threshold, 1.0, -1.0).to(self.device, self.dtype)

    def fit(self, images, labels) -> "DenseAMClassifier":
        x = self.binarise(images)
        y = torch.from_numpy(np.array(labels, dtype=np.int64)) if not isinstance(labels, torch.Tensor) else labels.long().cpu()
        if y.shape != (len(x),) or int(y.min()) < 0 or int(y.max()) >= self.n_classes:
            raise ConfigError(f"labels must be [{len(x)}] integers in [0, {self.n_classes}); got shape "
                              f"{tuple(y.shape)}, range [{int(y.min())}, {int(y.max())}].")
        lab = -torch.ones(len(x), self.n_classes, dtype=self.dtype, device=self.device)
        lab[torch.arange(len(x)), y.to(self.device)] = 1.0
        self.memories = torch.cat([x, lab], 1)
        return self

    def label_field(self, images, backend: str = "torch", batch_size: int = 500) -> torch.Tensor:
        """Field of the label units ``[n, C]`` with every label unit at -1 (CPU tensor)."""
        if self.memories is None:
            raise ConfigError("DenseAMClassifier.predict before fit; call fit(images, labels) first.")
        if backend not in ("torch", "numba"):
            raise ConfigError(f"backend={backend!r} is not supported; allowed: torch, numba.")
        x = self.binarise(images)
        s = torch.cat([x, -torch.ones(len(x), self.n_classes, dtype=self.dtype, device=self.device)], 1)
        units = np.arange(x.shape[1], x.shape[1] + self.n_classes)
        if backend == "numba":
            from kernels.hopfield import dense_field as dense_field_numba

            return torch.from_numpy(dense_field_numba(s.cpu().numpy(), self.memories.cpu().numpy(), self.p, units))
        out = [dense_field(s[i:i + batch_size], self.memories, self.p, units).cpu()
               for i in range(0, len(s), batch_size)]
        return torch.cat(out)

    def predict(self, images, backend: str = "torch", batch_size: int = 500) -> np.ndarray:
        return self.label_field(images, backend, batch_size).argmax(1).numpy()

    def accuracy(self, images, labels, backend: str = "torch") -> float:
        return float((self.predict(images, backend) == np.asarray(labels)).mean())
