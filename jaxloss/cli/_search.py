"""``jaxloss sweep --scheduler halving|pbt``: searches that stop or copy runs."""

from __future__ import annotations

import math
import pathlib
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ._sweep import SweepSetup
from .._io import write_csv
from . import _interrupt, _model
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
from ._plots import _plot_pbt, plot_predictions
from ._problem import HELD_OUT


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


def _chosen_params(states: Any, row: int) -> Any:
    import jax

    return jax.tree.map(lambda leaf: leaf[row], states.params)


def _chosen_predictions(setup: SweepSetup, states: Any, row: int) -> np.ndarray:
    params = _chosen_params(states, row)
    return np.asarray(setup.problem.predict_original_units(params, setup.problem.test[0]))


def _halving(setup: SweepSetup, devices: list, checkpoint: pathlib.Path | None,
             output: Output | None) -> dict | None:  # fmt: skip
    """``--scheduler halving``: successive halving on the validation metric, with its audit."""
    import warnings

    from .. import sweep

    args = setup.args
    ranked_by = f"validation_{setup.metric}"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        result = sweep.halving(
            setup.trainer(), setup.grid, metric=ranked_by, min_steps=args.min_steps,
            max_steps=args.steps, eta=args.eta, mode=setup.mode, audit=args.audit,
            audit_seed=args.seed, chunk_size=args.chunk_size, devices=devices,
            checkpoint_dir=checkpoint, progress=stopping_reporter(args, "rungs"),
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
    _interrupt.check()  # a Ctrl-C during the search: stop here, write nothing
    with output as folder:
        write_json(folder / "results.json", document)
        result.to_json(folder / "halving.json")
        write_csv(folder / "results.csv", result.records())
        _model.save(folder / "model", setup.problem, _chosen_params(result.states, row))
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
    from .. import sweep

    args = setup.args
    ranked_by = f"validation_{setup.metric}"
    generations = args.steps // args.interval
    population = setup.grid
    assert isinstance(population, sweep.Random)  # _check_scheduler refused a grid
    result = sweep.pbt(
        setup.trainer(), population, metric=ranked_by, interval=args.interval,
        generations=generations, mode=setup.mode, fraction=args.fraction,
        resample_probability=args.resample_probability, seed=args.seed, devices=devices,
        checkpoint_dir=checkpoint, progress=stopping_reporter(args, "generations"),
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
    _interrupt.check()  # a Ctrl-C during the search: stop here, write nothing
    with output as folder:
        write_json(folder / "results.json", document)
        result.to_json(folder / "pbt.json")
        write_csv(folder / "results.csv", result.records())
        _model.save(folder / "model", setup.problem, _chosen_params(result.states, member))
        if have_matplotlib():
            _plot_pbt(folder / f"{ranked_by}_over_generations.png", result, ranked_by)
            plot_predictions(folder / "predictions.png", setup.problem.y_test,
                             _chosen_predictions(setup, result.states, member),
                             "chosen member on test rows")  # fmt: skip
    return _report(lines, output, document)
