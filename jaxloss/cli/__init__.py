"""The ``jaxloss`` command line: fit or sweep a regression on a CSV file (or the bundled data).

``jaxloss fit`` trains one model with one loss and reports held-out metrics next to the
least-squares baseline; ``jaxloss sweep`` trains a grid of hyperparameters × seeds as one
vmapped program and ranks the configurations. Both write ``results.json`` (every printed
number, the exact configuration, versions and device), PNG plots, and for sweeps
``results.csv``, into a fresh output directory. Exit codes: 0 success, 2 bad input (one
line on stderr, nothing written), 1 failure, 130 stopped by Ctrl-C (at the next chunk
boundary, nothing half-written).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

from . import _interrupt
from ._args import LOSS_NAMES, OPTIMIZERS, UsageError, _at_least_one, _hidden
from ._fit import command_fit
from ._model import command_predict
from ._problem import MODELS
from ._sweep import METRICS, command_collect, command_sweep
from ._table import MISSING


class _HelpFormatter(argparse.HelpFormatter):
    """Every flag's help ends with its default, unless the text already explains it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (not action.option_strings or "default" in text or default is None
                or default is False or default == [] or default is argparse.SUPPRESS):  # fmt: skip
            return text
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        return f"{text} (default: {shown})"


_STANDARDISED = (
    "Features are standardised with the training rows' mean and standard deviation, and so "
    "is the target (except for mape, msle, poisson_nll and tweedie_deviance, which need it "
    "in its own units): "
    "a scale such as huber's delta is in target standard deviations."
)


