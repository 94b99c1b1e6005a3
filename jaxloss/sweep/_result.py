"""``SweepResult``: a sweep's outcome shaped like its grid, ranked, tabulated, exported, plotted."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np

from .._io import atomic_write, write_csv
from ._space import Space, python_value

PyTree = Any
# The output key of a run that holds train.FitResult.diverged_at (sweep.run's diverged_key).
DIVERGED_AT = "diverged_at"


def ranked(scores: np.ndarray, mode: str) -> np.ndarray:
    """Positions of ``scores`` best first (``mode`` ``"min"`` or ``"max"``); NaN (diverged)
    last; ties by position. The order halving and population-based training rank runs by."""
    key = np.where(np.isnan(scores), np.inf, scores if mode == "min" else -scores)
    return np.argsort(key, kind="stable")


def json_number(value: float | np.generic) -> float | int | None:
    """A number as JSON holds it: NaN (a diverged run's metric) becomes null."""
    number = value.item() if isinstance(value, np.generic) else value
    return None if isinstance(number, float) and np.isnan(number) else number


class SweepResult:
    """The results of a sweep, shaped like its space, with the hyperparameters attached.

    Every leaf of ``run_fn``'s output becomes a NumPy array of shape
    ``grid.shape + leaf_shape`` (one axis per dimension of the space: a :class:`Grid`'s
    axes, or a sampled space's ``trial`` dimension and its crossed lists). A ``run_fn``
    returning a dict of per-run scalars (e.g.
    ``{"eval_mse": ..., "diverged_at": ...}``) gets :meth:`best`, :meth:`table`,
    :meth:`to_csv`, :meth:`to_json` and :meth:`plot` by key.

    Attributes:
      grid: the space that was run (a :class:`Grid`, :class:`Random` or :class:`Sobol`).
      values: the outputs, shaped like the grid.
      chunks_computed: chunks computed by this call.
      chunks_loaded: chunks reloaded from ``checkpoint_dir``.
      diverged_key: the output key holding each run's divergence step (``sweep.run``'s
        argument), or None.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxloss import sweep
      >>> result = sweep.run(lambda a, seed: {"loss": (a - 1.0) ** 2},
      ...                    sweep.Grid(a=[0.0, 1.0, 3.0], seed=[0, 1]))
      >>> result["loss"].shape, result.best("loss", over=("seed",))["config"]
      ((3, 2), {'a': 1.0})
    """

    def __init__(
        self,
        grid: Space,
        values: PyTree,
        chunks_computed: int,
        chunks_loaded: int,
        *,
        diverged_key: str | None = DIVERGED_AT,
    ) -> None:
        self.grid = grid
        self.values = values
        self.chunks_computed = chunks_computed
        self.chunks_loaded = chunks_loaded
        self.diverged_key = diverged_key

    def __getitem__(self, key: str) -> np.ndarray:
        if not isinstance(self.values, dict) or key not in self.values:
            keys = list(self.values) if isinstance(self.values, dict) else type(self.values)
            raise KeyError(f"jaxloss.sweep: no result named {key!r}; run_fn returned {keys}.")
        return self.values[key]

    @property
    def diverged(self) -> np.ndarray:
        """Grid-shaped bool: runs whose ``diverged_key`` result is ``>= 0`` (all False without
        one)."""
        key = self.diverged_key
        if key is not None and isinstance(self.values, dict) and key in self.values:
            return np.asarray(self.values[key]) >= 0
        return np.zeros(self.grid.shape, bool)

    def _reduced(
        self, metric: str, over: Sequence[str]
    ) -> tuple[list[str], np.ndarray, np.ndarray]:
        values = np.asarray(self[metric], np.float64)
        if values.shape != self.grid.shape:
            raise ValueError(
                f"jaxloss.sweep: {metric!r} has shape {values.shape[len(self.grid.shape) :]} per "
                "run; best/table need one number per run."
            )
        unknown = [a for a in over if a not in self.grid.dims]
        if unknown:
            raise ValueError(
                f"jaxloss.sweep: over={unknown} are not dimensions of the results {self.grid.dims}."
            )
        axes = tuple(self.grid.dims.index(a) for a in over)
        kept = [n for n in self.grid.dims if n not in over]
        # A diverged run is NaN, and so is the mean of any configuration that contains one.
        values = np.where(self.diverged, np.nan, values)
        return kept, values.mean(axis=axes), values.std(axis=axes)

    def best(self, metric: str, over: Sequence[str] = (), mode: str = "min") -> dict[str, Any]:
        """The best configuration by ``metric``, averaged over the ``over`` axes (e.g. seeds).

        Args:
          metric: a per-run scalar returned by ``run_fn``.
          over: dimensions to average over first, e.g. ``("seed",)`` (configurations with a
            diverged run are NaN).
          mode: ``"min"`` or ``"max"``.

        Returns:
          ``{"config": {axis: value}, "index": (i, ...), "mean": ..., "std": ...}``: the
          configuration's values and its position along each dimension not in ``over`` (so
          ``result[key][index]`` selects its runs without looking values up again), and the
          mean and std over ``over``.

        Example:
          >>> from jaxloss import sweep
          >>> r = sweep.run(lambda x: {"y": (x - 2.0) ** 2}, sweep.Grid(x=[0.0, 2.0, 5.0]))
          >>> r.best("y")
          {'config': {'x': 2.0}, 'index': (1,), 'mean': 0.0, 'std': 0.0}
        """
        if mode not in ("min", "max"):
            raise ValueError(f"jaxloss.sweep: mode must be 'min' or 'max'; got {mode!r}.")
        kept, mean, std = self._reduced(metric, over)
        if np.all(np.isnan(mean)):
            raise ValueError(f"jaxloss.sweep: every configuration of {metric!r} is NaN.")
        flat = np.nanargmin(mean) if mode == "min" else np.nanargmax(mean)
        index = tuple(int(i) for i in np.unravel_index(flat, mean.shape))
        config = self.grid.config(dict(zip(kept, index, strict=True)))
        return {
            "config": config,
            "index": index,
            "mean": float(mean[index]),
            "std": float(std[index]),
        }

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
        flat_mean = mean.reshape(-1)
        ranked = np.argsort(flat_mean * (1 if mode == "min" else -1), kind="stable")
        order = [i for i in ranked if not np.isnan(flat_mean[i])] + [
            i for i in ranked if np.isnan(flat_mean[i])
        ]
        names = [name for dim in kept for name in self.grid.columns(dim)]
        header = [
            "rank",
            *names,
            metric + (f" (mean ± std over {', '.join(over)})" if over else ""),
        ]
        lines = ["| " + " | ".join(header) + " |", "|" + "---:|" * len(header)]
        for rank, flat in enumerate(order[:top] if top else order, start=1):
            index = np.unravel_index(flat, mean.shape)
            config = self.grid.config(dict(zip(kept, (int(i) for i in index), strict=True)))
            cells = [f"{value:g}" for value in config.values()]
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

        if seed_axis not in self.grid.dims:
            raise ValueError(
                f"jaxloss.sweep: {seed_axis!r} is not a dimension of the results {self.grid.dims}."
            )
        axis = self.grid.dims.index(seed_axis)
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
        write_csv(path, self.records())

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
        atomic_write(path, json.dumps(document, indent=2).encode())

    def plot(
        self, metric: str, x: str, y: str | None = None, over: Sequence[str] = (), path: str = ""
    ) -> Any:
        """``metric`` against hyperparameters: a line, a heatmap, or a scatter for samples.

        On a grid: a line plot over axis ``x``, or a heatmap over axes ``x`` and ``y``. On a
        sampled space (:class:`Random`, :class:`Sobol`), where ``x`` is a column of the
        ``trial`` dimension: a scatter of ``metric`` against ``x``, or of ``y`` against ``x``
        coloured by ``metric``. Log-distributed axes (``LogUniform``, or grid values spanning
        more than 50×) get a log scale. Every dimension not plotted must be in ``over``
        (averaged). Needs matplotlib (``pip install "jaxloss[examples]"``). The figure is a
        plain ``matplotlib.figure.Figure``: neither pyplot's figure list nor the backend is
        touched, so a notebook keeps its backend and nothing stays alive after you drop the
        figure (a notebook displays it when it is the cell's value).

        Args:
          metric: a per-run scalar.
          x: the horizontal hyperparameter.
          y: the vertical hyperparameter (heatmap or coloured scatter), or None.
          over: the dimensions to average over.
          path: if given, the PNG file to write.

        Returns:
          The matplotlib figure.

        Example:
          >>> from jaxloss import sweep
          >>> r = sweep.run(lambda a, b: {"y": a * b}, sweep.Grid(a=[1.0, 2.0], b=[1.0, 3.0]))
          >>> r.plot("y", x="a", y="b").axes[0].get_xlabel()
          'a'
          >>> space = sweep.Random(16, lr=sweep.LogUniform(1e-4, 1.0))
          >>> r = sweep.run(lambda lr: {"loss": (lr - 0.01) ** 2}, space)
          >>> r.plot("loss", x="lr").axes[0].get_xscale()
          'log'
        """
        from matplotlib.figure import Figure

        kept, mean, _ = self._reduced(metric, over)
        sampled = self.grid.dim_of(x) != x  # a column of the trial dimension, not a grid axis
        if y is not None and sampled != (self.grid.dim_of(y) != y):
            raise ValueError(
                f"jaxloss.sweep.plot: x={x!r} and y={y!r} must both be sampled "
                "hyperparameters (a coloured scatter) or both grid axes (a heatmap)."
            )
        wanted = [self.grid.dim_of(x)] if y is None or sampled else [y, x]
        if sorted(kept) != sorted(wanted):
            raise ValueError(
                f"jaxloss.sweep.plot: dimensions {kept} remain after averaging over "
                f"{list(over)}; plot needs exactly {wanted} (add the others to over=)."
            )
        fig = Figure(figsize=(6, 4.5), dpi=120)
        ax = fig.subplots()
        if sampled:
            self._scatter(fig, ax, metric, mean, x, y)
        else:
            self._lines(fig, ax, metric, mean if kept == wanted else mean.T, x, y)
        ax.set_xlabel(x)
        if (sampled or y is None) and self.grid.is_log(x):
            ax.set_xscale("log")
        title = f"{metric}" + (f", mean over {', '.join(over)}" if over else "")
        ax.set_title(title)
        fig.tight_layout()
        if path:
            fig.savefig(path)
        return fig

    def _scatter(self, fig: Any, ax: Any, metric: str, mean: np.ndarray, x: str,
                 y: str | None) -> None:  # fmt: skip
        columns = self.grid.columns(self.grid.dim_of(x))
        finite = np.isfinite(mean)
        if y is None:
            ax.scatter(columns[x][finite], mean[finite], s=18)
            ax.set_ylabel(metric)
            return
        points = ax.scatter(columns[x][finite], columns[y][finite], c=mean[finite], s=24,
                            cmap="viridis")  # fmt: skip
        ax.set_ylabel(y)
        if self.grid.is_log(y):
            ax.set_yscale("log")
        fig.colorbar(points, ax=ax, label=metric)

    def _lines(self, fig: Any, ax: Any, metric: str, mean: np.ndarray, x: str,
               y: str | None) -> None:  # fmt: skip
        xs = self.grid.columns(x)[x]
        if y is None:
            ax.plot(xs, mean, marker="o")
            ax.set_ylabel(metric)
            return
        image = ax.imshow(mean, origin="lower", aspect="auto", cmap="viridis")
        ax.set_xticks(range(len(xs)), [f"{v:g}" for v in xs])
        ys = self.grid.columns(y)[y]
        ax.set_yticks(range(len(ys)), [f"{v:g}" for v in ys])
        ax.set_ylabel(y)
        fig.colorbar(image, ax=ax, label=metric)
        for (i, j), v in np.ndenumerate(mean):
            ax.text(j, i, "div." if np.isnan(v) else f"{v:.3g}", ha="center", va="center",
                    color="white", fontsize=8)  # fmt: skip
