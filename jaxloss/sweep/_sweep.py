"""``run``: a whole grid of training runs as one vmapped program, sharded over every device.

Runs are processed in chunks of ``chunk_size`` (bounded memory); each chunk is one call of
``jax.jit(jax.vmap(run_fn))`` whose runs axis is sharded over a 1-D device mesh spanning
every device of every process (``jax.distributed``), padded to a multiple of the device
count. Finished chunks can be checkpointed atomically and are reloaded on a rerun.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import math
import os
import pathlib
import tempfile
from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from ._grid import Grid, python_value

PyTree = Any
_FORMAT = 1
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def _device_list(devices: Sequence[jax.Device] | None) -> list[jax.Device]:
    devices = list(jax.devices() if devices is None else devices)
    if not devices:
        raise ValueError("jaxloss.sweep.run: devices is empty.")
    return devices


def _chunk_path(directory: pathlib.Path, chunk: int) -> pathlib.Path:
    return directory / f"chunk-{chunk:05d}.npz"


def _check_checkpoint(directory: pathlib.Path, description: dict, *, write: bool) -> None:
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
        _atomic_write(manifest, json.dumps(description, indent=2).encode())


def _atomic_write(path: pathlib.Path, data: bytes) -> None:
    """Write to a temporary file in the same directory, then rename: never a partial file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp's 0600 would hide results from the group
        os.replace(tmp, path)
    except BaseException:
        pathlib.Path(tmp).unlink(missing_ok=True)
        raise


def _save_chunk(path: pathlib.Path, leaves: list[np.ndarray]) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, *leaves)
    _atomic_write(path, buffer.getvalue())


def _load_chunk(path: pathlib.Path, expected: list[jax.ShapeDtypeStruct]) -> list[np.ndarray]:
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


def _chunk_bar(n_chunks: int, runs: int) -> Any:
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=runs, unit="run", desc=f"sweep ({n_chunks} chunks)", dynamic_ncols=True)


@functools.lru_cache(maxsize=32)
def _compile(
    run_fn: Callable[..., PyTree],
    dtypes: tuple[tuple[str, str], ...],
    chunk: int,
    devices: tuple[jax.Device, ...],
) -> tuple[Any, NamedSharding, list[jax.ShapeDtypeStruct], Any]:
    """``jit(vmap(run_fn))`` for one chunk shape, traced and compiled once and cached.

    Cached on the function, the axes' names and dtypes, the chunk size and the devices, so
    repeated sweeps of the same run function (other values, resumed runs) reuse the program.
    """
    mesh = Mesh(np.array(devices), ("runs",))
    sharding = NamedSharding(mesh, PartitionSpec("runs"))
    vmapped = jax.vmap(lambda hp: run_fn(**hp))
    example = {
        name: jax.ShapeDtypeStruct((chunk,), np.dtype(dtype), sharding=sharding)
        for name, dtype in dtypes
    }
    traced = jax.jit(vmapped, in_shardings=(sharding,), out_shardings=sharding).trace(example)
    leaf_shapes, treedef = jax.tree.flatten(traced.out_info)
    return traced.lower().compile(), sharding, leaf_shapes, treedef


