"""Datasets: digits split, MNIST / Fashion-MNIST from $NEURO_DATA_DIR, checksums, corruption, download.

The real files come from the ``shared_data_dir`` fixture (tests/conftest.py: ``$NEURO_DATA_DIR`` or
``../shared/data`` beside the repo). Downloads are tested against a local HTTP server on
127.0.0.1 and file:// URLs only; no test reaches the internet.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import shutil
import struct
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from neuro.data.datasets import (
    DATA_DIR_ENV,
    MNIST,
    Dataset,
    IdxFile,
    IdxSource,
    default_cache_dir,
    download_file,
    load_dataset,
    load_splits,
    read_idx,
    stratified_split,
)
from neuro.errors import ConfigError, DataError

MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path, monkeypatch):
    """No test reads the user's real cache or an inherited $NEURO_DATA_DIR by accident."""
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def _idx_bytes(arr: np.ndarray) -> bytes:
    a = np.ascontiguousarray(arr, dtype=np.uint8)
    return struct.pack(f">HBB{a.ndim}I", 0, 0x08, a.ndim, *a.shape) + a.tobytes()


# ---------------------------------------------------------------------------------- digits


def test_digits_shapes_counts_and_range():
    tr, te = load_dataset("digits", "train"), load_dataset("digits", "test")
    assert tr.images.shape == (1438, 8, 8) and te.images.shape == (359, 8, 8)
    assert len(tr) + len(te) == 1797
    assert tr.images.dtype == np.float32 and tr.labels.dtype == np.int64
    assert tr.images.min() == 0.0 and tr.images.max() == 1.0
    assert tr.classes == tuple("0123456789") and tr.image_shape == (8, 8) and tr.num_features == 64
    assert tr.source == "scikit-learn" and tr.verified is None
    # stratified: per class, round(0.2 * n_class) test images
    from sklearn.datasets import load_digits

    totals = np.bincount(load_digits().target, minlength=10)
    np.testing.assert_array_equal(tr.class_counts() + te.class_counts(), totals)
    np.testing.assert_array_equal(te.class_counts(), np.floor(0.2 * totals + 0.5).astype(int))


def test_digits_split_is_deterministic_and_disjoint():
    a, b = load_dataset("digits", "test"), load_dataset("digits", "test", seed=99)
    np.testing.assert_array_equal(a.images, b.images)  # the test split does not depend on seed
    np.testing.assert_array_equal(a.labels, b.labels)
    tr = load_dataset("digits", "train")
    tr_rows = {r.tobytes() + bytes([l]) for r, l in zip(tr.images, tr.labels)}
    te_rows = {r.tobytes() + bytes([l]) for r, l in zip(a.images, a.labels)}
    from sklearn.datasets import load_digits

    all_rows = {(r / 16.0).astype(np.float32).tobytes() + bytes([l])
                for r, l in zip(load_digits().images, load_digits().target)}
    assert tr_rows | te_rows == all_rows
    assert len(tr_rows & te_rows) <= 5  # only exact duplicate images of the same class may appear in both


def test_validation_split_seeded_and_stratified():
    s1 = load_splits("digits", val_fraction=0.25, seed=3)
    s2 = load_splits("digits", val_fraction=0.25, seed=3)
    s3 = load_splits("digits", val_fraction=0.25, seed=4)
    assert len(s1.train) + len(s1.val) == 1438 and s1.val.split == "val"
    np.testing.assert_array_equal(s1.val.images, s2.val.images)
    assert not np.array_equal(s1.val.images, s3.val.images)
    np.testing.assert_array_equal(s1.test.labels, s3.test.labels)
    full = load_dataset("digits", "train").class_counts()
    np.testing.assert_array_equal(s1.val.class_counts(), np.floor(0.25 * full + 0.5).astype(int))
    v = load_dataset("digits", "val", val_fraction=0.25, seed=3)
    np.testing.assert_array_equal(v.labels, s1.val.labels)
    assert load_splits("digits", val_fraction=0.0).val is None


def test_stratified_split_unit():
    y = np.repeat(np.arange(3), [10, 20, 30])
    keep, held = stratified_split(y, 0.1, seed=0)
    assert np.bincount(y[held]).tolist() == [1, 2, 3]
    assert np.all(np.diff(keep) > 0) and np.all(np.diff(held) > 0)
    assert len(np.intersect1d(keep, held)) == 0 and len(keep) + len(held) == 60
    k2, h2 = stratified_split(y, 0.1, seed=0)
    np.testing.assert_array_equal(h2, held)
    with pytest.raises(ConfigError, match=r"fraction=1.0.*\[0, 1\)"):
        stratified_split(y, 1.0)


