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
from typing import Any, NamedTuple, overload

import chex
import jax
import numpy as np
from jax.experimental import multihost_utils

from .. import _contract
from .._cache import WeakCache
from . import _batched, _checkpoint
from ._result import DIVERGED_AT, SweepResult
from ._space import Space, check_space, check_takes, space_from_description

PyTree = Any


class ShardReport(NamedTuple):
    """What one shard of a sweep did (:func:`run` with ``shard=(k, n)``).

    Attributes:
      shard: ``(k, n)``.
      chunks: the chunks that belong to this shard (every ``n``-th from ``k``).
      chunks_computed: how many of them this call computed.
      chunks_loaded: how many were already in the folder (a restarted shard).
      complete: whether the folder now holds every chunk of the sweep (then
        :func:`load` returns the whole result).

    Example:
      >>> from jaxloss import sweep
      >>> sweep.ShardReport((0, 2), [0, 2], 2, 0, False).chunks_computed
      2
    """

    shard: tuple[int, int]
    chunks: list[int]
    chunks_computed: int
    chunks_loaded: int
    complete: bool


_PROGRAMS = WeakCache()


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


def _program(
    run_fn: Callable[..., PyTree],
    space: Space,
    chunk: int,
    devices: list[jax.Device],
    diverged_key: str | None,
    with_fingerprint: bool,
) -> _batched.Program:
    """The cached program for this run function and chunk shape (held while ``run_fn`` lives).

    ``run_fn`` is reached through a weak reference, so the cached program does not keep it
    alive.
    """
    dtypes = tuple((name, values.dtype.str) for name, values in space.points().items())
    key = (dtypes, chunk, tuple(devices), diverged_key, with_fingerprint)

    def build(ref: weakref.ref[Any] | Callable[[], Any]) -> _batched.Program:
        def one_run(hp: dict[str, jax.Array]) -> PyTree:
            fn = ref()
            assert fn is not None  # the caller holds run_fn while its program runs
            out = fn(**hp)
            _check_run_output(out, diverged_key)
            return out

        example = {name: jax.ShapeDtypeStruct((), np.dtype(dtype)) for name, dtype in dtypes}
        return _batched.compile_program(one_run, example, chunk, devices, with_fingerprint)

    return _PROGRAMS.get(run_fn, key, build)


def _bounds(chunk_index: int, chunk: int, size: int) -> tuple[int, int]:
    """The runs ``start..stop`` of one chunk (the last one may be short)."""
    return chunk_index * chunk, min((chunk_index + 1) * chunk, size)


def _chunk_bar(n_chunks: int, runs: int) -> Any:
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=runs, unit="run", desc=f"sweep ({n_chunks} chunks)", dynamic_ncols=True)


@overload
def run(
    run_fn: Callable[..., PyTree],
    grid: Space,
    *,
    chunk_size: int | None = ...,
    devices: Sequence[jax.Device] | None = ...,
    checkpoint_dir: str | os.PathLike | None = ...,
    progress: bool | Callable[[int, int], None] = ...,
    diverged_key: str | None = ...,
    shard: None = ...,
) -> SweepResult: ...


@overload
def run(
    run_fn: Callable[..., PyTree],
    grid: Space,
    *,
    chunk_size: int | None = ...,
    devices: Sequence[jax.Device] | None = ...,
    checkpoint_dir: str | os.PathLike | None = ...,
    progress: bool | Callable[[int, int], None] = ...,
    diverged_key: str | None = ...,
    shard: tuple[int, int],
) -> ShardReport: ...