class _OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (the full usage stays in --help)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog="jaxloss", description="Fit or sweep a regression with any jaxloss loss."
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_OneLineParser)
    common = _OneLineParser(add_help=False)
    group = common.add_argument_group("data and model")
    group.add_argument("--data", metavar="FILE",
                       help="a CSV file with a header row, or Parquet (.parquet, .pq); "
                            "default: the bundled diabetes data")  # fmt: skip
    group.add_argument("--target", metavar="COLUMN", help="the column to predict")
    group.add_argument("--features", nargs="+", metavar="COLUMN",
                       help="feature columns (default: all but the target)")  # fmt: skip
    group.add_argument("--drop", action="append", default=[], metavar="COLUMN",
                       help="a column not to use as a feature (repeatable)")  # fmt: skip
    group.add_argument("--missing", choices=MISSING, default="error",
                       help="missing cells: error (name the first), drop-rows, or mean (fill "
                            "with the training rows' column mean; rows without a target are "
                            "dropped) (default: error)")  # fmt: skip
    group.add_argument("--max-categories", type=_at_least_one, default=50, metavar="N",
                       help="text columns are one-hot encoded, one 0/1 feature per value, up "
                            "to N values (default: 50)")  # fmt: skip
    group.add_argument("--model", choices=MODELS, default="linear",
                       help="a linear model or a multilayer perceptron")  # fmt: skip
    group.add_argument("--hidden", type=_hidden, default=(64, 64), help="MLP widths, e.g. 64,64")
    group.add_argument("--loss", default="huber", help=f"one of {', '.join(LOSS_NAMES)}")
    group.add_argument("--loss-arg", action="append", default=[], metavar="NAME=VALUE",
                       help="a loss hyperparameter, e.g. delta=1.0 (repeatable)")  # fmt: skip
    group.add_argument(
        "--optimizer", choices=OPTIMIZERS, default="adam", help="the optax optimizer"
    )
    group.add_argument("--learning-rate", type=float, default=1e-2, metavar="RATE",
                       help="the optimizer's step size")  # fmt: skip
    group.add_argument("--steps", type=int, default=1000, help="optimisation steps")
    group.add_argument("--batch-size", type=int, default=32,
                       help="examples per step; 0 for full batch (default 32, capped at the "
                            "training rows)")  # fmt: skip
    group.add_argument("--seed", type=int, default=0, help="split and initialisation seed")
    group.add_argument("--test-fraction", type=float, default=0.2, metavar="FRACTION",
                       help="rows held out to report on, drawn with --seed")  # fmt: skip
    group.add_argument("--out", default="jaxloss-results", metavar="DIR",
                       help="output directory (never overwritten: a timestamped subdirectory "
                            "is used if it holds results)")  # fmt: skip
    group.add_argument("--quiet", action="store_true", help="no progress bar")

    fit = commands.add_parser("fit", parents=[common], help="train one model",
                              description="Train one model, report held-out metrics, save "
                                          "it for `jaxloss predict`. " + _STANDARDISED)  # fmt: skip
    fit.set_defaults(handler=command_fit)
    sweep = commands.add_parser("sweep", parents=[common], help="train a grid × seeds",
                                description="Train every grid point × seed in one vmapped "
                                            "program; rank the configurations. "
                                            + _STANDARDISED)  # fmt: skip
    sweep.add_argument("--grid", action="append", default=[], metavar="NAME=V1,V2,...",
                       help="a swept axis: learning_rate or a loss hyperparameter (repeatable); "
                            "default: learning_rate=1e-3,1e-2,1e-1 and, for huber, "
                            "delta=0.5,1,2")  # fmt: skip
    sweep.add_argument("--seeds", type=int, default=4, help="seeds per configuration")
    sweep.add_argument("--devices", default="all", help="'all' or how many devices to use")
    sweep.add_argument("--chunk-size", type=_at_least_one, default=None, metavar="RUNS",
                       help="runs per compiled chunk (default: all runs of a device)")  # fmt: skip
    sweep.add_argument("--checkpoint-dir", default=None, metavar="DIR",
                       help="write finished chunks here and resume from them (refused if it "
                            "holds a sweep of another configuration)")  # fmt: skip
    sweep.add_argument("--validation-fraction", type=float, default=0.2,
                       help="rows held out to rank the configurations (default 0.2); the "
                            "test rows only report on the chosen one")  # fmt: skip
    sweep.add_argument("--metric", choices=("auto", *METRICS), default="auto",
                       help="what ranks the configurations on the validation rows: the "
                            "trained loss or a metric in the target's units (r2, pearson and "
                            "ccc are maximised, the rest minimised); auto: the loss for mae, "
                            "pinball, expectile, mape, msle, poisson_nll, laplace_nll, "
                            "student_t_nll, crps_normal and tweedie_deviance, else "
                            "mse")  # fmt: skip
    search = sweep.add_argument_group("search")
    search.add_argument("--search", choices=("grid", "random", "sobol"), default="grid",
                        help="grid: every --grid point; random or sobol: --trials joint "
                             "samples of the --space distributions (crossed with any --grid "
                             "axes and the seeds; sampling seed: --seed)")  # fmt: skip
    search.add_argument(
        "--trials",
        type=int,
        default=16,
        help="sampled configurations for --search random|sobol (default 16)",
    )
    search.add_argument("--space", action="append", default=[], metavar="NAME=KIND:...",
                        help="a sampled axis: uniform:LOW:HIGH, loguniform:LOW:HIGH, "
                             "int:LOW:HIGH or choice:V1,V2,... (repeatable), e.g. "
                             "learning_rate=loguniform:1e-4:1")  # fmt: skip
    search.add_argument("--scheduler", choices=("none", "halving", "pbt"), default="none",
                        help="none: train every run for --steps; halving: successive halving "
                             "(every run for --min-steps, the best 1/--eta continue from where "
                             "they stopped, up to --steps); pbt: population-based training "
                             "(every --interval steps the worst --fraction copy and perturb "
                             "the best)")  # fmt: skip
    search.add_argument(
        "--eta", type=float, default=3.0, help="halving: keep the best 1/eta each rung (default 3)"
    )
    search.add_argument("--min-steps", type=int, default=None,
                        help="halving: the first rung's steps (default: --steps / eta², "
                             "three rungs)")  # fmt: skip
    search.add_argument(
        "--audit",
        type=int,
        default=None,
        help="halving: runs trained through every rung to measure how well "
        "early scores rank them (default: min(8, runs); 0: none)",
    )
    search.add_argument(
        "--interval",
        type=int,
        default=None,
        help="pbt: steps per generation (default --steps / 10)",
    )
    search.add_argument("--fraction", type=float, default=0.25,
                        help="pbt: the share of the population that copies, and is copied "
                             "(default 0.25)")  # fmt: skip
    search.add_argument("--resample-probability", type=float, default=0.25,
                        help="pbt: chance of resampling a hyperparameter instead of "
                             "perturbing it by 0.8 or 1.25 (default 0.25)")  # fmt: skip
    cluster = sweep.add_argument_group("clusters")
    cluster.add_argument("--shard", metavar="K/N", default=None,
                         help="compute only shard K of N of the chunks into --checkpoint-dir "
                              "(no coordinator: one per SLURM array or Kubernetes indexed-job "
                              "task); then `jaxloss collect`")  # fmt: skip
    cluster.add_argument("--distributed", action="store_true",
                         help="join a multi-process JAX run (jax.distributed.initialize: "
                              "SLURM, Open MPI and Kubernetes are detected); process 0 "
                              "writes the results")  # fmt: skip
    cluster.add_argument(
        "--coordinator",
        metavar="HOST:PORT",
        default=None,
        help="with --distributed: the coordinator's address, if not detected",
    )
    cluster.add_argument(
        "--num-processes",
        type=int,
        default=None,
        help="with --distributed: how many processes, if not detected",
    )
    cluster.add_argument(
        "--process-id",
        type=int,
        default=None,
        help="with --distributed: this process's index, if not detected",
    )
    sweep.set_defaults(handler=command_sweep)

    predict = commands.add_parser("predict", help="apply a saved model to new rows",
                                  description="Predict the target of new rows with the model "
                                              "`jaxloss fit` saved: the same columns by name, "
                                              "encoded and standardised as in training, "
                                              "predictions in target units.")  # fmt: skip
    predict.add_argument("--model", required=True, metavar="DIR",
                         help="a `jaxloss fit` output folder or its model/ subfolder")  # fmt: skip
    predict.add_argument("--data", required=True, metavar="FILE",
                         help="CSV or Parquet with the model's feature columns (others, the "
                              "target included, are ignored)")  # fmt: skip
    predict.add_argument("--out", default=None, metavar="FILE.csv",
                         help="where to write the predictions (default: stdout)")  # fmt: skip
    predict.set_defaults(handler=command_predict)

    collect = commands.add_parser("collect", help="report a sweep its shards computed",
                                  description="Read a --checkpoint-dir that `jaxloss sweep "
                                              "--shard K/N` runs filled and write the sweep's "
                                              "report and files.")  # fmt: skip
    collect.add_argument("--checkpoint-dir", required=True, metavar="DIR")
    collect.add_argument(
        "--out",
        default="jaxloss-results",
        metavar="DIR",
        help="output directory (never overwritten)",
    )
    collect.add_argument("--quiet", action="store_true", help="accepted for symmetry")
    collect.set_defaults(handler=command_collect)
    return parser