def test_dataset_views_batches_and_torch():
    d = load_dataset("digits", "test", flatten=True)
    assert d.images.shape == (359, 64) and d.is_flat
    assert d.unflatten().images.shape == (359, 8, 8)
    with pytest.raises(ValueError):
        d.images[0, 0] = 1.0  # read-only
    batches = list(d.batches(100))
    assert [len(y) for _, y in batches] == [100, 100, 100, 59]
    assert len(list(d.batches(100, drop_last=True))) == 3
    sh1 = [y.copy() for _, y in d.batches(64, shuffle=True, seed=1)]
    sh2 = [y.copy() for _, y in d.batches(64, shuffle=True, seed=1)]
    assert all(np.array_equal(a, b) for a, b in zip(sh1, sh2))
    np.testing.assert_array_equal(np.sort(np.concatenate(sh1)), np.sort(d.labels))
    x, y = d.to_torch()
    assert x.dtype == torch.float32 and y.dtype == torch.int64 and tuple(x.shape) == (359, 64)
    xb, yb = next(d.batches(8, as_torch=True))
    assert isinstance(xb, torch.Tensor) and yb.dtype == torch.int64 and tuple(xb.shape) == (8, 64)
    with pytest.raises(ConfigError, match="batch_size=0"):
        next(d.batches(0))


def test_bad_arguments():
    with pytest.raises(ConfigError, match="'cifar' is unknown.*digits, mnist, fashion_mnist"):
        load_dataset("cifar")
    with pytest.raises(ConfigError, match="split='valid'"):
        load_dataset("digits", "valid")
    with pytest.raises(ConfigError, match="val_fraction > 0"):
        load_dataset("digits", "val")
    with pytest.raises(ConfigError, match=r"val_fraction=1.5.*\[0, 1\)"):
        load_dataset("digits", val_fraction=1.5)
    with pytest.raises(ConfigError, match="verify='never'"):
        load_dataset("mnist", verify="never", download=False)
    with pytest.raises(ConfigError, match="seed=-2"):
        load_dataset("digits", seed=-2)


# ---------------------------------------------------------------------------------- real IDX data


@pytest.fixture(scope="module")
def mnist_train(shared_data_dir):
    return load_dataset("mnist", "train", data_dir=shared_data_dir, download=False)


def test_mnist_from_data_dir(mnist_train, shared_data_dir, tmp_path, monkeypatch):
    tr = mnist_train
    assert tr.images.shape == (60000, 28, 28) and tr.images.dtype == np.float32
    assert tr.labels.dtype == np.int64 and tr.class_counts().tolist() == MNIST_TRAIN_COUNTS
    assert 0.0 == tr.images.min() and tr.images.max() == 1.0
    assert abs(float(tr.images.mean()) - 0.1307) < 1e-3  # the well-known MNIST pixel mean
    assert tr.verified is True  # content matches the official release (re-compressed gz)
    # via the environment variable, flattened, strict checksums
    monkeypatch.setenv(DATA_DIR_ENV, str(shared_data_dir))
    te = load_dataset("mnist", "test", flatten=True, download=False, verify="strict", cache_dir=tmp_path)
    assert te.images.shape == (10000, 784) and te.class_counts().tolist() == MNIST_TEST_COUNTS
    assert Path(te.source) == shared_data_dir / "mnist"


def test_mnist_validation_split(mnist_train):
    keep, held = stratified_split(mnist_train.labels, 0.1, seed=0)
    assert len(held) == 6000 and len(keep) == 54000
    assert np.all(np.abs(np.bincount(mnist_train.labels[held]) - 0.1 * np.array(MNIST_TRAIN_COUNTS)) <= 0.5)


def test_fashion_mnist_from_data_dir(shared_data_dir):
    s = load_splits("fashion_mnist", val_fraction=0.0, data_dir=shared_data_dir, download=False)
    assert s.train.images.shape == (60000, 28, 28) and s.test.images.shape == (10000, 28, 28)
    assert s.train.class_counts().tolist() == [6000] * 10 and s.test.class_counts().tolist() == [1000] * 10
    assert s.train.classes[0] == "T-shirt/top" and s.train.classes[9] == "Ankle boot"
    # the shared copy is a re-split, not the official files: accepted under "auto", flagged
    assert s.train.verified is False and s.test.verified is False
    assert load_dataset("fashion-mnist", "test", data_dir=shared_data_dir, verify="none").verified is None


