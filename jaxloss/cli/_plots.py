"""The figures the commands write (plain matplotlib Figures: no pyplot state)."""

from __future__ import annotations

import pathlib
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ._sweep import SweepSetup


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
    # A likelihood can go negative: a log axis would drop those points; "symlog" keeps them
    # while still spreading a loss that falls over decades.
    losses = np.asarray(history["loss"])[ran]
    positive = losses[np.isfinite(losses)]
    ax.set_yscale("log" if positive.size and positive.min() > 0 else "symlog")
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
