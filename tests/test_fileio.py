"""Outputs are complete or absent; unreadable inputs raise naming the file."""

from __future__ import annotations

import pytest

from advinfo.fileio import atomic_path, read_csv, read_json, write_json


def test_atomic_path_leaves_nothing_when_the_writer_fails(tmp_path):
    target = tmp_path / "out.json"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text('{"half": ')
            raise RuntimeError("crash mid-write")
    assert list(tmp_path.iterdir()) == []


def test_atomic_path_replaces_only_on_success(tmp_path):
    target = tmp_path / "out.json"
    write_json({"a": 1}, target)
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(target) as tmp:
            tmp.write_text("garbage")
            raise KeyboardInterrupt
    assert read_json(target) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_truncated_json_names_the_file(tmp_path):
    path = tmp_path / "robustness.json"
    path.write_text('{"clean_acc": 9')
    with pytest.raises(ValueError, match="robustness.json is missing, truncated or not JSON"):
        read_json(path)


def test_empty_csv_names_the_file(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text("")
    with pytest.raises(ValueError, match="metrics.csv is missing, truncated or not CSV"):
        read_csv(path)