def test_fashion_mnist_strict_rejects_unofficial_files(shared_data_dir):
    with pytest.raises(DataError) as err:
        load_dataset("fashion_mnist", "test", data_dir=shared_data_dir, download=False, verify="strict")
    msg = str(err.value)
    assert "checksum mismatch" in msg and "t10k-images-idx3-ubyte.gz" in msg
    assert "bef4ecab320f06d8554ea6380940ec79" in msg  # expected (official)
    assert "25c5b528bf802cdd21400909e9a42746" in msg  # actual
    assert "Delete it" in msg and "verify='auto'" in msg


def _copy_mnist_test(shared_data_dir: Path, dest_root: Path) -> Path:
    folder = dest_root / "mnist"
    folder.mkdir(parents=True)
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        shutil.copy(shared_data_dir / "mnist" / name, folder / name)
        (folder / name).chmod(0o644)
    return folder


def test_corrupted_gzip_is_a_data_error(shared_data_dir, tmp_path):
    folder = _copy_mnist_test(shared_data_dir, tmp_path / "data")
    f = folder / "t10k-images-idx3-ubyte.gz"
    raw = bytearray(f.read_bytes())
    for i in range(len(raw) // 2, len(raw) // 2 + 16):
        raw[i] ^= 0xFF
    f.write_bytes(bytes(raw))
    kw = dict(data_dir=tmp_path / "data", cache_dir=tmp_path / "cache", download=False)
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte\.gz is not a valid gzip file.*corrupt"):
        load_dataset("mnist", "test", **kw)
    with pytest.raises(DataError, match=r"checksum mismatch .*t10k-images.*9fb629c4189551a2d022fa330f9573f3"):
        load_dataset("mnist", "test", verify="strict", **kw)


def test_truncated_gzip_is_a_data_error(shared_data_dir, tmp_path):
    folder = _copy_mnist_test(shared_data_dir, tmp_path / "data")
    f = folder / "t10k-labels-idx1-ubyte.gz"
    f.write_bytes(f.read_bytes()[:-100])
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte\.gz is not a valid gzip file"):
        load_dataset("mnist", "test", data_dir=tmp_path / "data", cache_dir=tmp_path / "c", download=False)


@pytest.mark.parametrize("case,pattern", [
    ("short_payload", r"IDX format error: dims \(10000,\).*need 10000 bytes.*has 9000"),
    ("bad_magic", r"IDX format error: bad magic number 0x00000701"),
    ("label_range", r"labels span \[0, 12\]; allowed: \[0, 9\]"),
    ("count", r"holds 10000 images but t10k-labels-idx1-ubyte\.gz holds 9999 labels"),
])
def test_malformed_idx_is_a_data_error(shared_data_dir, tmp_path, case, pattern):
    folder = _copy_mnist_test(shared_data_dir, tmp_path / "data")
    labels = np.frombuffer(gzip.decompress((folder / "t10k-labels-idx1-ubyte.gz").read_bytes())[8:], np.uint8)
    if case == "short_payload":
        payload = _idx_bytes(labels)[:-1000]
    elif case == "bad_magic":
        payload = b"\x00\x00\x07\x01" + _idx_bytes(labels)[4:]  # 0x07: no such IDX type
    elif case == "label_range":
        bad = labels.copy()
        bad[5] = 12
        payload = _idx_bytes(bad)
    else:
        payload = _idx_bytes(labels[:-1])
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(payload))
    with pytest.raises(DataError, match=pattern):
        load_dataset("mnist", "test", data_dir=tmp_path / "data", cache_dir=tmp_path / "c", download=False)


def test_uncompressed_files_and_folder_variants(shared_data_dir, tmp_path):
    raw = tmp_path / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (raw / name).write_bytes(gzip.decompress((shared_data_dir / "mnist" / f"{name}.gz").read_bytes()))
    d = load_dataset("mnist", "test", data_dir=tmp_path / "data", cache_dir=tmp_path / "c", download=False,
                     verify="strict")  # content md5 matches the official data
    assert d.images.shape == (10000, 28, 28) and d.verified is True and Path(d.source) == raw
    assert read_idx(raw / "t10k-labels-idx1-ubyte").shape == (10000,)


# ---------------------------------------------------------------------------------- missing / offline