class SweepResult:
    """The results of a sweep, shaped like the grid, with the axes attached.

    Every leaf of ``run_fn``'s output becomes a NumPy array of shape
    ``grid.shape + leaf_shape``. A ``run_fn`` returning a dict of per-run scalars (e.g.
    ``{"eval_mse": ..., "diverged_at": ...}``) gets :meth:`best`, :meth:`table`,
    :meth:`to_csv`, :meth:`to_json` and :meth:`plot` by key.

    Attributes:
      grid: the :class:`Grid` that was run.
      values: the outputs, shaped like the grid.
      chunks_computed: chunks computed by this call.
      chunks_loaded: chunks reloaded from ``checkpoint_dir``.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxloss import sweep
      >>> result = sweep.run(lambda a, seed: {"loss": (a - 1.0) ** 2},
      ...                    sweep.Grid(a=[0.0, 1.0, 3.0], seed=[0, 1]))
      >>> result["loss"].shape, result.best("loss", over=("seed",))["config"]
      ((3, 2), {'a': 1.0})
    """

    def __init__(self, grid: Grid, values: PyTree, chunks_computed: int, chunks_loaded: int):
        self.grid = grid
        self.values = values
        self.chunks_computed = chunks_computed
        self.chunks_loaded = chunks_loaded

    def __getitem__(self, key: str) -> np.ndarray:
        if not isinstance(self.values, dict) or key not in self.values:
            keys = list(self.values) if isinstance(self.values, dict) else type(self.values)
            raise KeyError(f"jaxloss.sweep: no result named {key!r}; run_fn returned {keys}.")
        return self.values[key]

    @property
    def diverged(self) -> np.ndarray:
        """Grid-shaped bool: runs whose ``diverged_at`` is set (False if there is none)."""
        if isinstance(self.values, dict) and "diverged_at" in self.values:
            return np.asarray(self.values["diverged_at"]) >= 0
        return np.zeros(self.grid.shape, bool)

    def _reduced(self, metric: str, over: Sequence[str]) -> tuple[list[str], np.ndarray, ...]:
        values = np.asarray(self[metric], np.float64)
        if values.shape != self.grid.shape:
            raise ValueError(
                f"jaxloss.sweep: {metric!r} has shape {values.shape[len(self.grid.shape) :]} per "
                "run; best/table need one number per run."
            )
        unknown = [a for a in over if a not in self.grid.names]
        if unknown:
            raise ValueError(f"jaxloss.sweep: over={unknown} are not axes of {self.grid.names}.")
        axes = tuple(self.grid.names.index(a) for a in over)
        kept = [n for n in self.grid.names if n not in over]
        # A diverged run is NaN, and so is the mean of any configuration that contains one.
        values = np.where(self.diverged, np.nan, values)
        return kept, values.mean(axis=axes), values.std(axis=axes)

    def best(self, metric: str, over: Sequence[str] = (), mode: str = "min") -> dict[str, Any]:
        """The best configuration by ``metric``, averaged over the ``over`` axes (e.g. seeds).

        Args:
          metric: a per-run scalar returned by ``run_fn``.
          over: axes to average over first (configurations with a diverged run are NaN).
          mode: ``"min"`` or ``"max"``.

        Returns:
          ``{"config": {axis: value}, "mean": ..., "std": ...}`` (std over ``over``).

        Example:
          >>> from jaxloss import sweep
          >>> r = sweep.run(lambda x: {"y": (x - 2.0) ** 2}, sweep.Grid(x=[0.0, 2.0, 5.0]))
          >>> r.best("y")
          {'config': {'x': 2.0}, 'mean': 0.0, 'std': 0.0}
        """
        if mode not in ("min", "max"):
            raise ValueError(f"jaxloss.sweep: mode must be 'min' or 'max'; got {mode!r}.")
        kept, mean, std = self._reduced(metric, over)
        if np.all(np.isnan(mean)):
            raise ValueError(f"jaxloss.sweep: every configuration of {metric!r} is NaN.")
        flat = np.nanargmin(mean) if mode == "min" else np.nanargmax(mean)
        index = np.unravel_index(flat, mean.shape)
        config = {n: python_value(self.grid.axes[n][i]) for n, i in zip(kept, index, strict=True)}
        return {"config": config, "mean": float(mean[index]), "std": float(std[index])}

    def table(
        self, metric: str, over: Sequence[str] = (), mode: str = "min", top: int | None = None
    ) -> str:
        """A Markdown table of configurations ranked by ``metric`` (mean ± std over ``over``).

        Args:
          metric: a per-run scalar returned by ``run_fn``.
          over: axes to average over (e.g. ``("seed",)``).
          mode: ``"min"`` or ``"max"``: which end ranks first.
          top: keep only the best ``top`` rows.

        Returns:
          The table; diverged configurations rank last, marked ``diverged``.

        Example:
          >>> from jaxloss import sweep
          >>> r = sweep.run(lambda x: {"y": x * x}, sweep.Grid(x=[1.0, -0.5]))
          >>> print(r.table("y"))
          | rank | x | y |
          |---:|---:|---:|
          | 1 | -0.5 | 0.25 |
          | 2 | 1 | 1 |
        """
        kept, mean, std = self._reduced(metric, over)
        order = np.argsort(mean.reshape(-1) * (1 if mode == "min" else -1), kind="stable")
        order = [i for i in order if not np.isnan(mean.reshape(-1)[i])] + [
            i for i in order if np.isnan(mean.reshape(-1)[i])
        ]
        header = ["rank", *kept, metric + (f" (mean ± std over {', '.join(over)})" if over else "")]
        lines = ["| " + " | ".join(header) + " |", "|" + "---:|" * len(header)]
        for rank, flat in enumerate(order[:top] if top else order, start=1):
            index = np.unravel_index(flat, mean.shape)
            cells = [
                f"{python_value(self.grid.axes[n][i]):g}" for n, i in zip(kept, index, strict=True)
            ]
            m, s = mean[index], std[index]
            value = "diverged" if np.isnan(m) else (f"{m:.4g} ± {s:.2g}" if over else f"{m:.4g}")
            lines.append("| " + " | ".join([str(rank), *cells, value]) + " |")
        return "\n".join(lines)

    def bias_variance(
        self, predictions: str, targets: Any, seed_axis: str = "seed"
    ) -> dict[str, np.ndarray]:
        """Each configuration's seeds as an ensemble: ``mse = bias_squared + variance``.

        Uses :func:`jaxloss.metrics.bias_variance` with the runs along ``seed_axis`` as the
        members, for every combination of the other axes.

        Args:
          predictions: the name of a result holding each run's predictions on a fixed
            evaluation set (shape ``grid.shape + targets.shape``).
          targets: the evaluation targets.
          seed_axis: the axis whose runs form the ensemble.

        Returns:
          A dict of arrays shaped like the grid without ``seed_axis``: ``mse`` (the seeds'
          mean MSE), ``bias_squared`` and ``variance``.

        Example:
          >>> import jax.numpy as jnp
          >>> from jaxloss import sweep
          >>> t = jnp.zeros(3)
          >>> r = sweep.run(lambda a, seed: {"p": a + 0.1 * seed.astype(jnp.float32) + t},
          ...               sweep.Grid(a=[0.0, 1.0], seed=[0, 1, 2]))
          >>> parts = r.bias_variance("p", t)
          >>> [round(float(v), 4) for v in parts["bias_squared"]], parts["variance"].shape
          ([0.01, 1.21], (2,))
        """
        from .. import metrics

        if seed_axis not in self.grid.names:
            raise ValueError(f"jaxloss.sweep: {seed_axis!r} is not an axis of {self.grid.names}.")
        axis = self.grid.names.index(seed_axis)
        values = np.moveaxis(np.asarray(self[predictions]), axis, -1 - np.ndim(targets))
        configs = values.shape[: len(self.grid.shape) - 1]
        flat = values.reshape((-1, *values.shape[len(configs) :]))
        parts = jax.vmap(lambda members: metrics.bias_variance(members, targets, axis=0))(flat)
        return {k: np.asarray(v).reshape(configs) for k, v in parts.items()}

    def _scalar_columns(self) -> dict[str, np.ndarray]:
        if not isinstance(self.values, dict):
            raise TypeError("jaxloss.sweep: export needs run_fn to return a dict of results.")
        return {
            k: np.asarray(v).reshape(-1)
            for k, v in self.values.items()
            if np.shape(v) == self.grid.shape
        }

    def records(self) -> list[dict[str, float | int]]:
        """One dict per run: its axis values (as written) and its per-run scalar results.

        Returns:
          A list of ``grid.size`` dicts, in the grid's C order.

        Example:
          >>> from jaxloss import sweep
          >>> sweep.run(lambda x: {"y": x + 1.0}, sweep.Grid(x=[0.5])).records()
          [{'x': 0.5, 'y': 1.5}]
        """
        columns = {**self.grid.points(), **self._scalar_columns()}
        axes = set(self.grid.names)

        def convert(key: str, value: np.generic) -> float | int:
            return python_value(value) if key in axes else value.item()

        return [
            {k: convert(k, v) for k, v in zip(columns, row, strict=True)}
            for row in zip(*columns.values(), strict=True)
        ]

    def to_csv(self, path: str | os.PathLike) -> None:
        """One row per run: the axis values, then every per-run scalar result.

        Args:
          path: the file to write (atomically).

        Returns:
          None.

        Example:
          >>> import tempfile, pathlib
          >>> from jaxloss import sweep
          >>> r = sweep.run(lambda x: {"y": x * x}, sweep.Grid(x=[1.0, 2.0]))
          >>> path = pathlib.Path(tempfile.mkdtemp()) / "sweep.csv"
          >>> r.to_csv(path); print(path.read_text().strip())
          x,y
          1.0,1.0
          2.0,4.0
        """
        records = self.records()
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(records[0])
        writer.writerows(record.values() for record in records)
        _atomic_write(pathlib.Path(path), text.getvalue().encode())

    def to_json(self, path: str | os.PathLike) -> None:
        """The grid and one record per run (axis values and per-run scalars), as JSON.

        Args:
          path: the file to write (atomically).

        Returns:
          None.

        Example:
          >>> import json, tempfile, pathlib
          >>> from jaxloss import sweep
          >>> r = sweep.run(lambda x: {"y": x * x}, sweep.Grid(x=[3.0]))
          >>> path = pathlib.Path(tempfile.mkdtemp()) / "sweep.json"
          >>> r.to_json(path); json.loads(path.read_text())["runs"]
          [{'x': 3.0, 'y': 9.0}]
        """
        runs = self.records()
        document = {"grid": self.grid.describe(), "runs": runs}
        _atomic_write(pathlib.Path(path), json.dumps(document, indent=2).encode())

    def plot(
        self, metric: str, x: str, y: str | None = None, over: Sequence[str] = (), path: str = ""
    ) -> Any:
        """A heatmap of ``metric`` over axes ``x`` and ``y`` (or a line plot over ``x``).

        Every other axis must be in ``over`` (averaged). Needs matplotlib
        (``pip install "jaxloss[examples]"``).

        Args:
          metric: a per-run scalar.
          x: the horizontal axis.
          y: the vertical axis of a heatmap, or None for a line plot.
          over: the axes to average over.
          path: if given, the PNG file to write.

        Returns:
          The matplotlib figure.

        Example:
          >>> from jaxloss import sweep
          >>> r = sweep.run(lambda a, b: {"y": a * b}, sweep.Grid(a=[1.0, 2.0], b=[1.0, 3.0]))
          >>> r.plot("y", x="a", y="b").axes[0].get_xlabel()
          'a'
        """
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        kept, mean, _ = self._reduced(metric, over)
        wanted = [x] if y is None else [y, x]
        if sorted(kept) != sorted(wanted):
            raise ValueError(
                f"jaxloss.sweep.plot: axes {kept} remain after averaging over {list(over)}; "
                f"plot needs exactly {wanted} (add the others to over=)."
            )
        if kept != wanted:
            mean = mean.T
        fig, ax = plt.subplots(figsize=(6, 4.5), dpi=120)
        xs = self.grid.axes[x]
        if y is None:
            ax.plot(xs, mean, marker="o")
            ax.set_ylabel(metric)
            if np.all(xs > 0) and xs.max() / xs.min() > 50:
                ax.set_xscale("log")
        else:
            image = ax.imshow(mean, origin="lower", aspect="auto", cmap="viridis")
            ax.set_xticks(range(len(xs)), [f"{v:g}" for v in xs])
            ys = self.grid.axes[y]
            ax.set_yticks(range(len(ys)), [f"{v:g}" for v in ys])
            ax.set_ylabel(y)
            fig.colorbar(image, ax=ax, label=metric)
            for (i, j), v in np.ndenumerate(mean):
                ax.text(j, i, "div." if np.isnan(v) else f"{v:.3g}", ha="center", va="center",
                        color="white", fontsize=8)  # fmt: skip
        ax.set_xlabel(x)
        title = f"{metric}" + (f", mean over {', '.join(over)}" if over else "")
        ax.set_title(title)
        fig.tight_layout()
        if path:
            fig.savefig(path)
        return fig