def _start_distributed(args: argparse.Namespace) -> None:
    """Joins JAX's multi-process runtime before anything touches a device (an application may
    configure JAX: on CPU the collectives go over gloo)."""
    import jax

    explicit = (args.coordinator, args.num_processes, args.process_id)
    if not args.distributed:
        if any(v is not None for v in explicit):
            raise UsageError(
                "--coordinator, --num-processes and --process-id go with --distributed"
            )
        return
    if any(v is not None for v in explicit) and not all(v is not None for v in explicit):
        raise UsageError(
            "--distributed: give all of --coordinator, --num-processes and --process-id, or "
            "none (then they are detected from SLURM, Open MPI or Kubernetes)"
        )
    if args.num_processes is not None and not 0 <= args.process_id < args.num_processes:
        raise UsageError(f"--process-id {args.process_id}: must be in [0, {args.num_processes})")
    # CPU devices exchange the results over gloo; accelerators use their own collectives.
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        coordinator_address=args.coordinator,
        num_processes=args.num_processes,
        process_id=args.process_id,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """The ``jaxloss`` console script (and ``python -m jaxloss``).

    Args:
      argv: the arguments (default: ``sys.argv[1:]``).

    Returns:
      The exit code: 0 success, 2 bad input, 1 failure, 130 stopped by Ctrl-C.

    Example:
      >>> from jaxloss import cli
      >>> cli.main(["fit", "--steps", "0"])  # stderr: jaxloss: error: --steps 0: must be >= 1
      2
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as done:  # --help (0) or a usage error (2), already printed
        return int(done.code or 0)
    if args.command == "sweep" and not args.grid and args.search == "grid":
        args.grid = ["learning_rate=1e-3,1e-2,1e-1"] + (
            ["delta=0.5,1,2"] if args.loss == "huber" and "delta" not in str(args.loss_arg) else []
        )
    try:
        if args.command == "sweep":
            _start_distributed(args)
        with _interrupt.graceful():
            args.handler(args)
    except UsageError as err:
        print(f"jaxloss: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `jaxloss fit | head`: the reader left; stop writing to it
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except (_interrupt.Interrupted, KeyboardInterrupt):
        kept = " (finished chunks stay in --checkpoint-dir)" if getattr(
            args, "checkpoint_dir", None) else ""  # fmt: skip
        print(f"jaxloss: stopped by Ctrl-C; no results were written{kept}", file=sys.stderr)
        return 130
    except Exception as err:  # a failure, not bad input: report it in one line, exit 1
        if os.environ.get("JAXLOSS_TRACEBACK"):
            raise
        print(f"jaxloss: failed: {type(err).__name__}: {err} "
              "(set JAXLOSS_TRACEBACK=1 for the traceback)", file=sys.stderr)  # fmt: skip
        return 1
    return 0
