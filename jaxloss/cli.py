"""The ``jaxloss`` command line: fit or sweep a regression on a CSV file (or the bundled data).

``jaxloss fit`` trains one model with one loss and reports held-out metrics next to the
least-squares baseline; ``jaxloss sweep`` trains a grid of hyperparameters × seeds as one
vmapped program and ranks the configurations. Both write ``results.json`` (every printed
number, the exact configuration, versions and device), PNG plots, and for sweeps
``results.csv``, into a fresh output directory. Exit codes: 0 success, 2 bad input (one
line on stderr, nothing written), 1 failure.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import inspect
import json
import math
import os
import pathlib
import shutil
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import _losses
from ._io import atomic_write, record_json, staging_directory, write_csv

# These losses need targets in their own units (log scale, percentages, counts).
_RAW_TARGET_LOSSES = ("msle", "mape", "poisson_nll")
_CONTRACT = ("predictions", "targets", "weights", "where", "axis", "reduction")
OPTIMIZERS = ("adam", "adamw", "sgd")
# Every loss but those a table of features and one target cannot feed: gaussian_nll and
# beta_nll take a per-sample variance, crps_ensemble an ensemble of predictions, and
# tweedie_deviance needs the raw (unstandardised, non-negative) targets and a log link,
# which the command line does not offer yet.
_NOT_ON_THE_COMMAND_LINE = ("gaussian_nll", "beta_nll", "crps_ensemble", "tweedie_deviance")
LOSS_NAMES = tuple(name for name in _losses.NAMES if name not in _NOT_ON_THE_COMMAND_LINE)


class UsageError(Exception):
    """Bad input: reported on one line with exit code 2, before anything is written."""


# --------------------------------------------------------------------------------------------
# Input.
# --------------------------------------------------------------------------------------------


def load_table(
    path: str | None, target: str | None, features: Sequence[str] | None
) -> tuple[np.ndarray, np.ndarray, list[str], str, str]:
    """Reads the features and target; every cell must be a finite number."""
    if path is None:
        from .data import load_diabetes

        x, y, names = load_diabetes()
        if target not in (None, "progression"):
            raise UsageError(f"--target {target!r}: the bundled data's target is 'progression'")
        chosen = list(features) if features else names
        missing = [f for f in chosen if f not in names]
        if missing:
            raise UsageError(f"--features: no column {missing[0]!r} in the bundled data {names}")
        index = [names.index(f) for f in chosen]
        return x[:, index], y, chosen, "progression", "bundled diabetes data (442 patients)"

    file = pathlib.Path(path)
    if not file.is_file():
        raise UsageError(f"--data {path}: no such file")
    if target is None:
        raise UsageError("--target is required with --data (the column to predict)")
    with file.open(newline="") as f:
        rows = list(csv.reader(f))
    if len(rows) < 2:
        raise UsageError(f"--data {path}: needs a header row and at least one data row")
    header = [h.strip() for h in rows[0]]
    if target not in header:
        raise UsageError(f"--target {target!r}: no such column in {path} (columns: {header})")
    chosen = list(features) if features else [h for h in header if h != target]
    for name in chosen:
        if name not in header:
            raise UsageError(f"--features: no column {name!r} in {path} (columns: {header})")
    if target in chosen:
        raise UsageError(f"--features: the target {target!r} cannot also be a feature")
    columns = [*chosen, target]
    values = np.empty((len(rows) - 1, len(columns)), np.float64)
    for r, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise UsageError(f"{path}, line {r}: {len(row)} cells, the header has {len(header)}")
        for c, name in enumerate(columns):
            cell = row[header.index(name)].strip()
            try:
                value = float(cell)
            except ValueError:
                raise UsageError(
                    f"{path}, line {r}, column {name!r}: {cell!r} is not a number"
                ) from None
            if not math.isfinite(value):
                raise UsageError(f"{path}, line {r}, column {name!r}: {cell!r} is not finite")
            values[r - 2, c] = value
    if len(values) < 4:
        raise UsageError(f"--data {path}: {len(values)} rows are too few to split and train")
    return (values[:, :-1].astype(np.float32), values[:, -1].astype(np.float32), chosen,
            target, str(file))  # fmt: skip


def loss_hyperparameters(name: str) -> dict[str, inspect.Parameter]:
    import jaxloss

    signature = inspect.signature(getattr(jaxloss, name))
    return {k: p for k, p in signature.parameters.items() if k not in _CONTRACT}


def parse_value(arg: str, text: str, default: Any) -> Any:
    if isinstance(default, bool):
        if text.lower() not in ("true", "false"):
            raise UsageError(f"{arg}: {text!r} must be true or false")
        return text.lower() == "true"
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"{arg}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise UsageError(f"{arg}: {text!r} is not finite")
    return value


def parse_loss_args(loss: str, items: Sequence[str]) -> tuple[dict[str, Any], list[str]]:
    allowed = loss_hyperparameters(loss)
    parsed = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep:
            raise UsageError(f"--loss-arg {item!r}: expected name=value, e.g. delta=1.0")
        if key not in allowed:
            valid = ", ".join(allowed) or "none"
            raise UsageError(f"--loss-arg {key!r}: {loss} takes {valid}")
        parsed[key] = parse_value(f"--loss-arg {key}", text, allowed[key].default)
    required = [k for k, p in allowed.items() if p.default is inspect.Parameter.empty]
    return parsed, required


def parse_grid(items: Sequence[str], loss: str) -> dict[str, list[float]]:
    sweepable = _sweepable(loss)
    grid: dict[str, list[float]] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not text:
            raise UsageError(f"--grid {item!r}: expected name=v1,v2,..., e.g. delta=0.5,1,2")
        if key not in sweepable:
            raise UsageError(f"--grid {key!r}: with --loss {loss} the axes are {sweepable}")
        if key in grid:
            raise UsageError(f"--grid {key!r} is given twice")
        grid[key] = [parse_value(f"--grid {key}", v, 0.0) for v in text.split(",")]
    return grid


def _sweepable(loss: str) -> list[str]:
    return ["learning_rate"] + [
        k for k, p in loss_hyperparameters(loss).items() if not isinstance(p.default, bool)
    ]


_SPACE_KINDS = ("uniform", "loguniform", "int", "choice")


def parse_space(items: Sequence[str], loss: str) -> dict[str, Any]:
    """``--space NAME=KIND:...`` items as sweep distributions (UsageError naming the item)."""
    from . import sweep

    sweepable = _sweepable(loss)
    space: dict[str, Any] = {}
    for item in items:
        key, sep, spec = item.partition("=")
        kind, _, bounds = spec.partition(":")
        if not sep or kind not in _SPACE_KINDS or not bounds:
            raise UsageError(
                f"--space {item!r}: expected NAME=KIND:..., KIND one of uniform:LOW:HIGH, "
                "loguniform:LOW:HIGH, int:LOW:HIGH or choice:V1,V2,...; e.g. "
                "learning_rate=loguniform:1e-4:1"
            )
        if key not in sweepable:
            raise UsageError(f"--space {key!r}: with --loss {loss} the axes are {sweepable}")
        if key in space:
            raise UsageError(f"--space {key!r} is given twice")
        try:
            if kind == "choice":
                values = [parse_value(f"--space {key}", v, 0.0) for v in bounds.split(",")]
                space[key] = sweep.Choice(values)
                continue
            parts = bounds.split(":")
            if len(parts) != 2:
                raise UsageError(f"--space {item!r}: {kind} takes LOW:HIGH")
            if kind == "int":
                low, high = (int(float(parse_value(f"--space {key}", v, 0.0))) for v in parts)
                space[key] = sweep.IntUniform(low, high)
                continue
            low, high = (parse_value(f"--space {key}", v, 0.0) for v in parts)
            if key == "learning_rate" and low <= 0:
                raise UsageError(f"--space {item!r}: a learning rate must be > 0")
            space[key] = (sweep.Uniform if kind == "uniform" else sweep.LogUniform)(low, high)
        except (ValueError, TypeError) as err:
            reason = str(err).partition(": ")[2] or str(err)
            raise UsageError(f"--space {item!r}: {reason}") from None
    return space


# --------------------------------------------------------------------------------------------
# The model and its training.
# --------------------------------------------------------------------------------------------


def _file_hash(path: str | None) -> str:
    """SHA-256 of the data file's bytes (the bundled CSV without --data)."""
    import hashlib
    import importlib.resources

    digest = hashlib.sha256()
    if path is None:
        digest.update(
            importlib.resources.files("jaxloss.data").joinpath("diabetes.csv").read_bytes()
        )
        return digest.hexdigest()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class Problem:
    """Standardised train / validation / test splits and everything a run needs.

    ``fit`` uses train and test rows; ``sweep`` also holds out validation rows, on which it
    ranks the configurations, so that the test rows only report on the chosen one.
    """

    def __init__(self, args: argparse.Namespace):
        x, y, names, target, source = load_table(args.data, args.target, args.features)
        self.data_sha256 = _file_hash(args.data)
        if not 0.0 < args.test_fraction < 1.0:
            raise UsageError(f"--test-fraction {args.test_fraction}: must be in (0, 1)")
        validation_fraction = getattr(args, "validation_fraction", 0.0)
        if "validation_fraction" in vars(args) and not 0.0 < validation_fraction < 1.0:
            raise UsageError(f"--validation-fraction {validation_fraction}: must be in (0, 1)")
        if args.loss not in LOSS_NAMES:
            raise UsageError(f"--loss {args.loss!r}: choose one of {', '.join(LOSS_NAMES)}")
        if args.steps < 1:
            raise UsageError(f"--steps {args.steps}: must be >= 1")
        if args.batch_size < 0:
            raise UsageError(f"--batch-size {args.batch_size}: must be >= 0 (0: full batch)")
        if args.learning_rate <= 0:
            raise UsageError(f"--learning-rate {args.learning_rate}: must be > 0")
        self.loss_args, required = parse_loss_args(args.loss, args.loss_arg)
        self.required = required
        n_test = max(1, round(args.test_fraction * len(y)))
        n_validation = max(1, round(validation_fraction * len(y))) if validation_fraction else 0
        if len(y) - n_test - n_validation < 2:
            fractions = f"--test-fraction {args.test_fraction}" + (
                f" and --validation-fraction {validation_fraction}" if n_validation else ""
            )
            raise UsageError(f"{fractions}: leave too few rows to train")
        order = np.random.default_rng(args.seed).permutation(len(y))
        self.test_index = order[:n_test]
        self.validation_index = order[n_test : n_test + n_validation]
        self.train_index = order[n_test + n_validation :]
        # 0, or more than there are rows: full-batch steps.
        self.batch_size = args.batch_size or None
        if self.batch_size is not None and self.batch_size >= len(self.train_index):
            self.batch_size = None
        self.args, self.names, self.target, self.source = args, names, target, source
        x_train = x[self.train_index]
        self.x_mean, self.x_std = x_train.mean(0), np.where(x_train.std(0) > 0, x_train.std(0), 1)
        self.raw_targets = args.loss in _RAW_TARGET_LOSSES
        y_train = y[self.train_index]
        self.y_mean = 0.0 if self.raw_targets else float(y_train.mean())
        self.y_std = 1.0 if self.raw_targets else float(y_train.std() or 1.0)
        xs = ((x - self.x_mean) / self.x_std).astype(np.float32)
        ys = ((y - self.y_mean) / self.y_std).astype(np.float32)
        self.train = (xs[self.train_index], ys[self.train_index])
        self.validation = (xs[self.validation_index], ys[self.validation_index])
        self.test = (xs[self.test_index], ys[self.test_index])
        self.y_validation = y[self.validation_index]
        self.y_test = y[self.test_index]

    def init(self, key):
        from . import models

        features = self.train[0].shape[1]
        if self.args.model == "linear":
            return models.linear_init(key, features)
        return models.mlp_init(key, features, hidden=self.args.hidden)

    def apply(self, params, x):
        from . import models

        return (models.linear_apply if self.args.model == "linear" else models.mlp_apply)(params, x)

    def optimizer(self, learning_rate):
        import optax

        return {"adam": optax.adam, "adamw": optax.adamw, "sgd": optax.sgd}[self.args.optimizer](
            learning_rate
        )

    def objective(self, hyper: dict[str, Any]):
        import jaxloss

        loss = getattr(jaxloss, self.args.loss)

        def objective(params, batch):
            return loss(self.apply(params, batch[0]), batch[1], **hyper)

        return objective

    def fit(self, learning_rate, seed, hyper: dict[str, Any], progress: bool | str):
        import jax

        from . import train

        key = jax.random.key(seed)
        return train.fit(
            self.objective(hyper), self.init(key), self.optimizer(learning_rate), self.train,
            num_steps=self.args.steps, batch_size=self.batch_size,
            key=jax.random.fold_in(key, 1), log_every=max(self.args.steps // 50, 1),
            progress=progress,
        )  # fmt: skip

    def predict_original_units(self, params, x):
        return self.apply(params, x) * self.y_std + self.y_mean

    def held_out(self, predictions) -> dict[str, float]:
        return {k: float(v) for k, v in held_out_metrics(predictions, self.y_test).items()}

    def baseline(self) -> dict[str, float]:
        from . import baselines

        w, b = baselines.lstsq(*self.train)
        return self.held_out((self.test[0] @ w + b) * self.y_std + self.y_mean)

    def describe(self) -> dict[str, Any]:
        a = self.args
        rows = {"train": len(self.train_index), "test": len(self.test_index)}
        if len(self.validation_index):
            rows["validation"] = len(self.validation_index)
        return {
            "data": self.source, "data_sha256": self.data_sha256, "target": self.target,
            "features": self.names, "rows": rows, "test_fraction": a.test_fraction,
            "validation_fraction": getattr(a, "validation_fraction", None), "model": a.model,
            "hidden": list(a.hidden) if a.model == "mlp" else None, "loss": a.loss,
            "loss_args": self.loss_args, "optimizer": a.optimizer,
            "learning_rate": a.learning_rate, "steps": a.steps, "batch_size": self.batch_size,
            "seed": a.seed, "targets_standardised": not self.raw_targets,
        }  # fmt: skip


HELD_OUT = ("mse", "rmse", "mae", "r2", "pearson", "ccc")


def held_out_metrics(predictions: Any, targets: Any) -> dict[str, Any]:
    """MSE, RMSE, MAE, R², Pearson and concordance correlation of predictions in the target's
    units (jittable)."""
    from . import metrics

    computed = metrics.Regression.empty().update(predictions, targets).compute()
    return {k: computed[k] for k in HELD_OUT}


# --------------------------------------------------------------------------------------------
# Output.
# --------------------------------------------------------------------------------------------


def environment() -> dict[str, str]:
    import jax
    import optax

    from . import __version__

    device = jax.devices()[0]
    return {"jaxloss": __version__, "jax": jax.__version__, "optax": optax.__version__,
            "python": sys.version.split()[0], "platform": device.platform,
            "device": device.device_kind, "device_count": str(jax.device_count())}  # fmt: skip


class Output:
    """Files are written into a hidden staging folder and moved into place at the end."""

    def __init__(self, out: str):
        target = pathlib.Path(out)
        if target.exists() and not target.is_dir():
            raise UsageError(f"--out {out}: exists and is not a directory")
        self.note = ""
        if target.exists() and any(target.iterdir()):
            stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
            target = target / f"run-{stamp}"
            suffix = 1
            while target.exists():
                target = target.with_name(f"run-{stamp}-{suffix}")
                suffix += 1
            self.note = f"{out} already holds results; writing to {target} instead"
        self.target = target
        self.staging: pathlib.Path | None = None

    def __enter__(self) -> pathlib.Path:
        self.target.parent.mkdir(parents=True, exist_ok=True)
        self.staging = staging_directory(self.target.parent, "jaxloss")
        return self.staging

    def __exit__(self, kind, value, traceback) -> None:
        assert self.staging is not None, "Output is used as a context manager"
        if kind is None:
            if self.target.exists():  # an empty directory given as --out
                self.target.rmdir()
            os.replace(self.staging, self.target)
        else:
            shutil.rmtree(self.staging, ignore_errors=True)


def write_json(path: pathlib.Path, document: dict) -> None:
    atomic_write(path, (json.dumps(document, indent=2) + "\n").encode())


def have_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _figure(figsize: tuple[float, float]) -> Any:
    """A plain matplotlib Figure: no pyplot state, no backend to choose, nothing to close."""
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, dpi=110)