def run(
    run_fn: Callable[..., PyTree],
    grid: Space,
    *,
    chunk_size: int | None = None,
    devices: Sequence[jax.Device] | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    progress: bool | Callable[[int, int], None] = False,
    diverged_key: str | None = DIVERGED_AT,
    shard: tuple[int, int] | None = None,
) -> SweepResult | ShardReport:
    """Runs ``run_fn(**hyperparameters)`` for every point of ``grid``, vmapped and sharded.

    Each chunk of runs is one call of one compiled program, compiled once per chunk shape:
    the runs axis is split over a 1-D mesh of ``devices`` (by default all devices of all
    processes, so under ``jax.distributed`` every process contributes its devices and
    receives the full result) with ``jax.shard_map``, and each device trains its own runs,
    vmapped, with no communication until the results are gathered. Hyperparameters arrive
    as traced scalars (int32 for integer axes, float32 otherwise), so optimizer settings
    built inside ``run_fn`` (``optax.adam(learning_rate)``) and loss settings are both
    sweepable. Runs are independent: one that diverges (``train.fit``'s ``diverged_at``)
    changes no other.

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
        file, then rename) beside a manifest that identifies the computation: the grid, the
        chunk size, a fingerprint of the compiled chunk program (its lowered text and every
        array it captures: another model, loss setting, step count or data set changes it),
        the jaxloss and jax versions. Rerunning the same computation loads finished chunks
        and computes only the rest; a directory of any other computation is refused before
        anything is computed or written, with an error that says what differs.
      progress: show a progress bar over the chunks (tqdm; ``pip install
        "jaxloss[progress]"``), or print one line per chunk if tqdm is missing; or a
        callable ``progress(runs_done, runs_total)`` called after every chunk (once it is
        saved to ``checkpoint_dir``), which may raise to stop the sweep there.
      diverged_key: the key of ``run_fn``'s output dict that holds each run's divergence
        step (``train.FitResult.diverged_at``: -1, or the step whose loss was NaN/Inf);
        it must be an integer scalar per run. :attr:`SweepResult.diverged` reads it, and
        ``best``/``table`` rank diverged runs last. ``None``, or an output without the key:
        no run counts as diverged.
      shard: ``(k, n)``: compute only shard ``k`` of ``n`` (chunks ``k, k + n, ...``) into
        ``checkpoint_dir``, with no collective and no coordinator, e.g. one task of a SLURM
        job array or of a Kubernetes indexed job each. Shards may run at once or one after
        another, and a killed one resumes; :func:`load` assembles the folder.

    Returns:
      A :class:`SweepResult` whose arrays are shaped ``grid.shape + leaf shape``; with
      ``shard``, a :class:`ShardReport`.

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
    check_space(grid, "run")
    check_takes(run_fn, grid.names, "run", "run_fn")
    devices = _batched.device_list(devices, "run")
    if chunk_size is not None and (isinstance(chunk_size, bool) or chunk_size < 1):
        raise ValueError(f"jaxloss.sweep.run: chunk_size must be >= 1; got {chunk_size!r}.")
    directory = None if checkpoint_dir is None else pathlib.Path(checkpoint_dir)
    if shard is not None:
        _check_shard(shard, directory)
    chunk = _batched.batch_size(chunk_size, grid.size, len(devices))
    n_chunks = math.ceil(grid.size / chunk)
    program = _program(run_fn, grid, chunk, devices, diverged_key, directory is not None)

    finished: set[int] = set()
    if directory is not None:
        manifest = _manifest(grid, chunk, program, diverged_key)
        _checkpoint.check_manifest(directory, manifest, write=jax.process_index() == 0)
        if jax.process_count() > 1:
            multihost_utils.sync_global_devices("jaxloss.sweep.checkpoint")
        # Decided once, by every process alike, before any chunk is written.
        finished = _checkpoint.finished_chunks(directory, n_chunks)

    mine = list(range(n_chunks)) if shard is None else list(range(shard[0], n_chunks, shard[1]))
    points = grid.points()
    chunks: list[list[np.ndarray]] = []
    computed = loaded = 0
    runs = sum(stop - start for start, stop in (_bounds(c, chunk, grid.size) for c in mine))
    report = progress if callable(progress) else None
    bar = _chunk_bar(len(mine), runs) if progress is True else None
    runs_done = 0
    per_run = [(tuple(s.shape[1:]), np.dtype(s.dtype)) for s in program.leaf_shapes]
    for done, c in enumerate(mine, start=1):
        start, stop = _bounds(c, chunk, grid.size)
        if directory is not None and c in finished:
            # A shard only fills the folder: what is there already need not be read.
            leaves = [] if shard is not None else _checkpoint.load_chunk(
                _checkpoint.chunk_path(directory, c), stop - start, per_run
            )  # fmt: skip
            loaded += 1
        else:
            leaves = _batched.call(program, points, np.arange(start, stop), chunk)
            if directory is not None and jax.process_index() == 0:
                _checkpoint.save_chunk(_checkpoint.chunk_path(directory, c), leaves)
            computed += 1
        if shard is None:  # a shard's results live in the folder, not in memory
            chunks.append(leaves)
        runs_done += stop - start
        if report is not None:
            report(runs_done, runs)
        elif bar is not None:
            bar.update(stop - start)
        elif progress:
            print(f"jaxloss.sweep: chunk {c + 1}/{n_chunks} ({done}/{len(mine)} of this call)",
                  flush=True)  # fmt: skip
    if bar is not None:
        bar.close()

    if shard is not None:
        assert directory is not None
        complete = len(_checkpoint.finished_chunks(directory, n_chunks)) == n_chunks
        return ShardReport(shard, mine, computed, loaded, complete)
    values = _assemble(chunks, grid, [tuple(s.shape[1:]) for s in program.leaf_shapes],
                       lambda stacked: jax.tree.unflatten(program.treedef, stacked))  # fmt: skip
    return SweepResult(grid, values, computed, loaded, diverged_key=diverged_key)


def _check_shard(shard: object, directory: pathlib.Path | None) -> None:
    if not (
        isinstance(shard, tuple)
        and len(shard) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in shard)
        and shard[1] >= 1
        and 0 <= shard[0] < shard[1]
    ):
        raise ValueError(
            f"jaxloss.sweep.run: shard={shard!r} must be (k, n) with n >= 1 and 0 <= k < n: "
            "shard k of n."
        )
    if directory is None:
        raise ValueError(
            "jaxloss.sweep.run: shard= needs checkpoint_dir=, the folder every shard writes "
            "its chunks into (sweep.load reads them back)."
        )


def _manifest(grid: Space, chunk: int, program: _batched.Program, diverged_key: str | None) -> dict:
    from .. import __version__

    return {
        "format": _checkpoint.FORMAT,
        "jaxloss": __version__,
        "jax": jax.__version__,
        "grid": grid.describe(),
        "chunk_size": chunk,
        "program": program.fingerprint,
        "outputs": program.outputs,
        "diverged_key": diverged_key,
    }


def _assemble(
    chunks: list[list[np.ndarray]],
    grid: Space,
    leaf_shapes: list[tuple[int, ...]],
    unflatten: Callable[[list[np.ndarray]], PyTree],
) -> PyTree:
    """The chunks' leaves, concatenated and shaped like the grid, as the output pytree."""
    stacked = [
        np.concatenate([chunk_leaves[i] for chunk_leaves in chunks]).reshape(grid.shape + shape)
        for i, shape in enumerate(leaf_shapes)
    ]
    return unflatten(stacked)


