"""``jaxloss fit``: one model, its held-out metrics and the least-squares baseline."""

from __future__ import annotations

import argparse

import numpy as np

from . import _model
from ._args import UsageError
from ._output import (
    Output,
    _format_metrics,
    _loss_text,
    _report,
    environment,
    have_matplotlib,
    progress_reporter,
    write_json,
)
from ._plots import plot_history, plot_predictions
from ._problem import Problem


def command_fit(args: argparse.Namespace) -> dict:
    problem = Problem(args)
    if problem.required and not all(k in problem.loss_args for k in problem.required):
        raise UsageError(f"--loss {args.loss} needs --loss-arg for: {', '.join(problem.required)}")
    output = Output(args.out)
    import jax

    description = [
        f"jaxloss fit: {problem.source}, target {problem.target!r}, "
        f"{len(problem.train_index)} train / {len(problem.test_index)} test rows",
        f"{args.model} model, loss {_loss_text(args.loss, problem.loss_args)}, {args.optimizer} "
        f"lr={args.learning_rate:g}, {args.steps} steps, device {jax.devices()[0].platform}",
    ]
    if problem.table.dropped_rows:
        description.append(f"dropped {problem.table.dropped_rows} rows with missing cells "
                           f"(--missing {getattr(args, 'missing', 'error')})")  # fmt: skip
    print("\n".join(description), flush=True)  # before training: what is being run
    result = problem.fit_in_pieces(args.learning_rate, args.seed, problem.loss_args,
                                   progress_reporter(args, "fit"))  # fmt: skip
    predictions = np.asarray(problem.predict_original_units(result.params, problem.test[0]))
    model = problem.held_out(predictions)
    baseline = problem.baseline()
    history = result.history
    diverged = result.diverged_at

    lines: list[str] = []
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
        _model.save(folder / "model", problem, result.params)
        if have_matplotlib():
            plot_history(folder / "training_curve.png", history, f"{args.model}, {args.loss}")
            plot_predictions(folder / "predictions.png", problem.y_test, predictions,
                             f"held-out predictions (R² {model['r2']:.3f})")  # fmt: skip
    lines += ["", f"model saved in {output.target / 'model'}: jaxloss predict --model "
                  f"{output.target} --data NEW.csv"]  # fmt: skip
    return _report(lines, output, document)
