"""Writing files so that a reader never sees half of one: the package's only file writer.

A file is written under a fresh hidden name in its destination directory, flushed to disk,
then renamed over the destination (atomic on POSIX). Temporary files and directories are
created with the ordinary modes (0o666, 0o777), so the process umask shapes their
permissions exactly as for any other file, without reading or changing the umask
(``tempfile.mkstemp`` would create them 0o600 and hide results from the group).
"""

from __future__ import annotations

import csv
import io
import json
import os
import pathlib
import secrets


def _fresh_name(directory: pathlib.Path, name: str, suffix: str) -> pathlib.Path:
    return directory / f".{name}.{secrets.token_hex(6)}{suffix}"


def _write_temporary(path: pathlib.Path, data: bytes) -> pathlib.Path:
    """``data`` in a new hidden file beside ``path``, flushed to disk."""
    while True:
        tmp = _fresh_name(path.parent, path.name, ".tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        break
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def atomic_write(path: str | os.PathLike, data: bytes) -> None:
    """Writes ``data`` to ``path`` all at once: either the old file or the new one, never a mix.

    Args:
      path: the destination; its directory must exist.
      data: the whole content.
    """
    path = pathlib.Path(path)
    tmp = _write_temporary(path, data)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_csv(path: str | os.PathLike, records: list[dict]) -> None:
    """One row per record, the first record's keys as the header, written atomically."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(records[0])
    writer.writerows(record.values() for record in records)
    atomic_write(path, text.getvalue().encode())


def atomic_create(path: str | os.PathLike, data: bytes) -> bool:
    """Writes ``data`` to ``path`` whole, unless ``path`` exists: of concurrent writers one wins.

    Args:
      path: the destination; its directory must exist.
      data: the whole content.

    Returns:
      True if this call created the file, False if it already existed (left untouched).
    """
    path = pathlib.Path(path)
    tmp = _write_temporary(path, data)
    try:
        os.link(tmp, path)  # fails if path exists: no writer ever overwrites another's file
    except FileExistsError:
        return False
    finally:
        tmp.unlink(missing_ok=True)
    return True


def record_json(path: str | os.PathLike, record: dict, *, write: bool) -> dict | None:
    """The JSON record already at ``path``, or None after writing ``record`` there first.

    Of concurrent first writers exactly one creates the file (:func:`atomic_create`); the
    others get the winner's record back to compare with their own.

    Args:
      path: the record's file; its directory is created if needed (with ``write``).
      record: what to write when there is none yet.
      write: whether this caller may write (e.g. only process 0 of several).

    Returns:
      The stored record, or None if there was none (and, with ``write``, this one was
      written).
    """
    path = pathlib.Path(path)
    if write and not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        if atomic_create(path, json.dumps(record, indent=2).encode()):
            return None
    if not path.exists():
        return None
    return json.loads(path.read_text())


def staging_directory(parent: pathlib.Path, prefix: str) -> pathlib.Path:
    """A new, empty hidden directory in ``parent``, to be renamed into place when complete.

    Args:
      parent: where to create it (must exist).
      prefix: the start of its name, after the leading dot.

    Returns:
      The directory's path.
    """
    while True:
        path = _fresh_name(parent, prefix, "")
        try:
            path.mkdir(mode=0o777)
        except FileExistsError:
            continue
        return path
