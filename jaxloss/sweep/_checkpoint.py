"""A sweep's checkpoint directory: one manifest describing the sweep, one file per chunk.

Every file is written atomically (:func:`jaxloss._io.atomic_write`), so a crash leaves
either a finished chunk or none, and a rerun of the same sweep reloads what was finished.
"""

from __future__ import annotations

import io
import json
import pathlib
from typing import Any

import jax
import numpy as np

from .._io import atomic_write

FORMAT = 1


def chunk_path(directory: pathlib.Path, chunk: int) -> pathlib.Path:
    return directory / f"chunk-{chunk:05d}.npz"


def check_manifest(directory: pathlib.Path, description: dict[str, Any], *, write: bool) -> None:
    """Refuses a directory that holds another sweep; with ``write``, records this one."""
    manifest = directory / "sweep.json"
    if manifest.exists():
        stored = json.loads(manifest.read_text())
        if stored != description:
            raise ValueError(
                f"jaxloss.sweep.run: {directory} holds a different sweep "
                f"(grid {stored.get('grid')}, chunk_size {stored.get('chunk_size')}); this one "
                f"is grid {description['grid']}, chunk_size {description['chunk_size']}. Use a "
                "new checkpoint_dir, or delete the old one to start over."
            )
        return
    if write:
        directory.mkdir(parents=True, exist_ok=True)
        atomic_write(manifest, json.dumps(description, indent=2).encode())


def finished_chunks(directory: pathlib.Path, n_chunks: int) -> set[int]:
    return {c for c in range(n_chunks) if chunk_path(directory, c).exists()}


def save_chunk(path: pathlib.Path, leaves: list[np.ndarray]) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, *leaves)
    atomic_write(path, buffer.getvalue())


def load_chunk(path: pathlib.Path, expected: list[jax.ShapeDtypeStruct]) -> list[np.ndarray]:
    """The chunk's arrays, refused unless they have the shapes ``run_fn`` returns now."""
    with np.load(path) as data:
        leaves = [data[f"arr_{i}"] for i in range(len(data.files))]
    shapes = [(leaf.shape, leaf.dtype) for leaf in leaves]
    wanted = [(tuple(s.shape), np.dtype(s.dtype)) for s in expected]
    if shapes != wanted:
        raise ValueError(
            f"jaxloss.sweep.run: checkpoint {path} holds arrays {shapes}, but run_fn now returns "
            f"{wanted}; the run function changed. Use a new checkpoint_dir."
        )
    return leaves
