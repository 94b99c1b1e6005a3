"""Hyperparameter search: whole training runs vmapped over a space, sharded over devices.

A space names the runs: ``Grid`` (the product of listed axes), ``Random`` and ``Sobol``
(joint samples of ``Uniform``, ``LogUniform``, ``IntUniform`` and ``Choice`` axes, crossed
with listed ones). ``run`` trains every run as one compiled program per chunk, each device
its own runs (``shard_map``, no communication), over every device of every process
(``jax.distributed``), with checkpoints that identify the computation; ``run(shard=(k, n))``
computes one shard of the chunks into a shared folder with no coordinator, and ``load``
assembles it; ``SweepResult`` ranks, tabulates, exports and plots the outcome.
"""

from ._grid import Grid as Grid
from ._halving import HalvingResult as HalvingResult
from ._halving import HyperbandResult as HyperbandResult
from ._halving import Rung as Rung
from ._halving import halving as halving
from ._halving import hyperband as hyperband
from ._halving import schedule as schedule
from ._pbt import PBTResult as PBTResult
from ._pbt import exploit as exploit
from ._pbt import explore as explore
from ._pbt import pbt as pbt
from ._result import SweepResult as SweepResult
from ._run import ShardReport as ShardReport
from ._run import load as load
from ._run import run as run
from ._space import Choice as Choice
from ._space import Distribution as Distribution
from ._space import IntUniform as IntUniform
from ._space import LogUniform as LogUniform
from ._space import Random as Random
from ._space import Sobol as Sobol
from ._space import Space as Space
from ._space import Uniform as Uniform
from ._trainer import Trainer as Trainer

__all__ = [
    "Choice",
    "Distribution",
    "Grid",
    "HalvingResult",
    "HyperbandResult",
    "IntUniform",
    "LogUniform",
    "PBTResult",
    "Random",
    "Rung",
    "ShardReport",
    "Sobol",
    "Space",
    "SweepResult",
    "Trainer",
    "Uniform",
    "exploit",
    "explore",
    "halving",
    "hyperband",
    "load",
    "pbt",
    "run",
    "schedule",
]
