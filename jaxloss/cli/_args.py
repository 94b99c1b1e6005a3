"""Flags and their parsing: the losses the command line offers, --loss-arg, --grid and --space."""

from __future__ import annotations

import argparse
import inspect
import math
from collections.abc import Sequence
from typing import Any

from .. import _losses

# These losses need targets in their own units (log scale, percentages, counts).
_RAW_TARGET_LOSSES = ("msle", "mape", "poisson_nll", "tweedie_deviance")
# Hyperparameters that select a loss's family (Python numbers, never traced): fixed with
# --loss-arg, not swept.
_STATIC = {"tweedie_deviance": ("power",)}


_CONTRACT = ("predictions", "targets", "weights", "where", "axis", "reduction")


OPTIMIZERS = ("adam", "adamw", "sgd")


# Every loss but those a table of features and one target cannot feed: gaussian_nll and
# beta_nll take a per-sample variance, crps_ensemble an ensemble of predictions.
_NOT_ON_THE_COMMAND_LINE = ("gaussian_nll", "beta_nll", "crps_ensemble")


LOSS_NAMES = tuple(name for name in _losses.NAMES if name not in _NOT_ON_THE_COMMAND_LINE)


class UsageError(Exception):
    """Bad input: reported on one line with exit code 2, before anything is written."""


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


def check_loss_values(flag: str, loss: str, values: dict[str, Any]) -> None:
    """The loss's own domain checks (``delta > 0``, ``quantile`` in [0, 1], ...) on these
    values, before any training: one call on a single dummy sample."""
    import jax.numpy as jnp

    import jaxloss

    try:
        getattr(jaxloss, loss)(jnp.ones(1), jnp.ones(1), **values)
    except (ValueError, TypeError) as err:
        message = str(err).removeprefix(f"jaxloss.{loss}: ")
        raise UsageError(f"{flag}: {message}") from None


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
        k
        for k, p in loss_hyperparameters(loss).items()
        if not isinstance(p.default, bool) and k not in _STATIC.get(loss, ())
    ]


_SPACE_KINDS = ("uniform", "loguniform", "int", "choice")


def parse_space(items: Sequence[str], loss: str) -> dict[str, Any]:
    """``--space NAME=KIND:...`` items as sweep distributions (UsageError naming the item)."""
    from .. import sweep

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


def _at_least_one(text: str) -> int:
    """An argparse type: an int >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text}: must be >= 1")
    return value


def _hidden(text: str) -> tuple[int, ...]:
    try:
        widths = tuple(int(w) for w in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: widths like 64,64") from None
    if not widths or min(widths) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: widths must be >= 1")
    return widths