def plot_history(path: pathlib.Path, history: dict[str, np.ndarray], title: str) -> None:
    fig = _figure((6, 4))
    ax = fig.subplots()
    steps = np.asarray(history["step"])
    ran = steps > 0
    ax.plot(steps[ran], np.asarray(history["loss"])[ran])
    ax.set_xlabel("step")
    ax.set_ylabel("training loss (chunk mean)")
    ax.set_yscale("log")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path)


def plot_predictions(path: pathlib.Path, targets, predictions, title: str) -> None:
    fig = _figure((5, 5))
    ax = fig.subplots()
    ax.scatter(targets, predictions, s=12, alpha=0.7)
    low, high = float(np.min(targets)), float(np.max(targets))
    ax.plot([low, high], [low, high], color="black", lw=1)
    ax.set_xlabel("held-out target")
    ax.set_ylabel("prediction")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path)


def _report(lines: list[str], output: Output, document: dict) -> dict:
    """Prints the report, with where it was written and anything the reader must know."""
    lines = [*lines, "", f"results written to {output.target}"]
    if not have_matplotlib():
        lines.append('plots skipped: pip install "jaxloss[cli]" (matplotlib) to draw them')
    if output.note:
        lines.append(output.note)
    print("\n".join(lines))
    return document


def _loss_text(loss: str, loss_args: dict[str, Any]) -> str:
    return loss + "".join(f" {k}={v:g}" for k, v in loss_args.items())


