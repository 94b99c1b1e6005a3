"""``jaxloss sweep`` and ``jaxloss collect``: a grid or a sampled space × seeds, vmapped."""

from __future__ import annotations

import argparse
import json
import pathlib
from typing import Any

import numpy as np

from .._io import record_json
from . import _model
from ._args import UsageError, check_loss_values, parse_grid, parse_space
from ._output import (
    Output,
    _label,
    _loss_text,
    _report,
    environment,
    have_matplotlib,
    stopping_reporter,
    write_json,
)
from ._plots import _plot_sweep
from ._problem import HELD_OUT, Problem, held_out_metrics
from ._search import _halving, _pbt, _space_text

# Losses whose minimiser is not the conditional mean: by default a sweep ranks them by their
# own objective on the validation rows, not by MSE (a pinball sweep ranked by MSE "picks"
# the median).
_RANKED_BY_OWN_LOSS = ("mae", "pinball", "expectile", "mape", "msle", "poisson_nll",
                       "laplace_nll", "student_t_nll", "crps_normal",
                       "tweedie_deviance")  # fmt: skip


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
        for rate in axes.get("learning_rate", []):
            if rate <= 0:
                raise UsageError(f"--grid learning_rate={rate:g}: must be > 0")
        # Every grid value through the loss's own checks, the other axes at their first value.
        first = {k: v[0] for k, v in axes.items() if k != "learning_rate"}
        for key, values in axes.items():
            for value in values if key != "learning_rate" else []:
                check_loss_values(f"--grid {key}={value:g}", args.loss,
                                  {**problem.loss_args, **first, key: value})  # fmt: skip
        self.metric = _ranking_metric(args, swept)
        self.mode = "max" if self.metric in _MAXIMISED else "min"
        if "learning_rate" not in swept:
            axes["learning_rate"] = [args.learning_rate]
        from .. import sweep

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

        from .. import sweep, train

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

    from .. import sweep

    if writer:  # before training: what is being run (the report repeats it with the results)
        problem = setup.problem
        print(f"jaxloss sweep: training {_space_text(setup.grid)}, {args.model} model, loss "
              f"{_loss_text(args.loss, problem.loss_args)}, {args.steps} steps"
              + (f", scheduler {args.scheduler}" if args.scheduler != "none" else "")
              + f"; {len(devices)} device(s); results to "
              + str(output.target if output else args.out), flush=True)  # fmt: skip
    if args.scheduler == "halving":
        return _halving(setup, devices, checkpoint, output)
    if args.scheduler == "pbt":
        return _pbt(setup, devices, checkpoint, output)
    kwargs = dict(chunk_size=args.chunk_size, devices=devices, checkpoint_dir=checkpoint,
                  progress=stopping_reporter(args, "runs"))  # fmt: skip
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
    from . import build_parser  # the package's parser: imported late, it imports this module

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
    from .. import sweep

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
    params, saved = _chosen_model(setup, result, best, ranked_by)
    document["saved_model"] = saved
    with output as folder:
        write_json(folder / "results.json", document)
        result.to_csv(folder / "results.csv")
        _model.save(folder / "model", problem, params)
        if have_matplotlib():
            _plot_sweep(folder, result, setup, index)
    lines += ["", f"model of the chosen configuration (its best seed, {saved['seed']}) saved in "
                  f"{output.target / 'model'}: jaxloss predict --model {output.target} "
                  "--data NEW.csv"]  # fmt: skip
    return _report(lines, output, document)


def _chosen_model(setup: SweepSetup, result: Any, best: dict, ranked_by: str) -> tuple[Any, dict]:
    """The chosen configuration's run with its best validation seed, trained again on its
    own (the sweep keeps metrics and predictions, not every run's parameters)."""
    per_seed = np.asarray(result[ranked_by][best["index"]], np.float64).reshape(-1)
    best_seed = np.nanargmax(per_seed) if setup.mode == "max" else np.nanargmin(per_seed)
    config = {k: float(v) for k, v in best["config"].items()}
    learning_rate = config.pop("learning_rate")
    problem = setup.problem
    fitted = problem.fit(learning_rate, int(best_seed), {**problem.loss_args, **config}, False)
    predictions = np.asarray(problem.predict_original_units(fitted.params, problem.test[0]))
    saved = {"config": best["config"], "seed": int(best_seed), "learning_rate": learning_rate,
             "test": problem.held_out(predictions)}  # fmt: skip
    return fitted.params, saved


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
