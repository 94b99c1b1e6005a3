"""The hyperparameter grid: named axes whose product is the set of runs."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np


def _axis_values(name: str, values: Iterable[Any]) -> np.ndarray:
    try:
        array = np.asarray(list(values))
    except TypeError as err:
        raise TypeError(
            f"jaxloss.sweep.Grid: axis {name!r} must be a sequence of numbers; got {values!r}."
        ) from err
    if array.ndim != 1 or array.size == 0:
        raise ValueError(
            f"jaxloss.sweep.Grid: axis {name!r} must be a non-empty 1-D sequence of numbers; "
            f"got shape {array.shape}."
        )
    if array.dtype == bool or not np.issubdtype(array.dtype, np.number):
        raise TypeError(
            f"jaxloss.sweep.Grid: axis {name!r} holds {array.dtype} values; expected ints or "
            "floats (a choice among models or losses is a separate sweep, or an int index)."
        )
    if np.issubdtype(array.dtype, np.integer):
        return array.astype(np.int32)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"jaxloss.sweep.Grid: axis {name!r} holds non-finite values {array}.")
    return array.astype(np.float32)


def python_value(value: np.generic) -> float | int:
    """An axis value as the Python number it was written as (float32 0.001 -> 0.001)."""
    if np.issubdtype(value.dtype, np.integer):
        return int(value)
    return float(str(value))  # the shortest repr that round-trips through float32


class Grid:
    """Named hyperparameter axes; the runs are their Cartesian product, in C order.

    Integer axes (e.g. ``seed=range(8)``) stay int32 and float axes become float32, so every
    run receives its hyperparameters as traced scalars of a fixed dtype.

    Args:
      **axes: each a non-empty sequence of numbers, e.g. ``learning_rate=[1e-3, 1e-2]``.

    Attributes:
      axes: the axis values by name, as int32 or float32 NumPy arrays, in order.

    Example:
      >>> from jaxloss import sweep
      >>> grid = sweep.Grid(learning_rate=[1e-3, 1e-2, 1e-1], delta=[0.5, 1.0], seed=range(4))
      >>> grid.shape, grid.size, grid.names
      ((3, 2, 4), 24, ('learning_rate', 'delta', 'seed'))
      >>> grid.point(5)
      {'learning_rate': 0.001, 'delta': 1.0, 'seed': 1}
    """

    def __init__(self, **axes: Iterable[Any]) -> None:
        if not axes:
            raise ValueError("jaxloss.sweep.Grid: give at least one axis, e.g. seed=range(4).")
        self.axes: dict[str, np.ndarray] = {k: _axis_values(k, v) for k, v in axes.items()}

    @property
    def names(self) -> tuple[str, ...]:
        """The axis names, in order."""
        return tuple(self.axes)

    @property
    def shape(self) -> tuple[int, ...]:
        """The number of values on each axis."""
        return tuple(len(v) for v in self.axes.values())

    @property
    def size(self) -> int:
        """The number of runs."""
        return int(np.prod(self.shape))

    def points(self) -> dict[str, np.ndarray]:
        """Every run's hyperparameters: one flat array of length ``size`` per axis.

        Returns:
          A dict of 1-D arrays; run ``i`` gets element ``i`` of each.

        Example:
          >>> from jaxloss import sweep
          >>> sweep.Grid(a=[1.0, 2.0], seed=[0, 1]).points()["a"].tolist()
          [1.0, 1.0, 2.0, 2.0]
        """
        mesh = np.meshgrid(*self.axes.values(), indexing="ij")
        return {name: m.reshape(-1) for name, m in zip(self.names, mesh, strict=True)}

    def point(self, index: int) -> dict[str, float | int]:
        """The hyperparameters of run ``index`` as Python numbers.

        Args:
          index: the flat run index, ``0 <= index < size``.

        Returns:
          A dict from axis name to value.

        Example:
          >>> from jaxloss import sweep
          >>> sweep.Grid(a=[1.0, 2.0], seed=[0, 1]).point(3)
          {'a': 2.0, 'seed': 1}
        """
        position = np.unravel_index(index, self.shape)
        return {n: python_value(self.axes[n][i]) for n, i in zip(self.names, position, strict=True)}

    def describe(self) -> dict[str, list]:
        """A JSON-serialisable description (stored with checkpoints to refuse other grids).

        Returns:
          ``{axis name: list of values}`` with values as stored (float32 or int32).

        Example:
          >>> from jaxloss import sweep
          >>> sweep.Grid(seed=[0, 1]).describe()
          {'seed': [0, 1]}
        """
        return {name: [python_value(v) for v in values] for name, values in self.axes.items()}

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={values}" for k, values in self.describe().items())
        return f"Grid({inner})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Grid) and self.describe() == other.describe()

    __hash__ = None  # type: ignore[assignment]
