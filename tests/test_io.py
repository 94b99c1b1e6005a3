"""The package's one file writer: atomic, with the permissions the process umask gives."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

from jaxloss._io import atomic_create, atomic_write, staging_directory


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_files_and_folders_get_the_modes_the_umask_gives(tmp_path, umask):
    previous = os.umask(umask)  # the test, like an application, may set it; the library not
    try:
        atomic_write(tmp_path / "a.json", b"{}")
        folder = staging_directory(tmp_path, "jaxloss")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "a.json").stat().st_mode) == 0o666 & ~umask
    assert stat.S_IMODE(folder.stat().st_mode) == 0o777 & ~umask
    assert folder.name.startswith(".jaxloss.") and not any(folder.iterdir())


def test_atomic_write_replaces_whole_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "r.csv"
    atomic_write(path, b"old")
    atomic_write(path, b"new content")
    assert path.read_bytes() == b"new content"
    assert [p.name for p in tmp_path.iterdir()] == ["r.csv"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "r.csv"
    atomic_write(path, b"old")
    with pytest.raises(TypeError):
        atomic_write(path, "not bytes")  # type: ignore[arg-type]
    assert path.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["r.csv"]


def test_importing_and_writing_never_touch_the_umask(tmp_path):
    # Even a set-and-restore is a process-wide change another thread can observe.
    script = (
        "import os, pathlib, sys\n"
        "calls = []\n"
        "real = os.umask\n"
        "os.umask = lambda mask: calls.append(mask) or real(mask)\n"
        "import jaxloss, jaxloss.cli, jaxloss.sweep, jaxloss.train, jaxloss.metrics\n"
        "from jaxloss import sweep\n"
        "r = sweep.run(lambda x: {'y': x + 1.0}, sweep.Grid(x=[1.0]))\n"
        "r.to_csv(pathlib.Path(sys.argv[1]) / 'r.csv')\n"
        "print(calls)\n"
    )
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    command = [sys.executable, "-c", script, str(tmp_path)]
    out = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == "[]"


def test_atomic_create_never_overwrites_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "sweep.json"
    assert atomic_create(path, b"first")
    assert not atomic_create(path, b"second")
    assert path.read_bytes() == b"first" and [p.name for p in tmp_path.iterdir()] == ["sweep.json"]
