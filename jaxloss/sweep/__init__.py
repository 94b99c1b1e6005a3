"""Hyperparameter sweeps: whole training runs vmapped over a grid, sharded over devices.

``Grid`` names the axes; ``run`` trains every point as one compiled program per chunk,
sharded over every device (and every process under ``jax.distributed``), with atomic
checkpoints to resume; ``SweepResult`` ranks, tabulates, exports and plots the outcome.
"""

from ._grid import Grid as Grid
from ._result import SweepResult as SweepResult
from ._run import run as run

__all__ = ["Grid", "SweepResult", "run"]
