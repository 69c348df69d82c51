"""Outputs are complete or absent, readable as the umask says, and a failed write or an
unreadable input raises naming the file."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest
import torch

from advinfo.fileio import atomic_path, read_csv, read_json, save_tensors, write_json


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


@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_outputs_get_the_permissions_of_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        write_json({"a": 1}, tmp_path / "out.json")
        save_tensors({"w": torch.zeros(2)}, tmp_path / "model.pt")
    finally:
        os.umask(old)
    for name in ("out.json", "model.pt"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == mode, name


WRITE_A_LARGE_FILE = """
import resource, sys, torch
from advinfo.fileio import save_tensors, write_text
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
if sys.argv[1] == "text":
    write_text("x" * 100_000, sys.argv[2])
else:
    save_tensors({"w": torch.zeros(100_000)}, sys.argv[2])
"""


@pytest.mark.parametrize("kind", ["text", "tensors"])
def test_a_failed_write_names_the_file_and_leaves_nothing(tmp_path, kind):
    """A full disk (here: a file-size limit, which fails writes with EFBIG as a full disk fails
    them with ENOSPC) names the output, and no partial file is left."""
    target = tmp_path / "results" / "big.out"
    result = subprocess.run(
        [sys.executable, "-c", WRITE_A_LARGE_FILE, kind, str(target)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("OSError") and f"cannot write {target}:" in last, result.stderr[-2000:]
    assert list(target.parent.iterdir()) == []
