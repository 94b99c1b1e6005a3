"""A sweep's checkpoint directory: a manifest that identifies the computation, one file per chunk.

The manifest records everything that determines the results: the grid, the chunk size, a
fingerprint of the compiled chunk program (its lowered text and the values of every array
it captures, so another run function, model, loss setting, step count, captured data set or
JAX version gives another fingerprint), the jaxloss and jax versions, and the layout of the
outputs. A directory is reused only for exactly that computation. Every file is written
atomically (:mod:`jaxloss._io`), so a crash leaves either a finished chunk or none, and
concurrent writers (shards of one sweep) keep the folder consistent.
"""

from __future__ import annotations

import hashlib
import io
import json
import pathlib
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np

from .._io import atomic_write, record_json

FORMAT = 3
MANIFEST = "sweep.json"
# Fields that identify the computation, with what a difference in each means.
_IDENTITY = {
    "format": "the checkpoint format (written by another jaxloss version)",
    "jaxloss": "the jaxloss version",
    "jax": "the jax version",
    "grid": "the grid",
    "chunk_size": "the chunk size (rounded up to a multiple of the device count)",
    "program": "the compiled chunk program: another run function, model, loss setting, "
    "step count, captured data or device count",
    "outputs": "the outputs run_fn returns",
}


def fingerprint(lowered_text: str, constants: Sequence[Any]) -> str:
    """SHA-256 of a lowered program's text and the bytes of every array it captures."""
    digest = hashlib.sha256(lowered_text.encode())
    for constant in constants:
        array = np.asarray(constant)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def _key_entry(key: Any) -> list[Any]:
    if isinstance(key, jax.tree_util.DictKey):
        return ["key", key.key if isinstance(key.key, str | int) else repr(key.key)]
    if isinstance(key, jax.tree_util.SequenceKey):
        return ["index", key.idx]
    return ["other", str(key)]


def describe_outputs(out_info: Any) -> list[dict[str, Any]]:
    """Each output leaf's path, per-run shape and dtype (from the chunk program's out_info)."""
    leaves = jax.tree_util.tree_flatten_with_path(out_info)[0]
    return [
        {"path": [_key_entry(k) for k in path], "shape": list(leaf.shape[1:]),
         "dtype": np.dtype(leaf.dtype).str}
        for path, leaf in leaves
    ]  # fmt: skip


def chunk_path(directory: pathlib.Path, chunk: int) -> pathlib.Path:
    return directory / f"chunk-{chunk:05d}.npz"


def _differences(stored: dict[str, Any], manifest: dict[str, Any]) -> list[str]:
    differing = []
    for field, meaning in _IDENTITY.items():
        if stored.get(field) != manifest.get(field):
            if field in ("grid", "chunk_size", "jaxloss", "jax", "format"):
                meaning += f" (stored {stored.get(field)!r}, now {manifest.get(field)!r})"
            differing.append(meaning)
    return differing


def check_manifest(directory: pathlib.Path, manifest: dict[str, Any], *, write: bool) -> None:
    """Refuses a directory of another computation; with ``write``, records this one.

    Of concurrent first writers (shards starting together) exactly one creates the
    manifest; the others then compare against it like any later run.
    """
    stored = record_json(directory / MANIFEST, manifest, write=write)
    if stored is None:
        return
    differing = _differences(stored, manifest)
    if differing:
        raise ValueError(
            f"jaxloss.sweep.run: {directory} holds a different sweep; what differs: "
            + "; ".join(differing)
            + ". Nothing was computed or written. Use a new checkpoint_dir, or delete this "
            "one to start over."
        )


def read_manifest(directory: pathlib.Path) -> dict[str, Any]:
    path = directory / MANIFEST
    if not path.exists():
        raise ValueError(
            f"jaxloss.sweep.load: {directory} holds no {MANIFEST}; it is not a sweep's "
            "checkpoint_dir (or nothing was started there yet)."
        )
    manifest = json.loads(path.read_text())
    if manifest.get("format") != FORMAT:
        raise ValueError(
            f"jaxloss.sweep.load: {directory} was written in checkpoint format "
            f"{manifest.get('format')!r}; this jaxloss reads format {FORMAT}."
        )
    return manifest


def finished_chunks(directory: pathlib.Path, n_chunks: int) -> set[int]:
    return {c for c in range(n_chunks) if chunk_path(directory, c).exists()}


def save_chunk(path: pathlib.Path, leaves: list[np.ndarray]) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, *leaves)
    atomic_write(path, buffer.getvalue())


def load_chunk(
    path: pathlib.Path, rows: int, per_run: list[tuple[tuple[int, ...], np.dtype]]
) -> list[np.ndarray]:
    """The chunk's arrays, refused unless each holds ``rows`` runs of the expected
    ``(per-run shape, dtype)``."""
    expected = [((rows, *shape), np.dtype(dtype)) for shape, dtype in per_run]
    with np.load(path) as data:
        leaves = [data[f"arr_{i}"] for i in range(len(data.files))]
    shapes = [(leaf.shape, leaf.dtype) for leaf in leaves]
    if shapes != expected:
        raise ValueError(
            f"jaxloss.sweep: checkpoint {path} holds arrays {shapes}, but this sweep's chunks "
            f"hold {expected}; the folder was changed by hand. Use a new checkpoint_dir."
        )
    return leaves


def rebuild(outputs: list[dict[str, Any]], leaves: list[np.ndarray]) -> Any:
    """The output pytree from its recorded paths: nested dicts and lists (or one array)."""
    if len(outputs) == 1 and not outputs[0]["path"]:
        return leaves[0]
    root: dict[tuple[str, Any], Any] = {}
    for output, leaf in zip(outputs, leaves, strict=True):
        path = [tuple(entry) for entry in output["path"]]
        unsupported = [key for kind, key in path if kind == "other"]
        if unsupported:
            raise ValueError(
                "jaxloss.sweep.load rebuilds outputs made of dicts and lists; this sweep's "
                f"run_fn returned a leaf at {unsupported[0]!r}. Return a dict of arrays."
            )
        node = root
        for entry in path[:-1]:
            node = node.setdefault(entry, {})
        node[path[-1]] = leaf
    return _containers(root)


def _containers(node: Any) -> Any:
    """Tagged nodes to containers: ``("index", i)`` children make a list, ``("key", k)`` a dict."""
    if not isinstance(node, dict):
        return node
    if all(kind == "index" for kind, _ in node):
        return [_containers(node[entry]) for entry in sorted(node, key=lambda e: e[1])]
    return {key: _containers(child) for (_, key), child in node.items()}