def _label(metric: str) -> str:
    """How a report names a held-out metric."""
    return {"r2": "R²", "pearson": "Pearson ρ"}.get(metric, metric.upper())


def _format_metrics(name: str, m: dict[str, float]) -> str:
    return (f"{name:<26}{m['mse']:>12.4g}{m['rmse']:>10.4g}{m['mae']:>10.4g}{m['r2']:>8.3f}"
            f"{m['pearson']:>8.3f}{m['ccc']:>8.3f}")  # fmt: skip


def _progress(args: argparse.Namespace) -> bool:
    return not args.quiet and sys.stderr.isatty()


# --------------------------------------------------------------------------------------------
# Commands.
# --------------------------------------------------------------------------------------------


def command_fit(args: argparse.Namespace) -> dict:
    problem = Problem(args)
    if problem.required and not all(k in problem.loss_args for k in problem.required):
        raise UsageError(f"--loss {args.loss} needs --loss-arg for: {', '.join(problem.required)}")
    output = Output(args.out)
    import jax

    result = problem.fit(args.learning_rate, args.seed, problem.loss_args, _progress(args))
    predictions = np.asarray(problem.predict_original_units(result.params, problem.test[0]))
    model = problem.held_out(predictions)
    baseline = problem.baseline()
    history = {k: np.asarray(v) for k, v in result.history.items()}
    diverged = int(result.diverged_at)

    lines = [
        f"jaxloss fit: {problem.source}, target {problem.target!r}, "
        f"{len(problem.train_index)} train / {len(problem.test_index)} test rows",
        f"{args.model} model, loss {_loss_text(args.loss, problem.loss_args)}, {args.optimizer} "
        f"lr={args.learning_rate:g}, {args.steps} steps, device {jax.devices()[0].platform}",
    ]
    if diverged >= 0:
        lines.append(f"warning: training diverged at step {diverged} (NaN/Inf loss)")
    lines += [
        "",
        f"{'held-out':<26}{'MSE':>12}{'RMSE':>10}{'MAE':>10}{'R²':>8}{'ρ':>8}{'CCC':>8}",
        _format_metrics(f"{args.model} ({args.loss})", model),
        _format_metrics("least squares (SVD)", baseline),
    ]
    document = {
        "command": "fit", "config": problem.describe(), "environment": environment(),
        "held_out": {"model": model, "least_squares": baseline},
        "diverged_at": diverged,
        "history": {k: v.tolist() for k, v in history.items()},
    }  # fmt: skip
    with output as folder:
        write_json(folder / "results.json", document)
        if have_matplotlib():
            plot_history(folder / "training_curve.png", history, f"{args.model}, {args.loss}")
            plot_predictions(folder / "predictions.png", problem.y_test, predictions,
                             f"held-out predictions (R² {model['r2']:.3f})")  # fmt: skip
    return _report(lines, output, document)


