"""The problem a command solves: standardised splits, the model, its loss and training."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from ._args import (
    _RAW_TARGET_LOSSES,
    LOSS_NAMES,
    UsageError,
    check_loss_values,
    parse_loss_args,
)
from ._table import bundled_table, file_hash, read_table


def _models() -> dict[str, tuple[Callable[..., Any], Callable[..., Any]]]:
    """The models the command line offers: name -> (init(key, features, hidden), apply)."""
    from .. import models

    return {
        "linear": (lambda key, features, hidden: models.linear_init(key, features),
                   models.linear_apply),
        "mlp": (lambda key, features, hidden: models.mlp_init(key, features, hidden=hidden),
                models.mlp_apply),
    }  # fmt: skip


MODELS = ("linear", "mlp")


def model_init(model: str, key: Any, features: int, hidden: Sequence[int]) -> Any:
    return _models()[model][0](key, features, tuple(hidden))


def model_apply(model: str) -> Callable[..., Any]:
    return _models()[model][1]


def target_units(out: Any, link: str, offset: float, y_std: float, y_mean: float) -> Any:
    """A network output as a prediction in target units, ``link(out [+ offset]) · y_std +
    y_mean`` (see ``Problem.link``), op by op in this order wherever a prediction is made,
    so the saved model reproduces the reported held-out metrics to the bit (fused under jit,
    ``· y_std + y_mean`` may become an FMA and change the last bit)."""
    import jax.numpy as jnp

    if link == "exp":
        out = jnp.exp(out)
    elif link == "expm1":
        out = jnp.expm1(out + offset)
    out = out * y_std
    return out + y_mean


class Fitted(NamedTuple):
    """A fit made of pieces: the parameters, the history rows, the step it diverged at."""

    params: Any
    history: dict[str, np.ndarray]
    diverged_at: int


class Problem:
    """Standardised train / validation / test splits and everything a run needs.

    ``fit`` uses train and test rows; ``sweep`` also holds out validation rows, on which it
    ranks the configurations, so that the test rows only report on the chosen one.
    """

    def __init__(self, args: argparse.Namespace):
        if args.data is None:
            table = bundled_table(args.target, args.features)
        else:
            table = read_table(
                args.data, args.target, args.features, drop=getattr(args, "drop", ()),
                missing=getattr(args, "missing", "error"),
                max_categories=getattr(args, "max_categories", 50),
            )  # fmt: skip
        assert table.y is not None
        x, y, names, target, source = table.x, table.y, table.names, table.target, table.source
        self.table = table
        self.data_sha256 = file_hash(args.data)
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
        if not (0 < args.learning_rate < math.inf):
            raise UsageError(f"--learning-rate {args.learning_rate}: must be > 0 and finite")
        self.loss_args, required = parse_loss_args(args.loss, args.loss_arg)
        if args.loss == "tweedie_deviance":
            # A network's natural output for a Tweedie mean is its log (any real number).
            self.loss_args.setdefault("log_input", True)
        if self.loss_args and all(k in self.loss_args for k in required):
            check_loss_values("--loss-arg", args.loss, self.loss_args)
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
        # --missing mean: every missing cell takes its column's mean over the training rows
        # (for a category's 0/1 columns, its frequency), so no held-out row informs the fill.
        self.fill = np.nanmean(x_train, axis=0) if np.isnan(x_train).any() else None
        if self.fill is not None:
            if np.isnan(self.fill).any():
                column = names[int(np.argmax(np.isnan(self.fill)))]
                raise UsageError(f"--missing mean: column {column!r} has no value in the "
                                 "training rows to take the mean of")  # fmt: skip
            x = np.where(np.isnan(x), self.fill, x).astype(np.float32)
            x_train = x[self.train_index]
        self.x_mean, self.x_std = x_train.mean(0), np.where(x_train.std(0) > 0, x_train.std(0), 1)
        self.raw_targets = args.loss in _RAW_TARGET_LOSSES
        y_train = y[self.train_index]
        self.y_mean = 0.0 if self.raw_targets else float(y_train.mean())
        self.y_std = float(y_train.std() or 1.0)
        if self.raw_targets:
            # No shift: these losses need the target's zero. A scale the loss cannot see
            # (MAPE is scale-free; a Poisson fit of y/s is s times smaller) brings the
            # target near 1, where the default learning rate suits it; MSLE has its log link.
            mean = float(y_train.mean())
            scales = {"mape": float(np.mean(np.abs(y_train))), "poisson_nll": mean,
                      "tweedie_deviance": mean}  # fmt: skip
            self.y_std = scales.get(args.loss, 1.0) or 1.0
        # MSLE's model fits log1p(y) around its training mean, as if its output bias started
        # there (from 0, adam at the default rate spent most of 1000 steps getting there).
        self.offset = float(np.mean(np.log1p(y_train))) if args.loss == "msle" else 0.0
        xs = ((x - self.x_mean) / self.x_std).astype(np.float32)
        ys = ((y - self.y_mean) / self.y_std).astype(np.float32)
        self.train = (xs[self.train_index], ys[self.train_index])
        self.validation = (xs[self.validation_index], ys[self.validation_index])
        self.test = (xs[self.test_index], ys[self.test_index])
        self.y_validation = y[self.validation_index]
        self.y_test = y[self.test_index]

    def init(self, key):
        return model_init(self.args.model, key, self.train[0].shape[1], self.args.hidden)

    def apply(self, params, x):
        return model_apply(self.args.model)(params, x)

    def optimizer(self, learning_rate):
        import optax

        return {"adam": optax.adam, "adamw": optax.adamw, "sgd": optax.sgd}[self.args.optimizer](
            learning_rate
        )

    def objective(self, hyper: dict[str, Any]):
        import jax.numpy as jnp

        import jaxloss

        loss = getattr(jaxloss, self.args.loss)
        msle_link, offset = self.link == "expm1", self.offset

        def objective(params, batch):
            out = self.apply(params, batch[0])
            return loss(jnp.expm1(out + offset) if msle_link else out, batch[1], **hyper)

        return objective

    def fit(self, learning_rate, seed, hyper: dict[str, Any], progress: bool | str):
        import jax

        from .. import train

        key = jax.random.key(seed)
        return train.fit(
            self.objective(hyper), self.init(key), self.optimizer(learning_rate), self.train,
            num_steps=self.args.steps, batch_size=self.batch_size,
            key=jax.random.fold_in(key, 1), log_every=max(self.args.steps // 50, 1),
            progress=progress,
        )  # fmt: skip

    def fit_in_pieces(
        self, learning_rate: float, seed: int, hyper: dict[str, Any], report: Callable[..., None]
    ) -> Fitted:
        """:meth:`fit` as about ten continued pieces of whole history chunks (each the same
        compiled program, continuing the last state: ``fit(n)`` then ``fit(m)`` is
        ``fit(n + m)``), so that Ctrl-C and progress act between pieces."""
        import jax

        from .. import train
        from . import _interrupt

        steps = self.args.steps
        log_every = max(steps // 50, 1)
        piece = log_every * max(1, math.ceil(math.ceil(steps / log_every) / 10))
        key = jax.random.key(seed)
        objective, optimizer = self.objective(hyper), self.optimizer(learning_rate)
        state: Any = self.init(key)
        histories, done, diverged = [], 0, -1
        while done < steps:
            n = min(piece, steps - done)
            result = train.fit(
                objective, state, optimizer, self.train, num_steps=n,
                batch_size=self.batch_size, key=jax.random.fold_in(key, 1),
                log_every=min(log_every, n), progress=False,
            )  # fmt: skip
            state, done = result.state, done + n
            histories.append({k: np.asarray(v) for k, v in result.history.items()})
            if int(result.diverged_at) >= 0:
                diverged = int(result.diverged_at)
                params = result.params
                break
            params = result.params
            report(done, steps, float(histories[-1]["loss"][-1]))
            _interrupt.check()
        history = {k: np.concatenate([h[k] for h in histories]) for k in histories[0]}
        return Fitted(params, history, diverged)

    @property
    def link(self) -> str:
        """How the network's output becomes a prediction (before the target's scale):
        ``exp`` for a Poisson rate fitted on the log scale (``poisson_nll`` with
        ``log_input``), ``expm1`` for MSLE (the model fits ``log1p`` of the target, where
        MSLE is a squared error), else ``identity``."""
        if self.args.loss in ("poisson_nll", "tweedie_deviance") and self.loss_args.get(
            "log_input", True
        ):
            return "exp"
        if self.args.loss == "msle":
            return "expm1"
        return "identity"

    def predict_original_units(self, params, x):
        return target_units(self.apply(params, x), self.link, self.offset, self.y_std,
                            self.y_mean)  # fmt: skip

    def held_out(self, predictions) -> dict[str, float]:
        return {k: float(v) for k, v in held_out_metrics(predictions, self.y_test).items()}

    def baseline(self) -> dict[str, float]:
        from .. import baselines

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
            "link": self.link, "missing": getattr(a, "missing", "error"),
            "dropped_rows": self.table.dropped_rows,
            "columns": [c.describe() for c in self.table.columns],
        }  # fmt: skip


HELD_OUT = ("mse", "rmse", "mae", "r2", "pearson", "ccc")


def held_out_metrics(predictions: Any, targets: Any) -> dict[str, Any]:
    """MSE, RMSE, MAE, R², Pearson and concordance correlation of predictions in the target's
    units (jittable)."""
    from .. import metrics

    computed = metrics.Regression.empty().update(predictions, targets).compute()
    return {k: computed[k] for k in HELD_OUT}
