"""Atomic writes leave no half artifact."""

import json

import pytest

from neuro.io import atomic_path, write_json


def test_write_json_roundtrip(tmp_path):
    p = write_json(tmp_path / "a" / "m.json", {"acc": 0.5})
    assert json.loads(p.read_text()) == {"acc": 0.5}
    assert [f.name for f in p.parent.iterdir()] == ["m.json"]


def test_files_get_the_umask_mode_not_mkstemps_0600(tmp_path):
    import os
    import stat

    mask = os.umask(0o022)
    os.umask(mask)
    p = write_json(tmp_path / "m.json", {})
    assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~mask


def test_crash_keeps_old_file_and_no_temp(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash mid-write")
    assert target.read_text() == "old"
    assert sorted(f.name for f in tmp_path.iterdir()) == ["out.txt"]