# Losses whose minimiser is not the conditional mean: by default a sweep ranks them by their
# own objective on the validation rows, not by MSE (a pinball sweep ranked by MSE "picks"
# the median).
_RANKED_BY_OWN_LOSS = ("mae", "pinball", "expectile", "mape", "msle", "poisson_nll",
                       "laplace_nll", "student_t_nll", "crps_normal")  # fmt: skip
METRICS = ("loss", *HELD_OUT)
_MAXIMISED = ("r2", "pearson", "ccc")
# What the command line records in --checkpoint-dir: enough to refuse another configuration
# and for `jaxloss collect` to rebuild the same problem.
_RECORDED = ("data", "target", "features", "model", "hidden", "loss", "loss_arg", "optimizer",
             "learning_rate", "steps", "batch_size", "seed", "test_fraction",
             "validation_fraction", "grid", "seeds", "metric", "search", "trials", "space",
             "scheduler", "eta", "min_steps", "audit", "interval", "fraction",
             "resample_probability")  # fmt: skip
_CLI_RECORD = "jaxloss-cli.json"


def _ranking_metric(args: argparse.Namespace, axes: dict[str, list[float]]) -> str:
    metric = args.metric
    if metric == "auto":
        metric = "loss" if args.loss in _RANKED_BY_OWN_LOSS else "mse"
    swept = sorted(set(axes) - {"learning_rate"})
    if metric == "loss" and swept:
        raise UsageError(
            f"--metric loss: the grid sweeps {', '.join(swept)}, so each configuration trains "
            "a different loss and their values do not compare; rank by --metric mse, rmse, "
            "mae, r2, pearson or ccc"
        )
    return metric


class SweepSetup:
    """The grid, the run function and the ranking of a sweep, from the parsed arguments."""

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.problem = problem = Problem(args)
        axes = parse_grid(args.grid, args.loss)
        distributions = parse_space(args.space, args.loss)
        if args.seeds < 1:
            raise UsageError(f"--seeds {args.seeds}: must be >= 1")
        if args.search == "grid" and distributions:
            raise UsageError("--space draws samples: use it with --search random or sobol")
        if args.search != "grid":
            if not distributions:
                raise UsageError(
                    f"--search {args.search} samples from --space NAME=KIND:..., e.g. "
                    "--space learning_rate=loguniform:1e-4:1"
                )
            if args.trials < 1:
                raise UsageError(f"--trials {args.trials}: must be >= 1")
        both = sorted(set(axes) & set(distributions))
        if both:
            raise UsageError(f"--grid {both[0]!r} is also given by --space; give it once")
        swept = {**axes, **distributions}
        missing = [k for k in problem.required if k not in problem.loss_args and k not in swept]
        if missing:
            raise UsageError(
                f"--loss {args.loss} needs --loss-arg, --grid or --space for: " + ", ".join(missing)
            )
        clash = sorted(set(swept) & set(problem.loss_args))
        if clash:
            option = "--grid" if clash[0] in axes else "--space"
            raise UsageError(f"{option} {clash[0]!r} is also fixed by --loss-arg; give it once")
        self.metric = _ranking_metric(args, swept)
        self.mode = "max" if self.metric in _MAXIMISED else "min"
        if "learning_rate" not in swept:
            axes["learning_rate"] = [args.learning_rate]
        from . import sweep

        seeds = list(range(args.seeds))
        if args.search == "grid":
            self.grid: sweep.Space = sweep.Grid(**axes, seed=seeds)
        else:
            sampler = sweep.Random if args.search == "random" else sweep.Sobol
            self.grid = sampler(args.trials, seeds, sample_seed=args.seed, **distributions,
                                **axes)  # fmt: skip

    def run_fn(self, learning_rate, seed, **hyper):
        """One run: validation metrics (for ranking) and test metrics and predictions."""
        import jax.numpy as jnp

        problem = self.problem
        hyper = {**problem.loss_args, **hyper}
        result = problem.fit(learning_rate, seed, hyper, False)
        x_validation, y_validation = (jnp.asarray(a) for a in problem.validation)
        x_test = jnp.asarray(problem.test[0])
        validation = problem.predict_original_units(result.params, x_validation)
        test = problem.predict_original_units(result.params, x_test)
        own_loss = problem.objective(hyper)(result.params, (x_validation, y_validation))
        return {
            "validation_loss": own_loss,
            **{f"validation_{k}": v for k, v in
               held_out_metrics(validation, problem.y_validation).items()},
            **{f"test_{k}": v for k, v in held_out_metrics(test, problem.y_test).items()},
            "diverged_at": result.diverged_at,
            "test_predictions": test,
        }  # fmt: skip

    def trainer(self) -> Any:
        """The run as a ``sweep.Trainer`` for halving and PBT: it evaluates the validation
        metrics (to rank) and the test metrics (to report the chosen run) after each stage."""
        import jax
        import jax.numpy as jnp

        from . import sweep, train

        problem = self.problem

        def init(learning_rate, seed, **hyper):
            params = problem.init(jax.random.key(seed))
            return train.TrainState.create(params, problem.optimizer(learning_rate))

        def advance(state, num_steps, learning_rate, seed, **hyper):
            hyper = {**problem.loss_args, **hyper}
            key = jax.random.fold_in(jax.random.key(seed), 1)
            return train.fit(
                problem.objective(hyper), state, problem.optimizer(learning_rate),
                problem.train, num_steps=num_steps, batch_size=problem.batch_size, key=key,
                log_every=num_steps, progress=False,
            ).state  # fmt: skip

        def evaluate(state, learning_rate, seed, **hyper):
            hyper = {**problem.loss_args, **hyper}
            x_validation, y_validation = (jnp.asarray(a) for a in problem.validation)
            validation = problem.predict_original_units(state.params, x_validation)
            test = problem.predict_original_units(state.params, jnp.asarray(problem.test[0]))
            own_loss = problem.objective(hyper)(state.params, (x_validation, y_validation))
            return {
                "validation_loss": own_loss,
                **{f"validation_{k}": v for k, v in
                   held_out_metrics(validation, problem.y_validation).items()},
                **{f"test_{k}": v for k, v in held_out_metrics(test, problem.y_test).items()},
            }  # fmt: skip

        if not hasattr(self, "_trainer"):
            self._trainer = sweep.Trainer(init, advance, evaluate)
        return self._trainer

    def record(self) -> dict[str, Any]:
        """The configuration that determines the sweep's results, as JSON-ready values."""
        recorded = {k: getattr(self.args, k) for k in _RECORDED}
        recorded["hidden"] = list(recorded["hidden"])
        recorded["data_sha256"] = self.problem.data_sha256
        return json.loads(json.dumps(recorded))


