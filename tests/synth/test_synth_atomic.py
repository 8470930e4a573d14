"""synth.atomic: a write either replaces the target completely or leaves it as it was."""

from __future__ import annotations

import json
import os

import pytest
from vae_synth.synth.atomic import atomic_path, write_json, write_text


def test_a_write_replaces_the_file_and_keeps_its_permissions(tmp_path):
    target = tmp_path / "map.json"
    target.write_text("old")
    os.chmod(target, 0o600)
    write_json(target, {"cc": 74})
    assert json.loads(target.read_text()) == {"cc": 74}
    assert target.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.json"]


def test_a_failing_writer_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "beat.wav"
    target.write_bytes(b"the user's take")
    with pytest.raises(RuntimeError, match="disk full"):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half a file")
            raise RuntimeError("disk full")
    assert target.read_bytes() == b"the user's take"
    assert [p.name for p in tmp_path.iterdir()] == ["beat.wav"]


def test_a_folder_or_a_missing_parent_is_refused_before_anything_is_written(tmp_path):
    (tmp_path / "takes").mkdir()
    with pytest.raises(IsADirectoryError, match="is a folder"):
        write_text(tmp_path / "takes", "x")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        write_text(tmp_path / "nowhere" / "x.txt", "x")
    assert [p.name for p in tmp_path.iterdir()] == ["takes"]
    assert list((tmp_path / "takes").iterdir()) == []