def test_missing_files_offline_names_files_folder_and_env(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError) as err:
        load_dataset("mnist", "train", data_dir=empty, cache_dir=tmp_path / "cache", download=False)
    msg = str(err.value)
    assert "train-images-idx3-ubyte.gz" in msg and "train-labels-idx1-ubyte.gz" in msg
    assert str(empty / "mnist") in msg and str(tmp_path / "cache" / "mnist") in msg
    assert DATA_DIR_ENV in msg and "download=False" in msg
    with pytest.raises(DataError, match=r"\$NEURO_DATA_DIR/fashion-mnist/ \(set the environment variable"):
        load_dataset("fashion_mnist", "test", cache_dir=tmp_path / "cache", download=False)


def test_half_present_folder_is_reported(shared_data_dir, tmp_path):
    folder = tmp_path / "data" / "mnist"
    folder.mkdir(parents=True)
    shutil.copy(shared_data_dir / "mnist" / "t10k-labels-idx1-ubyte.gz", folder)
    with pytest.raises(DataError, match=r"has only some files; missing t10k-images-idx3-ubyte\.gz"):
        load_dataset("mnist", "test", data_dir=tmp_path / "data", cache_dir=tmp_path / "c", download=False)


def test_default_cache_dir_follows_xdg(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert default_cache_dir() == tmp_path / "x" / "neuroforge"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_cache_dir() == Path.home() / ".cache" / "neuroforge"


# ---------------------------------------------------------------------------------- download


def _tiny_files(root: Path) -> dict[str, bytes]:
    """A 4x4, 3-class IDX dataset (6 train, 3 test) as gz bytes, written under root."""
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (6, 4, 4)),
        "train-labels-idx1-ubyte.gz": np.array([0, 1, 2, 0, 1, 2]),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (3, 4, 4)),
        "t10k-labels-idx1-ubyte.gz": np.array([2, 1, 0]),
    }
    root.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, arr in arrays.items():
        out[name] = gzip.compress(_idx_bytes(arr), mtime=0)
        (root / name).write_bytes(out[name])
    return out


def _tiny_source(files: dict[str, bytes], mirrors: tuple[str, ...], *, wrong_md5: bool = False) -> IdxSource:
    def spec(name: str) -> IdxFile:
        return IdxFile(name, "0" * 32 if wrong_md5 else _md5(files[name]))

    return IdxSource(
        name="tiny", folders=("tiny",), classes=("a", "b", "c"), image_shape=(4, 4),
        train=(spec("train-images-idx3-ubyte.gz"), spec("train-labels-idx1-ubyte.gz")),
        test=(spec("t10k-images-idx3-ubyte.gz"), spec("t10k-labels-idx1-ubyte.gz")),
        train_count=6, test_count=3, mirrors=mirrors,
    )


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass


@pytest.fixture
def http_mirror(tmp_path):
    """A local HTTP server on 127.0.0.1 serving tmp_path/www; yields (base URL, folder)."""
    www = tmp_path / "www"
    www.mkdir()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(www)))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", www
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _no_partials(folder: Path) -> bool:
    return not folder.exists() or not any(p.name.endswith(".part") for p in folder.iterdir())


def test_download_from_local_mirror_then_offline(http_mirror, tmp_path):
    base, www = http_mirror
    files = _tiny_files(www / "tiny")
    # the first mirror answers 404, the second has the files
    src = _tiny_source(files, (base + "missing/", base + "tiny/"))
    cache = tmp_path / "cache"
    d = load_dataset(src, "train", data_dir=tmp_path / "empty", cache_dir=cache, progress=True)
    assert d.images.shape == (6, 4, 4) and d.labels.tolist() == [0, 1, 2, 0, 1, 2] and d.verified is True
    expected = np.frombuffer(gzip.decompress(files["train-images-idx3-ubyte.gz"])[16:], np.uint8)
    np.testing.assert_allclose(d.images.ravel(), expected / 255.0, rtol=1e-6)
    assert sorted(p.name for p in (cache / "tiny").iterdir()) == ["train-images-idx3-ubyte.gz",
                                                                  "train-labels-idx1-ubyte.gz"]
    # now offline: served from the cache, checksums verified (the cache is ours)
    again = load_dataset(src, "train", cache_dir=cache, download=False)
    np.testing.assert_array_equal(again.images, d.images)
    assert Path(again.source) == cache / "tiny"
    # the mirror list can be overridden per call
    te = load_dataset(src, "test", cache_dir=cache, mirrors=[base + "tiny"], progress=False)
    assert te.labels.tolist() == [2, 1, 0]


