"""The streaming weighted mean of any jaxloss loss: one accumulator for every elementwise loss.

A loss evaluated with ``reduction="none"`` gives one value per target; the metric is their
weighted mean. Only the loss and its fixed hyperparameters (static: they select the metric)
live in the accumulator; per-sample operands (a predicted variance, a scale per row) come
with each batch.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Hashable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from .. import _contract, _losses
from . import _common
from . import _compensated as cf
from ._common import Pair

_NAME = "metrics.LossMean"
_NOT_A_MEAN = {
    "rmse": "the root of a mean is not a mean of per-sample values; use "
    "metrics.Regression, whose compute() has 'rmse'",
}
_RESERVED = ("predictions", "targets", "weights", "where", "axis", "reduction")


def _resolve(loss: str | Callable[..., jax.Array]) -> Callable[..., jax.Array]:
    name = loss if isinstance(loss, str) else getattr(loss, "__name__", repr(loss))
    if name in _NOT_A_MEAN:
        raise ValueError(f"jaxloss.{_NAME}.empty: loss {name!r}: {_NOT_A_MEAN[name]}.")
    if isinstance(loss, str):
        if loss not in _losses.NAMES:
            valid = ", ".join(n for n in _losses.NAMES if n not in _NOT_A_MEAN)
            raise ValueError(f"jaxloss.{_NAME}.empty: loss={loss!r} is not one of {valid}.")
        return getattr(_losses, loss)
    if not callable(loss):
        raise TypeError(
            f"jaxloss.{_NAME}.empty: loss must be a jaxloss loss or its name, got "
            f"{type(loss).__name__}."
        )
    return loss


def _check_options(loss: Callable[..., jax.Array], options: dict[str, Any]) -> None:
    name = getattr(loss, "__name__", "loss")
    try:
        parameters: Mapping[str, inspect.Parameter] = inspect.signature(loss).parameters
    except (TypeError, ValueError):  # a builtin or C callable: nothing to check against
        parameters = {}
    for key, value in options.items():
        if key in _RESERVED:
            raise ValueError(
                f"jaxloss.{_NAME}.empty: {key}= is not a loss option; weights and where go "
                "to update(), and the metric always reduces over the samples itself."
            )
        if parameters and key not in parameters:
            raise TypeError(
                f"jaxloss.{_NAME}.empty: {name} has no keyword argument {key!r}; it takes "
                f"{', '.join(k for k in parameters if k not in _RESERVED)}."
            )
        if not isinstance(value, Hashable) or isinstance(value, jax.Array):
            raise TypeError(
                f"jaxloss.{_NAME}.empty: {key}={type(value).__name__} must be a Python "
                "number, string or bool (it is fixed for the metric's life); pass arrays, "
                f"such as one value per sample, to update(..., {key}=...)."
            )


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class LossMean(_common.Accumulator):
    """The streaming weighted mean of a jaxloss loss: one mergeable accumulator for all.

    For a loss ``ℓ`` with fixed hyperparameters, weights ``w`` and ``W = Σ w``:

    .. math::
      \\bar ℓ = \\frac{Σ w\\, ℓ(p, t)}{W}

    per output, equal to the loss with ``reduction="mean"`` over the concatenated data for
    any split and merge order (to rounding; totals are double-floats). Works for every
    elementwise loss in :data:`jaxloss.NAMES` except ``rmse`` (a root of a mean: use
    :class:`Regression`): e.g. MAPE, MSLE, pinball at a quantile, log-cosh, CRPS, the
    NLLs. Predictions may have the loss's own layout (``crps_ensemble``'s member axis);
    ``weights`` and ``where`` follow the loss's contract for ``targets``' shape.

    Attributes:
      loss: the loss function (static).
      options: its fixed keyword arguments as sorted ``(name, value)`` pairs (static).
      weight: ``W`` per output, as a double-float ``(hi, lo)``.
      total: ``Σ w ℓ`` per output (double-float).

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxloss
      >>> from jaxloss import metrics
      >>> state = metrics.LossMean.empty(jaxloss.pinball, quantile=0.9)
      >>> state = state.update(jnp.array([0.0, 0.0]), jnp.array([1.0, -1.0]))
      >>> {k: round(float(v), 4) for k, v in state.compute().items()}  # (0.9 + 0.1) / 2
      {'pinball': 0.5, 'count': 2.0}
    """

    loss: Callable[..., jax.Array] = dataclasses.field(metadata={"static": True})
    options: tuple[tuple[str, Any], ...] = dataclasses.field(metadata={"static": True})
    weight: Pair
    total: Pair

    @classmethod
    def empty(
        cls,
        loss: str | Callable[..., jax.Array],
        *,
        shape: tuple[int, ...] = (),
        **options: Any,
    ) -> LossMean:
        """An accumulator with no samples yet.

        Args:
          loss: a jaxloss loss (``jaxloss.mape``) or its name (``"mape"``); any function
            with the losses' contract (``where=``, ``reduction="none"`` giving one value
            per target) works.
          shape: one target's output shape (``()`` for a scalar target).
          **options: the loss's fixed keyword arguments (``quantile=0.9``, ``delta=1.0``):
            Python numbers, strings or bools.

        Returns:
          The empty state; :meth:`compute` on it gives NaN and a count of 0.

        Example:
          >>> from jaxloss import metrics
          >>> metrics.LossMean.empty("huber", delta=0.5).name
          'huber'
        """
        fn = _resolve(loss)
        _check_options(fn, options)
        shape = tuple(int(d) for d in shape)
        return cls(
            loss=fn,
            options=tuple(sorted(options.items())),
            weight=cf.zeros(shape),
            total=cf.zeros(shape),
        )

    @property
    def name(self) -> str:
        """The loss's name: the key of its mean in :meth:`compute`."""
        return getattr(self.loss, "__name__", "loss")

    @property
    def shape(self) -> tuple[int, ...]:
        """One target's output shape (under ``jax.vmap``, without the mapped axis)."""
        return self.weight[0].shape

    def update(
        self,
        predictions: ArrayLike,
        targets: ArrayLike,
        *,
        weights: ArrayLike | None = None,
        where: ArrayLike | None = None,
        **operands: ArrayLike,
    ) -> LossMean:
        """Adds a batch and returns the new state (``self`` is unchanged).

        Args:
          predictions: what the loss takes as predictions for a batch of targets.
          targets: shape ``(B, *shape)``: the leading axis holds the samples.
          weights: sample weights ``>= 0`` for ``targets``' shape (a scalar, the full shape
            or a leading prefix).
          where: boolean mask for ``targets``' shape; ``False`` excludes an entry even if it
            holds NaN.
          **operands: per-batch arrays the loss takes (``variance=`` for ``gaussian_nll``,
            ``scale=`` per sample).

        Returns:
          The state with the batch included.

        Example:
          >>> import jax.numpy as jnp
          >>> from jaxloss import metrics
          >>> s = metrics.LossMean.empty("gaussian_nll")
          >>> s = s.update(jnp.zeros(2), jnp.ones(2), variance=jnp.ones(2))
          >>> print(round(float(s.compute()["gaussian_nll"]), 4))  # ½(log 1 + 1²/1)
          0.5
        """
        name = f"{_NAME}.update"
        clash = sorted(set(operands) & {k for k, _ in self.options})
        if clash:
            raise ValueError(
                f"jaxloss.{name}: {', '.join(clash)} was fixed in LossMean.empty(); an "
                "operand passed to update() would silently replace it."
            )
        t = jnp.asarray(targets)
        if t.ndim == 0 or t.shape[1:] != self.shape:
            raise ValueError(
                f"jaxloss.{name}: targets have shape {t.shape}, so one sample has shape "
                f"{t.shape[1:]}; this accumulator expects samples of shape {self.shape} "
                f"(LossMean.empty(..., shape={self.shape})) along a leading batch axis."
            )
        values = self.loss(
            predictions, targets, weights=weights, where=where, reduction="none",
            **dict(self.options), **operands,
        )  # fmt: skip
        w = _common.sample_weights(name, weights, where, t.shape)
        weighted = jnp.where(w > 0, values.astype(jnp.float32), 0.0)  # already × w
        return self.merge(
            dataclasses.replace(
                self,
                weight=_common.pair(jnp.sum(w, axis=0)),
                total=_common.pair(jnp.sum(weighted, axis=0)),
            )
        )

    def merge(self, other: LossMean) -> LossMean:
        """Combines two states as if their samples had been added to one (any order).

        Args:
          other: a state of the same loss, options and output shape.

        Returns:
          The merged state.

        Example:
          >>> import jax.numpy as jnp
          >>> from jaxloss import metrics
          >>> a = metrics.LossMean.empty("mae").update(jnp.ones(3), jnp.zeros(3))
          >>> b = metrics.LossMean.empty("mae").update(jnp.zeros(1), jnp.zeros(1))
          >>> print(a.merge(b).compute()["mae"])
          0.75
        """
        name = f"{_NAME}.merge"
        _common.check_mergeable(name, self, other)
        if (other.loss, other.options) != (self.loss, self.options):
            raise ValueError(
                f"jaxloss.{name}: states of {self.name}{dict(self.options)} and "
                f"{other.name}{dict(other.options)} measure different losses."
            )
        return dataclasses.replace(
            self,
            weight=cf.add_pairs(self.weight, other.weight),
            total=cf.add_pairs(self.total, other.total),
        )

    def compute(self, multioutput: str | ArrayLike = "uniform_average") -> dict[str, jax.Array]:
        """The weighted mean loss of everything added so far.

        Args:
          multioutput: ``"raw_values"`` (one value per output), ``"uniform_average"`` or an
            array of output weights of the state's shape.

        Returns:
          A dict of float32 arrays: the mean under the loss's name (``"mape"``) and
          ``count`` (the total weight). No samples: NaN and a count of 0.

        Example:
          >>> import jax.numpy as jnp
          >>> from jaxloss import metrics
          >>> s = metrics.LossMean.empty("msle", shape=(2,))
          >>> s = s.update(jnp.array([[0.0, 1.0]]), jnp.array([[0.0, 0.0]]))
          >>> print(s.compute("raw_values")["msle"])  # log(2)² for the second output
          [0.       0.480453]
        """
        weight = cf.value(self.weight)
        mean = _contract.safe_divide(cf.value(self.total), weight)
        raw = {self.name: jnp.where(weight > 0, mean, jnp.nan), "count": weight}
        return _common.combine_outputs(f"{_NAME}.compute", raw, multioutput, self.shape)