def _missing(chunks: list[int]) -> str:
    """``[0, 1, 2, 5]`` as ``"0-2, 5"``."""
    ranges: list[list[int]] = []
    for c in chunks:
        if ranges and c == ranges[-1][1] + 1:
            ranges[-1][1] = c
        else:
            ranges.append([c, c])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges)


def load(checkpoint_dir: str | os.PathLike) -> SweepResult:
    """The whole result of a sweep from its complete checkpoint folder (e.g. after shards).

    Reads the manifest :func:`run` wrote, then every chunk; needs no run function and no
    devices. The outputs come back as the dicts and lists ``run_fn`` returned.

    Args:
      checkpoint_dir: the folder given to :func:`run` (every shard's ``checkpoint_dir``).

    Returns:
      The :class:`SweepResult`, as :func:`run` would have returned it.

    Raises:
      ValueError: if the folder is no sweep's, or is missing chunks (they are named).

    Example:
      >>> import tempfile
      >>> from jaxloss import sweep
      >>> folder, grid = tempfile.mkdtemp(), sweep.Grid(x=[1.0, 2.0, 3.0])
      >>> for k in range(2):
      ...   _ = sweep.run(lambda x: {"y": x * x}, grid, chunk_size=1, checkpoint_dir=folder,
      ...                 shard=(k, 2))
      >>> sweep.load(folder)["y"].tolist()
      [1.0, 4.0, 9.0]
    """
    directory = pathlib.Path(checkpoint_dir)
    manifest = _checkpoint.read_manifest(directory)
    grid = space_from_description(manifest["grid"])
    chunk = int(manifest["chunk_size"])
    n_chunks = math.ceil(grid.size / chunk)
    missing = sorted(set(range(n_chunks)) - _checkpoint.finished_chunks(directory, n_chunks))
    if missing:
        raise ValueError(
            f"jaxloss.sweep.load: {directory} is missing {len(missing)} of {n_chunks} chunks "
            f"({_missing(missing)}); run the shards that compute them (or sweep.run with "
            "this checkpoint_dir) first."
        )
    outputs = manifest["outputs"]
    per_run = [(tuple(o["shape"]), np.dtype(o["dtype"])) for o in outputs]
    chunks = []
    for c in range(n_chunks):
        start, stop = _bounds(c, chunk, grid.size)
        chunks.append(
            _checkpoint.load_chunk(_checkpoint.chunk_path(directory, c), stop - start, per_run)
        )
    shapes = [tuple(o["shape"]) for o in outputs]
    values = _assemble(chunks, grid, shapes, lambda stacked: _checkpoint.rebuild(outputs, stacked))
    return SweepResult(grid, values, 0, n_chunks, diverged_key=manifest["diverged_key"])
