"""Hyperparameter sweeps: whole training runs vmapped over a grid, sharded over devices.

``Grid`` names the axes; ``run`` trains every point as one compiled program per chunk, each
device its own runs (``shard_map``, no communication), over every device of every process
(``jax.distributed``), with checkpoints that identify the computation; ``run(shard=(k, n))``
computes one shard of the chunks into a shared folder with no coordinator, and ``load``
assembles it; ``SweepResult`` ranks, tabulates, exports and plots the outcome.
"""

from ._grid import Grid as Grid
from ._result import SweepResult as SweepResult
from ._run import ShardReport as ShardReport
from ._run import load as load
from ._run import run as run

__all__ = ["Grid", "ShardReport", "SweepResult", "load", "run"]
