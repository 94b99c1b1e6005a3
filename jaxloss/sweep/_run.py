"""``run``: a whole grid of training runs as one vmapped program, sharded over every device.

Runs are processed in chunks of ``chunk_size`` (bounded memory); each chunk is one call of
``jax.jit(jax.vmap(run_fn))`` whose runs axis is sharded over a 1-D device mesh spanning
every device of every process (``jax.distributed``), padded to a multiple of the device
count. Finished chunks can be checkpointed atomically and are reloaded on a rerun.
"""

from __future__ import annotations

import math
import os
import pathlib
import weakref
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import chex
import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from .. import _contract
from .._cache import WeakCache
from . import _checkpoint
from ._grid import Grid
from ._result import DIVERGED_AT, SweepResult

PyTree = Any


class _Program(NamedTuple):
    """One chunk shape's compiled program and what its output looks like."""

    compiled: Any
    sharding: NamedSharding
    leaf_shapes: list[jax.ShapeDtypeStruct]
    treedef: Any


_PROGRAMS = WeakCache()


def _device_list(devices: Sequence[jax.Device] | None) -> list[jax.Device]:
    devices = list(jax.devices() if devices is None else devices)
    if not devices:
        raise ValueError("jaxloss.sweep.run: devices is empty.")
    return devices


def _check_run_output(out: PyTree, diverged_key: str | None) -> None:
    """The contract on one run's output, stated with chex: arrays, and an int divergence step."""
    if not jax.tree.leaves(out):
        raise ValueError("jaxloss.sweep.run: run_fn returned no arrays; return e.g. {'mse': ...}.")
    if diverged_key is None or not (isinstance(out, dict) and diverged_key in out):
        return
    leaf = out[diverged_key]
    message = (
        f"jaxloss.sweep.run: run_fn's {diverged_key!r} must be one integer per run (the step "
        f"at which it diverged, or -1, as train.FitResult.diverged_at); it has shape "
        f"{getattr(leaf, 'shape', None)} and dtype {getattr(leaf, 'dtype', None)}. Return "
        "result.diverged_at, or pass diverged_key=None to sweep.run."
    )
    _contract.require(chex.assert_shape, leaf, (), message=message)
    _contract.require(chex.assert_type, leaf, int, message=message)


def _compile(
    ref: Callable[[], Any],
    dtypes: tuple[tuple[str, str], ...],
    chunk: int,
    devices: tuple[jax.Device, ...],
    diverged_key: str | None,
) -> _Program:
    """``jit(vmap(run_fn))`` for one chunk shape, traced and compiled once.

    ``run_fn`` is reached through ``ref`` so that the cached program does not keep it alive.
    """
    mesh = Mesh(np.array(devices), ("runs",))
    sharding = NamedSharding(mesh, PartitionSpec("runs"))

    def one_run(hp: dict[str, jax.Array]) -> PyTree:
        out = ref()(**hp)
        _check_run_output(out, diverged_key)
        return out

    example = {
        name: jax.ShapeDtypeStruct((chunk,), np.dtype(dtype), sharding=sharding)
        for name, dtype in dtypes
    }
    vmapped = jax.vmap(one_run)
    traced = jax.jit(vmapped, in_shardings=(sharding,), out_shardings=sharding).trace(example)
    leaf_shapes, treedef = jax.tree.flatten(traced.out_info)
    return _Program(traced.lower().compile(), sharding, leaf_shapes, treedef)


def _program(
    run_fn: Callable[..., PyTree],
    grid: Grid,
    chunk: int,
    devices: list[jax.Device],
    diverged_key: str | None,
) -> _Program:
    """The cached program for this run function and chunk shape (held while ``run_fn`` lives)."""
    dtypes = tuple((name, values.dtype.str) for name, values in grid.axes.items())
    key = (dtypes, chunk, tuple(devices), diverged_key)

    def build(ref: weakref.ref[Any] | Callable[[], Any]) -> _Program:
        return _compile(ref, dtypes, chunk, tuple(devices), diverged_key)

    return _PROGRAMS.get(run_fn, key, build)


def _chunk_bar(n_chunks: int, runs: int) -> Any:
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=runs, unit="run", desc=f"sweep ({n_chunks} chunks)", dynamic_ncols=True)


def _sharded(values: np.ndarray, sharding: NamedSharding) -> jax.Array:
    """A global array of ``values`` laid out by ``sharding``; each process fills its own part."""
    return jax.make_array_from_callback(values.shape, sharding, lambda index: values[index])


def _run_chunk(program: _Program, points: dict[str, np.ndarray], start: int, stop: int,
               chunk: int) -> list[np.ndarray]:  # fmt: skip
    """Computes runs ``start..stop`` as one padded chunk; returns every process's results."""
    # Pad with copies of the chunk's first run: valid hyperparameters, results dropped.
    index = np.arange(start, start + chunk)
    index = np.where(index < stop, index, start)
    inputs = {k: _sharded(v[index], program.sharding) for k, v in points.items()}
    out = program.compiled(inputs)
    if jax.process_count() > 1:
        out = multihost_utils.process_allgather(out, tiled=True)
    return [np.asarray(leaf) for leaf in jax.tree.leaves(jax.device_get(out))]