def run(
    run_fn: Callable[..., PyTree],
    grid: Grid,
    *,
    chunk_size: int | None = None,
    devices: Sequence[jax.Device] | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    progress: bool = False,
) -> SweepResult:
    """Runs ``run_fn(**hyperparameters)`` for every point of ``grid``, vmapped and sharded.

    Each chunk of runs is one call of ``jax.jit(jax.vmap(run_fn))``, compiled once per
    chunk shape, with the runs axis sharded over a 1-D mesh of ``devices`` (by default all
    devices of all processes, so under ``jax.distributed`` every process contributes its
    devices and receives the full result). Hyperparameters arrive as traced scalars (int32
    for integer axes, float32 otherwise), so optimizer settings built inside ``run_fn``
    (``optax.adam(learning_rate)``) and loss settings are both sweepable. Runs are
    independent: one that diverges (``train.fit``'s ``diverged_at``) changes no other.

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
    n_devices = len(devices)
    if chunk_size is not None and (isinstance(chunk_size, bool) or chunk_size < 1):
        raise ValueError(f"jaxloss.sweep.run: chunk_size must be >= 1; got {chunk_size!r}.")
    chunk = math.ceil((chunk_size or grid.size) / n_devices) * n_devices
    n_chunks = math.ceil(grid.size / chunk)
    points = grid.points()

    dtypes = tuple((name, values.dtype.str) for name, values in points.items())
    compiled, sharding, leaf_shapes, treedef = _compile(run_fn, dtypes, chunk, tuple(devices))

    directory = None if checkpoint_dir is None else pathlib.Path(checkpoint_dir)
    finished: set[int] = set()
    if directory is not None:
        description = {"format": _FORMAT, "grid": grid.describe(), "chunk_size": chunk}
        _check_checkpoint(directory, description, write=jax.process_index() == 0)
        if jax.process_count() > 1:
            multihost_utils.sync_global_devices("jaxloss.sweep.checkpoint")
        # Decided once, by every process alike, before any chunk is written.
        finished = {c for c in range(n_chunks) if _chunk_path(directory, c).exists()}

    chunks: list[list[np.ndarray]] = []
    computed = loaded = 0
    bar = _chunk_bar(n_chunks, grid.size) if progress else None
    for c in range(n_chunks):
        start, stop = c * chunk, min((c + 1) * chunk, grid.size)
        path = None if directory is None else _chunk_path(directory, c)
        if c in finished:
            leaves = _load_chunk(path, leaf_shapes)
            loaded += 1
        else:
            # Pad with copies of the chunk's first run: valid hyperparameters, results dropped.
            index = np.arange(start, start + chunk)
            index = np.where(index < stop, index, start)
            host = {k: v[index] for k, v in points.items()}
            inputs = {
                k: jax.make_array_from_callback((chunk,), sharding, lambda i, v=v: v[i])
                for k, v in host.items()
            }
            out = compiled(inputs)
            if jax.process_count() > 1:
                out = multihost_utils.process_allgather(out, tiled=True)
            leaves = [np.asarray(leaf) for leaf in jax.tree.leaves(jax.device_get(out))]
            if path is not None and jax.process_index() == 0:
                _save_chunk(path, leaves)
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
            grid.shape + tuple(leaf_shapes[i].shape[1:])
        )
        for i in range(len(leaf_shapes))
    ]
    return SweepResult(grid, jax.tree.unflatten(treedef, stacked), computed, loaded)
