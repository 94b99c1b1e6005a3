"""The hyperparameter grid: named axes whose product is the set of runs."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from ._space import Space, _axis_values, python_value


class Grid(Space):
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
        self.axes: dict[str, np.ndarray] = {k: _axis_values("Grid", k, v) for k, v in axes.items()}
        self._dimensions = {k: {k: v} for k, v in self.axes.items()}

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
