"""Atomic writes leave no half artifact."""

import json

import pytest

from neuro.io import atomic_path, write_json


def test_write_json_roundtrip(tmp_path):
    p = write_json(tmp_path / "a" / "m.json", {"acc": 0.5})
    assert json.loads(p.read_text()) == {"acc": 0.5}
    assert [f.name for f in p.parent.iterdir()] == ["m.json"]


def test_crash_keeps_old_file_and_no_temp(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash mid-write")
    assert target.read_text() == "old"
    assert sorted(f.name for f in tmp_path.iterdir()) == ["out.txt"]