def _check_record(directory: pathlib.Path, record: dict[str, Any], write: bool) -> None:
    """Refuses a checkpoint folder of another command-line configuration (exit 2)."""
    stored = record_json(directory / _CLI_RECORD, record, write=write)
    if stored is None:
        return
    differing = [
        f"{key} (stored {stored.get(key)!r}, now {record.get(key)!r})"
        for key in sorted(set(stored) | set(record))
        if stored.get(key) != record.get(key)
    ]
    if differing:
        raise UsageError(
            f"--checkpoint-dir {directory} holds a sweep of another configuration; what "
            f"differs: {'; '.join(differing)}. Use a new --checkpoint-dir"
        )


def _parse_shard(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    k, sep, n = text.partition("/")
    try:
        shard = (int(k), int(n))
    except ValueError:
        shard = None
    if not sep or shard is None or shard[1] < 1 or not 0 <= shard[0] < shard[1]:
        raise UsageError(f"--shard {text!r}: expected K/N with N >= 1 and 0 <= K < N, e.g. 0/4")
    return shard


def command_sweep(args: argparse.Namespace) -> dict | None:
    import jax

    setup = SweepSetup(args)
    shard = _parse_shard(args.shard)
    if shard is not None and args.checkpoint_dir is None:
        raise UsageError("--shard needs --checkpoint-dir, the folder every shard writes into")
    _check_scheduler(setup, shard)
    devices = _devices(args.devices)
    writer = jax.process_index() == 0
    output = None if shard is not None or not writer else Output(args.out)
    checkpoint = None if args.checkpoint_dir is None else pathlib.Path(args.checkpoint_dir)
    if checkpoint is not None:
        if checkpoint.exists() and not checkpoint.is_dir():
            raise UsageError(f"--checkpoint-dir {checkpoint}: exists and is not a directory")
        _check_record(checkpoint, setup.record(), write=writer)

    from . import sweep

    if args.scheduler == "halving":
        return _halving(setup, devices, checkpoint, output)
    if args.scheduler == "pbt":
        return _pbt(setup, devices, checkpoint, output)
    kwargs = dict(chunk_size=args.chunk_size, devices=devices, checkpoint_dir=checkpoint,
                  progress=_progress(args))  # fmt: skip
    if shard is not None:
        report = sweep.run(setup.run_fn, setup.grid, shard=shard, **kwargs)
        print(f"jaxloss sweep: shard {shard[0]}/{shard[1]} of {checkpoint}: chunks "
              f"{report.chunks}, {report.chunks_computed} computed, {report.chunks_loaded} "
              "already there; the folder is "
              + ("complete: jaxloss collect --checkpoint-dir " + str(checkpoint)
                 if report.complete else "not complete yet"))  # fmt: skip
        return None
    result = sweep.run(setup.run_fn, setup.grid, **kwargs)
    if output is None:  # another process of a distributed sweep: process 0 reports
        return None
    notes = [f"{len(devices)} device(s) in {jax.process_count()} process(es)"]
    if result.chunks_loaded:
        notes.append(f"resumed: {result.chunks_loaded} chunk(s) loaded from {checkpoint}, "
                     f"{result.chunks_computed} computed")  # fmt: skip
    return _sweep_report("sweep", setup, result, output, notes)


def _check_scheduler(setup: SweepSetup, shard: tuple[int, int] | None) -> None:
    """Settings of --scheduler halving|pbt, refused (exit 2) before any compute."""
    args = setup.args
    for flag, value, scheduler in (("--min-steps", args.min_steps, "halving"),
                                   ("--audit", args.audit, "halving"),
                                   ("--interval", args.interval, "pbt")):  # fmt: skip
        if value is not None and args.scheduler != scheduler:
            raise UsageError(f"{flag} goes with --scheduler {scheduler}")
    if args.scheduler == "none":
        return
    if shard is not None:
        raise UsageError(
            f"--shard: --scheduler {args.scheduler} needs every run's scores between stages; "
            "run it in one process or with --distributed"
        )
    runs = setup.grid.size
    if args.scheduler == "halving":
        if not args.eta >= 2:
            raise UsageError(f"--eta {args.eta:g}: must be >= 2")
        if args.min_steps is None:
            args.min_steps = max(1, int(args.steps / args.eta**2))
        if not 1 <= args.min_steps <= args.steps:
            raise UsageError(
                f"--min-steps {args.min_steps}: the first rung must fit --steps {args.steps} "
                "(1 <= min-steps <= steps)"
            )
        if args.audit is None:
            args.audit = min(8, runs)
        if not 0 <= args.audit <= runs:
            raise UsageError(f"--audit {args.audit}: must be in [0, {runs}] (the runs)")
        return
    if args.search == "grid":
        raise UsageError(
            "--scheduler pbt resamples hyperparameters from distributions: use --search "
            "random or sobol with --space"
        )
    if args.interval is None:
        args.interval = max(1, args.steps // 10)
    if not 1 <= args.interval <= args.steps:
        raise UsageError(f"--interval {args.interval}: must be in [1, --steps {args.steps}]")
    if not 0 < args.fraction <= 0.5:
        raise UsageError(f"--fraction {args.fraction:g}: must be in (0, 0.5]")
    if not 0 <= args.resample_probability <= 1:
        raise UsageError(f"--resample-probability {args.resample_probability:g}: must be in [0, 1]")
    if runs < 2:
        raise UsageError("--scheduler pbt: the population (trials × seeds) needs >= 2 runs")


def _space_text(space: Any) -> str:
    """``'8 random samples × 4 seeds'`` or ``'3 × 4 (learning_rate, seed)'``."""
    if space.dims[0] == "trial":
        kind = "Sobol" if space.describe()["kind"] == "sobol" else "random"
        rest = "".join(f" × {n} {d}s" for d, n in zip(space.dims[1:], space.shape[1:], strict=True))
        sampled = ", ".join(space.columns("trial"))
        return f"{space.size} runs ({space.shape[0]} {kind} samples of {sampled}{rest})"
    return f"{space.size} runs ({' × '.join(map(str, space.shape))}: {', '.join(space.names)})"


def _search_lines(command: str, setup: SweepSetup, what: str) -> list[str]:
    problem, args = setup.problem, setup.args
    return [
        f"jaxloss {command}: {problem.source}, target {problem.target!r}; rows: "
        f"{len(problem.train_index)} train (fit), {len(problem.validation_index)} validation "
        f"(rank), {len(problem.test_index)} test (report the chosen run)",
        f"{args.model} model, loss {_loss_text(args.loss, problem.loss_args)}, {args.optimizer}; "
        f"{_space_text(setup.grid)}; {what}",
    ]


def _chosen_test(metrics: dict[str, np.ndarray]) -> dict[str, float]:
    return {k: float(metrics[f"test_{k}"]) for k in HELD_OUT}


def _test_line(test: dict[str, float]) -> str:
    return "its test rows: " + ", ".join(f"{_label(k)} {v:.4g}" for k, v in test.items())


def _chosen_predictions(setup: SweepSetup, states: Any, row: int) -> np.ndarray:
    import jax

    params = jax.tree.map(lambda leaf: leaf[row], states.params)
    return np.asarray(setup.problem.predict_original_units(params, setup.problem.test[0]))


def _halving(setup: SweepSetup, devices: list, checkpoint: pathlib.Path | None,
             output: Output | None) -> dict | None:  # fmt: skip
    """``--scheduler halving``: successive halving on the validation metric, with its audit."""
    import warnings

    from . import sweep

    args = setup.args
    ranked_by = f"validation_{setup.metric}"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        result = sweep.halving(
            setup.trainer(), setup.grid, metric=ranked_by, min_steps=args.min_steps,
            max_steps=args.steps, eta=args.eta, mode=setup.mode, audit=args.audit,
            audit_seed=args.seed, chunk_size=args.chunk_size, devices=devices,
            checkpoint_dir=checkpoint, progress=_progress(args),
        )  # fmt: skip
    if output is None:
        return None
    last = result.rungs[-1]
    row = int(np.searchsorted(last.runs, result.best["index"]))
    test = _chosen_test({k: v[row] for k, v in last.metrics.items()})
    full = setup.grid.size * args.steps
    schedule = " → ".join(f"{n} runs to {steps}" for n, steps in result.schedule)
    what = "the trained loss" if setup.metric == "loss" else _label(setup.metric)
    lines = [
        *_search_lines("sweep", setup, f"successive halving, eta {args.eta:g}"),
        f"rungs: {schedule} steps; {result.member_steps} member-steps "
        f"({result.member_steps / full:.0%} of training every run to {args.steps} steps)",
        "",
        f"validation {what}, by the furthest rung reached:",
        result.table(top=10),
        "",
        "chosen on validation rows: "
        + ", ".join(f"{k}={v:g}" for k, v in result.best["config"].items())
        + f"  (validation {what} {result.best['score']:.4g} after {result.best['steps']} steps)",
        _test_line(test),
    ]
    audit = []
    if len(result.audited):
        lines += [
            "",
            f"fidelity audit: {len(result.audited)} runs trained through every rung; Spearman "
            "rank correlation of each rung's scores with the last rung's:",
        ]
        for rung, rho in zip(result.rungs, result.fidelity, strict=True):
            lines.append(f"  {rung.steps:>6} steps: rho = {rho:.2f}")
            audit.append({"steps": rung.steps, "spearman": None if math.isnan(rho) else rho})
    for warning in caught:
        lines.append(f"warning: {str(warning.message).removeprefix('jaxloss.sweep.halving: ')}")
    if result.rungs_loaded:
        lines.append(f"resumed: {result.rungs_loaded} rung(s) loaded from {checkpoint}")
    document = _search_document(setup, "halving", result, test, audit=audit,
                                schedule=[list(r) for r in result.schedule])  # fmt: skip
    with output as folder:
        write_json(folder / "results.json", document)
        result.to_json(folder / "halving.json")
        write_csv(folder / "results.csv", result.records())
        if have_matplotlib():
            plot_predictions(folder / "predictions.png", setup.problem.y_test,
                             _chosen_predictions(setup, result.states, row),
                             "chosen run on test rows")  # fmt: skip
    return _report(lines, output, document)


def _search_document(setup: SweepSetup, scheduler: str, result: Any, test: dict[str, float],
                     **extra: Any) -> dict[str, Any]:  # fmt: skip
    """What results.json holds for --scheduler halving or pbt."""
    return {
        "command": "sweep", "config": problem_config(setup), "environment": environment(),
        "scheduler": scheduler, "ranked_by": f"validation_{setup.metric}", "mode": setup.mode,
        "best": result.best, "test_at_best": test, "member_steps": result.member_steps,
        "least_squares_test": setup.problem.baseline(), "table": result.table(), **extra,
    }  # fmt: skip


def problem_config(setup: SweepSetup) -> dict[str, Any]:
    """The problem's description and the search's settings."""
    args = setup.args
    keys = ("search", "trials", "space", "grid", "seeds", "scheduler", "eta", "min_steps",
            "audit", "interval", "fraction", "resample_probability")  # fmt: skip
    search = {k: getattr(args, k) for k in keys}
    return {**setup.problem.describe(), "search": search, "space": setup.grid.describe()}


def _pbt(setup: SweepSetup, devices: list, checkpoint: pathlib.Path | None,
         output: Output | None) -> dict | None:  # fmt: skip
    """``--scheduler pbt``: population-based training on the validation metric."""
    from . import sweep

    args = setup.args
    ranked_by = f"validation_{setup.metric}"
    generations = args.steps // args.interval
    population = setup.grid
    assert isinstance(population, sweep.Random)  # _check_scheduler refused a grid
    result = sweep.pbt(
        setup.trainer(), population, metric=ranked_by, interval=args.interval,
        generations=generations, mode=setup.mode, fraction=args.fraction,
        resample_probability=args.resample_probability, seed=args.seed, devices=devices,
        checkpoint_dir=checkpoint, progress=_progress(args),
    )  # fmt: skip
    if output is None:
        return None
    member = result.best["member"]
    test = _chosen_test({k: v[-1, member] for k, v in result.scores.items()})
    what = "the trained loss" if setup.metric == "loss" else _label(setup.metric)
    lineage = result.lineage(member)
    explored = list(setup.grid.columns("trial"))
    copies = int((result.parents != np.arange(setup.grid.size)).sum())
    schedule = [
        f"  {step['generation']:>3}: member {step['member']:>3}, "
        + ", ".join(f"{k}={step[k]:.4g}" for k in explored)
        for step in lineage
    ]
    lines = [
        *_search_lines(
            "sweep",
            setup,
            f"population-based training, {generations} generations of {args.interval} steps",
        ),
        f"{result.member_steps} member-steps; {copies} copies of a better member",
        "",
        f"final population by validation {what}:",
        result.table(top=10),
        "",
        f"chosen on validation rows: member {member} (validation {what} "
        f"{result.best['score']:.4g}); its schedule, generation by generation:",
        *schedule,
        _test_line(test),
    ]
    if result.generations_loaded:
        lines.append(f"resumed: {result.generations_loaded} generation(s) loaded from "
                     f"{checkpoint}")  # fmt: skip
    document = _search_document(setup, "pbt", result, test, best_lineage=lineage)
    with output as folder:
        write_json(folder / "results.json", document)
        result.to_json(folder / "pbt.json")
        write_csv(folder / "results.csv", result.records())
        if have_matplotlib():
            _plot_pbt(folder / f"{ranked_by}_over_generations.png", result, ranked_by)
            plot_predictions(folder / "predictions.png", setup.problem.y_test,
                             _chosen_predictions(setup, result.states, member),
                             "chosen member on test rows")  # fmt: skip
    return _report(lines, output, document)


def _plot_pbt(path: pathlib.Path, result: Any, metric: str) -> None:
    fig = _figure((6, 4))
    ax = fig.subplots()
    scores = result.scores[metric]
    generations = np.arange(1, scores.shape[0] + 1)
    ax.plot(generations, scores, color="0.7", linewidth=0.8)
    best = [step["member"] for step in result.lineage(result.best["member"])]
    ax.plot(generations, scores[np.arange(scores.shape[0]), best], color="C3", linewidth=2,
            label="the chosen member's lineage")  # fmt: skip
    ax.set_xlabel("generation")
    ax.set_ylabel(metric)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)


def command_collect(args: argparse.Namespace) -> dict:
    """The report of a sweep whose shards filled --checkpoint-dir."""
    directory = pathlib.Path(args.checkpoint_dir)
    path = directory / _CLI_RECORD
    if not path.is_file():
        raise UsageError(
            f"--checkpoint-dir {directory}: no {_CLI_RECORD}; it is not the folder of a "
            "`jaxloss sweep --checkpoint-dir` run"
        )
    recorded = json.loads(path.read_text())
    if recorded.get("scheduler", "none") != "none":
        raise UsageError(
            f"--checkpoint-dir {directory} holds a --scheduler {recorded['scheduler']} search, "
            "which runs in one process (or --distributed), not in shards: rerun the same "
            "`jaxloss sweep` command to resume it and write its report"
        )
    sweep_args = build_parser().parse_args(["sweep"])
    for key, value in recorded.items():
        if key != "data_sha256":
            setattr(sweep_args, key, tuple(value) if key == "hidden" else value)
    sweep_args.out, sweep_args.quiet = args.out, args.quiet
    setup = SweepSetup(sweep_args)
    if setup.problem.data_sha256 != recorded["data_sha256"]:
        raise UsageError(
            f"--checkpoint-dir {directory}: the data file {setup.problem.source} changed since "
            "the sweep ran (its SHA-256 differs); collect from the same data"
        )
    from . import sweep

    output = Output(args.out)
    try:
        result = sweep.load(directory)
    except ValueError as err:
        raise UsageError(str(err).removeprefix("jaxloss.sweep.load: ")) from None
    return _sweep_report("collect", setup, result, output, [f"collected from {directory}"])


def _sweep_report(
    command: str, setup: SweepSetup, result, output: Output, notes: list[str]
) -> dict:
    """Ranks on validation rows, reports the chosen configuration on test rows, writes files."""
    problem, grid, args = setup.problem, setup.grid, setup.args
    metric, mode = setup.metric, setup.mode
    ranked_by = f"validation_{metric}"
    best = result.best(ranked_by, over=("seed",), mode=mode)
    table = result.table(ranked_by, over=("seed",), mode=mode)
    index = best["index"]
    chosen_test = {k: np.asarray(result[f"test_{k}"][index], np.float64) for k in HELD_OUT}
    test = {k: {"mean": float(v.mean()), "std": float(v.std())} for k, v in chosen_test.items()}
    split = result.bias_variance("test_predictions", problem.y_test)
    best_split = {k: float(v[index]) for k, v in split.items()}
    baseline = problem.baseline()
    what = "the trained loss" if metric == "loss" else _label(metric)
    lines = [
        f"jaxloss {command}: {problem.source}, target {problem.target!r}; rows: "
        f"{len(problem.train_index)} train (fit), {len(problem.validation_index)} validation "
        f"(rank), {len(problem.test_index)} test (report the chosen configuration)",
        f"{args.model} model, loss {_loss_text(args.loss, problem.loss_args)}, {args.optimizer}, "
        f"{args.steps} steps; {_space_text(grid)}; " + "; ".join(notes),
        "",
        f"validation {what}, mean ± std over seeds ({'higher' if mode == 'max' else 'lower'} "
        "is better):",
        table,
        "",
        "chosen on validation rows: "
        + ", ".join(f"{k}={v:g}" for k, v in best["config"].items())
        + f"  (validation {what} {best['mean']:.4g} ± {best['std']:.2g})",
        "its test rows, mean ± std over seeds: "
        + ", ".join(f"{_label(k)} {v['mean']:.4g} ± {v['std']:.2g}" for k, v in test.items()),
        f"bias-variance over {args.seeds} seeds on the test rows: mean MSE "
        f"{best_split['mse']:.4g} = bias² {best_split['bias_squared']:.4g} + variance "
        f"{best_split['variance']:.4g}",
        f"least squares (SVD) test MSE: {baseline['mse']:.4g}",
    ]
    diverged = int(result.diverged.sum())
    if diverged:
        lines.append(f"{diverged} run(s) diverged (NaN/Inf loss); ranked last")
    document = {
        "command": command, "config": problem.describe(), "environment": environment(),
        "grid": grid.describe(), "ranked_by": ranked_by, "mode": mode, "best": best,
        "test_at_best": test, "bias_variance_at_best": best_split,
        "least_squares_test": baseline, "table": table, "diverged_runs": diverged,
        "runs": result.records(),
    }  # fmt: skip
    with output as folder:
        write_json(folder / "results.json", document)
        result.to_csv(folder / "results.csv")
        if have_matplotlib():
            _plot_sweep(folder, result, setup, index)
    return _report(lines, output, document)


def _plot_sweep(folder: pathlib.Path, result, setup: SweepSetup, index) -> None:
    """The ranking metric over the first two swept axes, and the chosen one's test fit."""
    space = result.grid
    swept = [n for n in space.names if n != "seed"]
    if space.dims[0] == "trial":  # sampled: a scatter over the first two sampled axes
        shown = [n for n in swept if space.dim_of(n) == "trial"][:2]
        over = [d for d in space.dims if d != "trial"]
    else:
        shown = swept[:2]
        over = [n for n in space.dims if n not in shown]
    ranked_by = f"validation_{setup.metric}"
    figure = result.plot(ranked_by, x=shown[0], y=shown[1] if len(shown) > 1 else None,
                         over=over)  # fmt: skip
    figure.savefig(folder / f"{ranked_by}_over_grid.png")
    chosen = np.asarray(result["test_predictions"][index]).mean(axis=0)
    plot_predictions(folder / "predictions.png", setup.problem.y_test, chosen,
                     "chosen configuration on test rows, mean over seeds")  # fmt: skip


def _devices(spec: str) -> list:
    import jax

    if spec == "all":
        return jax.devices()
    try:
        count = int(spec)
    except ValueError:
        raise UsageError(f"--devices {spec!r}: 'all' or a number") from None
    if not 1 <= count <= jax.device_count():
        raise UsageError(f"--devices {count}: between 1 and {jax.device_count()} available")
    return jax.devices()[:count]


# --------------------------------------------------------------------------------------------
# The parser.
# --------------------------------------------------------------------------------------------


def _hidden(text: str) -> tuple[int, ...]:
    try:
        widths = tuple(int(w) for w in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: widths like 64,64") from None
    if not widths or min(widths) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: widths must be >= 1")
    return widths


class _OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (the full usage stays in --help)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog="jaxloss", description="Fit or sweep a regression with any jaxloss loss."
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_OneLineParser)
    common = _OneLineParser(add_help=False)
    group = common.add_argument_group("data and model")
    group.add_argument(
        "--data", metavar="FILE.csv", help="CSV with a header row (default: the bundled data)"
    )
    group.add_argument("--target", metavar="COLUMN", help="the column to predict")
    group.add_argument("--features", nargs="+", metavar="COLUMN",
                       help="feature columns (default: all but the target)")  # fmt: skip
    group.add_argument("--model", choices=("linear", "mlp"), default="linear")
    group.add_argument("--hidden", type=_hidden, default=(64, 64), help="MLP widths, e.g. 64,64")
    group.add_argument("--loss", default="huber", help=f"one of {', '.join(LOSS_NAMES)}")
    group.add_argument("--loss-arg", action="append", default=[], metavar="NAME=VALUE",
                       help="a loss hyperparameter, e.g. delta=1.0 (repeatable)")  # fmt: skip
    group.add_argument("--optimizer", choices=OPTIMIZERS, default="adam")
    group.add_argument("--learning-rate", type=float, default=1e-2)
    group.add_argument("--steps", type=int, default=1000)
    group.add_argument("--batch-size", type=int, default=32,
                       help="examples per step; 0 for full batch (default 32, capped at the "
                            "training rows)")  # fmt: skip
    group.add_argument("--seed", type=int, default=0, help="split and initialisation seed")
    group.add_argument("--test-fraction", type=float, default=0.2)
    group.add_argument("--out", default="jaxloss-results", metavar="DIR",
                       help="output directory (never overwritten: a timestamped subdirectory "
                            "is used if it holds results)")  # fmt: skip
    group.add_argument("--quiet", action="store_true", help="no progress bar")

    fit = commands.add_parser("fit", parents=[common], help="train one model",
                              description="Train one model; report held-out metrics.")  # fmt: skip
    fit.set_defaults(handler=command_fit)
    sweep = commands.add_parser("sweep", parents=[common], help="train a grid × seeds",
                                description="Train every grid point × seed in one vmapped "
                                            "program; rank the configurations.")  # fmt: skip
    sweep.add_argument("--grid", action="append", default=[], metavar="NAME=V1,V2,...",
                       help="a swept axis: learning_rate or a loss hyperparameter (repeatable); "
                            "default: learning_rate=1e-3,1e-2,1e-1 and, for huber, "
                            "delta=0.5,1,2")  # fmt: skip
    sweep.add_argument("--seeds", type=int, default=4, help="seeds per configuration")
    sweep.add_argument("--devices", default="all", help="'all' or how many devices to use")
    sweep.add_argument("--chunk-size", type=int, default=None, help="runs per compiled chunk")
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
                            "student_t_nll and crps_normal, else mse")  # fmt: skip
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
      The exit code: 0 success, 2 bad input, 1 failure.

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
        args.handler(args)
    except UsageError as err:
        print(f"jaxloss: error: {err}", file=sys.stderr)
        return 2
    except Exception as err:  # a failure, not bad input: report it in one line, exit 1
        if os.environ.get("JAXLOSS_TRACEBACK"):
            raise
        print(f"jaxloss: failed: {type(err).__name__}: {err} "
              "(set JAXLOSS_TRACEBACK=1 for the traceback)", file=sys.stderr)  # fmt: skip
        return 1
    return 0