def test_download_checksum_mismatch(http_mirror, tmp_path):
    base, www = http_mirror
    files = _tiny_files(www / "tiny")
    src = _tiny_source(files, (base + "tiny/",), wrong_md5=True)
    cache = tmp_path / "cache"
    with pytest.raises(DataError) as err:
        load_dataset(src, "test", cache_dir=cache, progress=False)
    msg = str(err.value)
    assert "checksum mismatch" in msg and "expected md5 " + "0" * 32 in msg
    assert _md5(files["t10k-images-idx3-ubyte.gz"]) in msg and base + "tiny/t10k-images-idx3-ubyte.gz" in msg
    assert not (cache / "tiny" / "t10k-images-idx3-ubyte.gz").exists() and _no_partials(cache / "tiny")
    # verify="none" accepts what the mirror serves
    assert len(load_dataset(src, "test", cache_dir=cache, verify="none", progress=False)) == 3


def test_download_official_checksum_is_enforced(http_mirror, tmp_path):
    """A mirror serving other files under MNIST's names is rejected against the official md5."""
    base, www = http_mirror
    _tiny_files(www / "mnist")
    cache = tmp_path / "cache"
    with pytest.raises(DataError, match=r"expected md5 9fb629c4189551a2d022fa330f9573f3, got [0-9a-f]{32}"):
        load_dataset("mnist", "test", cache_dir=cache, mirrors=[base + "mnist/"], progress=False)
    assert _no_partials(cache / "mnist") and not (cache / "mnist" / "t10k-images-idx3-ubyte.gz").exists()


def test_cached_file_with_wrong_checksum(http_mirror, tmp_path):
    base, www = http_mirror
    files = _tiny_files(www / "tiny")
    src = _tiny_source(files, (base + "tiny/",))
    cache = tmp_path / "cache"
    load_dataset(src, "test", cache_dir=cache, progress=False)
    # replace a cached file by another well-formed IDX file: the cache must match its checksum
    (cache / "tiny" / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(_idx_bytes(np.array([0, 0, 0]))))
    with pytest.raises(DataError, match=r"checksum mismatch for .*t10k-labels.*expected md5 [0-9a-f]{32}.*Delete it"):
        load_dataset(src, "test", cache_dir=cache, download=False)
    # the same file under a user data dir is accepted with verify="auto" and flagged
    user = tmp_path / "user"
    shutil.copytree(cache / "tiny", user / "tiny")
    d = load_dataset(src, "test", data_dir=user, cache_dir=cache, download=False)
    assert d.labels.tolist() == [0, 0, 0] and d.verified is False


def test_unreachable_mirror_gives_fix(tmp_path):
    import socket

    with socket.socket() as s:  # a port that was free a moment ago: connection refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DataError) as err:
        load_dataset("mnist", "test", cache_dir=tmp_path / "c", mirrors=[f"http://127.0.0.1:{port}/"],
                     progress=False)
    msg = str(err.value)
    assert f"127.0.0.1:{port}/t10k-images-idx3-ubyte.gz" in msg and DATA_DIR_ENV in msg and "Fix:" in msg


def test_download_file_from_file_url(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(b"neuroforge" * 100)
    dest = tmp_path / "out" / "copy.bin"
    assert download_file([src.as_uri()], dest, md5=_md5(src.read_bytes()), progress=False) == dest
    assert dest.read_bytes() == src.read_bytes()
    with pytest.raises(DataError, match="expected md5 " + "f" * 32):
        download_file([src.as_uri()], tmp_path / "out" / "bad.bin", md5="f" * 32, progress=False)
    assert not (tmp_path / "out" / "bad.bin").exists() and _no_partials(tmp_path / "out")


def test_builtin_sources_are_consistent():
    assert MNIST.train[0].md5 == "f68b3c2dcbeaaa9fbdd348bbdeb94873"
    assert all(m.startswith("https://") for m in MNIST.mirrors)
    with pytest.raises(ConfigError, match="must end with '/'"):
        IdxSource(name="x", folders=("x",), classes=("a",), image_shape=(1, 1),
                  train=(IdxFile("a"), IdxFile("b")), test=(IdxFile("c"), IdxFile("d")), mirrors=("http://h/x",))
    with pytest.raises(ConfigError, match="float32"):
        Dataset(name="x", split="train", images=np.zeros((1, 2, 2)), labels=np.zeros(1, np.int64),
                classes=("a",), image_shape=(2, 2), source="")