def run(
    run_fn: Callable[..., PyTree],
    grid: Grid,
    *,
    chunk_size: int | None = None,
    devices: Sequence[jax.Device] | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    progress: bool = False,
    diverged_key: str | None = DIVERGED_AT,
) -> SweepResult:
    """Runs ``run_fn(**hyperparameters)`` for every point of ``grid``, vmapped and sharded.

    Each chunk of runs is one call of ``jax.jit(jax.vmap(run_fn))``, compiled once per
    chunk shape, with the runs axis sharded over a 1-D mesh of ``devices`` (by default all
    devices of all processes, so under ``jax.distributed`` every process contributes its
    devices and receives the full result). Hyperparameters arrive as traced scalars (int32
    for integer axes, float32 otherwise), so optimizer settings built inside ``run_fn``
    (``optax.adam(learning_rate)``) and loss settings are both sweepable. Runs are
    independent: one that diverges (``train.fit``'s ``diverged_at``) changes no other.

    The compiled program is cached for as long as ``run_fn`` lives (never longer: the cache
    holds it weakly), so repeated sweeps of the same function reuse it.

    Args:
      run_fn: a pure function of the grid's axes, e.g.
        ``lambda learning_rate, delta, seed: {...}``, returning a pytree of arrays.
      grid: the :class:`Grid`.
      chunk_size: runs per chunk (rounded up to a multiple of the device count); bounds
        memory. ``None``: the whole grid at once.
      devices: the devices to shard over; ``None`` for ``jax.devices()``.
      checkpoint_dir: if given, each finished chunk is written there atomically (temporary
        file, then rename) with a description of the grid; rerunning the same sweep loads
        finished chunks and computes only the rest. A directory of another sweep (grid or
        chunk size) is refused.
      progress: show a progress bar over the chunks (tqdm; ``pip install
        "jaxloss[progress]"``), or print one line per chunk if tqdm is missing.
      diverged_key: the key of ``run_fn``'s output dict that holds each run's divergence
        step (``train.FitResult.diverged_at``: -1, or the step whose loss was NaN/Inf);
        it must be an integer scalar per run. :attr:`SweepResult.diverged` reads it, and
        ``best``/``table`` rank diverged runs last. ``None``, or an output without the key:
        no run counts as diverged.

    Returns:
      A :class:`SweepResult` whose arrays are shaped ``grid.shape + leaf shape``.

    Example:
      >>> import jax.numpy as jnp, optax
      >>> import jaxloss
      >>> from jaxloss import sweep, train
      >>> x = jnp.linspace(-1, 1, 64)[:, None]
      >>> y = 3.0 * x[:, 0]
      >>> def run_fn(learning_rate, delta):
      ...   objective = lambda w, b: jaxloss.huber(b[0] @ w, b[1], delta=delta)
      ...   result = train.fit(objective, jnp.zeros(1), optax.sgd(learning_rate), (x, y),
      ...                      num_steps=200, progress=False)
      ...   return {"error": jnp.abs(result.params[0] - 3.0)}
      >>> result = sweep.run(run_fn, sweep.Grid(learning_rate=[0.01, 1.0], delta=[0.5, 2.0]))
      >>> result["error"].shape, result.best("error", over=("delta",))["config"]
      ((2, 2), {'learning_rate': 1.0})
    """
    if not isinstance(grid, Grid):
        raise TypeError(f"jaxloss.sweep.run: grid must be a sweep.Grid; got {type(grid)}.")
    devices = _device_list(devices)
    if chunk_size is not None and (isinstance(chunk_size, bool) or chunk_size < 1):
        raise ValueError(f"jaxloss.sweep.run: chunk_size must be >= 1; got {chunk_size!r}.")
    chunk = math.ceil((chunk_size or grid.size) / len(devices)) * len(devices)
    n_chunks = math.ceil(grid.size / chunk)
    program = _program(run_fn, grid, chunk, devices, diverged_key)

    directory = None if checkpoint_dir is None else pathlib.Path(checkpoint_dir)
    finished: set[int] = set()
    if directory is not None:
        description = {"format": _checkpoint.FORMAT, "grid": grid.describe(), "chunk_size": chunk}
        _checkpoint.check_manifest(directory, description, write=jax.process_index() == 0)
        if jax.process_count() > 1:
            multihost_utils.sync_global_devices("jaxloss.sweep.checkpoint")
        # Decided once, by every process alike, before any chunk is written.
        finished = _checkpoint.finished_chunks(directory, n_chunks)

    points = grid.points()
    chunks: list[list[np.ndarray]] = []
    computed = loaded = 0
    bar = _chunk_bar(n_chunks, grid.size) if progress else None
    for c in range(n_chunks):
        start, stop = c * chunk, min((c + 1) * chunk, grid.size)
        if directory is not None and c in finished:
            leaves = _checkpoint.load_chunk(_checkpoint.chunk_path(directory, c),
                                            program.leaf_shapes)  # fmt: skip
            loaded += 1
        else:
            leaves = _run_chunk(program, points, start, stop, chunk)
            if directory is not None and jax.process_index() == 0:
                _checkpoint.save_chunk(_checkpoint.chunk_path(directory, c), leaves)
            computed += 1
        chunks.append([leaf[: stop - start] for leaf in leaves])
        if bar is not None:
            bar.update(stop - start)
        elif progress:
            print(f"jaxloss.sweep: chunk {c + 1}/{n_chunks} ({stop}/{grid.size} runs)", flush=True)
    if bar is not None:
        bar.close()

    stacked = [
        np.concatenate([chunk_leaves[i] for chunk_leaves in chunks]).reshape(
            grid.shape + tuple(shape.shape[1:])
        )
        for i, shape in enumerate(program.leaf_shapes)
    ]
    values = jax.tree.unflatten(program.treedef, stacked)
    return SweepResult(grid, values, computed, loaded, diverged_key=diverged_key)
