"""Checkpoints of a staged search (halving rungs, PBT generations): one file per stage.

A stage file holds named arrays: the runs it trained, their metrics, and their states
(the leaves of the state pytree, in order). The folder's manifest identifies the search as
:mod:`._checkpoint` does for a sweep (space, settings, the fingerprint of every compiled
stage program, versions), and a folder of any other search is refused before compute.
"""

from __future__ import annotations

import io
import pathlib
from typing import Any

import jax
import numpy as np

from .._io import atomic_write, record_json

PyTree = Any
FORMAT = 1


def stage_path(directory: pathlib.Path, prefix: str, index: int) -> pathlib.Path:
    return directory / f"{prefix}-{index:04d}.npz"


def check_manifest(
    directory: pathlib.Path, manifest: dict[str, Any], name: str, owner: str, *, write: bool
) -> None:
    """Refuses a folder of another search (naming the fields that differ); records this one."""
    stored = record_json(directory / name, manifest, write=write)
    if stored is None:
        return
    differing = [
        f"{field} (stored {stored.get(field)!r}, now {value!r})"
        if field != "programs" else "the compiled programs: another trainer, model, data or "
        "device count"
        for field, value in manifest.items() if stored.get(field) != value
    ]  # fmt: skip
    if differing:
        raise ValueError(
            f"jaxloss.sweep.{owner}: {directory} holds a different search; what differs: "
            + "; ".join(differing)
            + ". Nothing was computed or written. Use a new checkpoint_dir, or delete this "
            "one to start over."
        )


def save(path: pathlib.Path, arrays: dict[str, np.ndarray], state: PyTree) -> None:
    """Writes ``arrays`` and the leaves of ``state`` atomically to ``path``."""
    payload: dict[str, Any] = dict(arrays)
    payload |= {f"state/{i}": np.asarray(leaf) for i, leaf in enumerate(jax.tree.leaves(state))}
    buffer = io.BytesIO()
    np.savez(buffer, **payload)
    atomic_write(path, buffer.getvalue())


def load(
    path: pathlib.Path, state_shape: PyTree, rows: int
) -> tuple[dict[str, np.ndarray], PyTree]:
    """The arrays and state of a stage file, refused unless the state has the expected layout.

    Args:
      path: the stage file.
      state_shape: one run's state as shape-dtype structs.
      rows: the number of runs the file must hold.
    """
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files if not k.startswith("state/")}
        stored = [
            data[f"state/{i}"] for i in range(sum(k.startswith("state/") for k in data.files))
        ]
    structs, treedef = jax.tree.flatten(state_shape)
    expected = [((rows, *s.shape), np.dtype(s.dtype)) for s in structs]
    found = [(leaf.shape, leaf.dtype) for leaf in stored]
    if found != expected:
        raise ValueError(
            f"jaxloss.sweep: checkpoint {path} holds states {found}, but this search's states "
            f"are {expected}; the folder was changed by hand. Use a new checkpoint_dir."
        )
    return arrays, jax.tree.unflatten(treedef, stored)


def read_arrays(path: pathlib.Path) -> dict[str, np.ndarray]:
    """The arrays of a stage file other than its state."""
    with np.load(path) as data:
        return {k: data[k] for k in data.files if not k.startswith("state/")}
