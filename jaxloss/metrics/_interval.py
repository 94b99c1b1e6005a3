"""Streaming metrics of prediction intervals: coverage, width and the interval score."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from .. import _contract
from .._losses import _interval_score
from . import _common
from . import _compensated as cf
from ._common import Pair

_NAME = "metrics.Interval"


def _check_alpha(alpha: object) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0 < alpha < 1:
        raise ValueError(
            f"jaxloss.{_NAME}.empty: alpha={alpha!r}; expected the intervals' nominal "
            "miscoverage, a Python number in (0, 1) (0.1 for 90% intervals)."
        )
    return float(alpha)


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Interval(_common.Accumulator):
    """Streaming metrics of central ``(1 − α)`` prediction intervals ``[l, u]``.

    With weights ``w`` and ``W = Σ w``, per output:

    .. math::
      \\mathrm{coverage} = \\frac{Σ w\\, 1\\{l ≤ t ≤ u\\}}{W}, \\quad
      \\mathrm{mean\\_width} = \\frac{Σ w (u − l)}{W}, \\quad
      \\mathrm{IS} = \\frac{1}{W} Σ w \\left[(u − l) + \\tfrac{2}{α}(l − t)^+
        + \\tfrac{2}{α}(t − u)^+\\right]

    plus the fractions ``below`` (``t < l``) and ``above`` (``t > u``), which show whether
    a miscoverage is one-sided. Well-calibrated intervals have ``coverage ≈ 1 − α``; the
    interval (Winkler) score is :func:`jaxloss.interval_score`'s mean, a proper score
    rewarding narrow intervals that still cover. Exact on any split and merge order (to
    rounding; totals are double-floats).

    Attributes:
      alpha: the nominal miscoverage (static).
      weight: ``W`` per output, as a double-float ``(hi, lo)``.
      covered: ``Σ w 1{l ≤ t ≤ u}`` (double-float).
      below: ``Σ w 1{t < l}`` (double-float).
      above: ``Σ w 1{t > u}`` (double-float).
      width: ``Σ w (u − l)`` (double-float).
      score: ``Σ w IS(l, u, t)`` (double-float).

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxloss import metrics
      >>> lower, upper = jnp.array([0.0, 0.0]), jnp.array([1.0, 1.0])
      >>> state = metrics.Interval.empty(alpha=0.1).update(lower, upper, jnp.array([0.5, 1.5]))
      >>> {k: round(float(v), 4) for k, v in state.compute().items()}
      {'coverage': 0.5, 'below': 0.0, 'above': 0.5, 'mean_width': 1.0, \
'interval_score': 6.0, 'count': 2.0}
    """

    alpha: float = dataclasses.field(metadata={"static": True})
    weight: Pair
    covered: Pair
    below: Pair
    above: Pair
    width: Pair
    score: Pair

    @classmethod
    def empty(cls, *, alpha: float, shape: tuple[int, ...] = ()) -> Interval:
        """An accumulator with no samples yet.

        Args:
          alpha: the intervals' nominal miscoverage in ``(0, 1)`` (``0.1`` for 90%).
          shape: one target's output shape (``()`` for a scalar target).

        Returns:
          The empty state; :meth:`compute` on it gives NaN and a count of 0.

        Example:
          >>> from jaxloss import metrics
          >>> metrics.Interval.empty(alpha=0.05, shape=(3,)).shape
          (3,)
        """
        shape = tuple(int(d) for d in shape)
        zeros = cf.zeros(shape)
        return cls(_check_alpha(alpha), zeros, zeros, zeros, zeros, zeros, zeros)

    @property
    def shape(self) -> tuple[int, ...]:
        """One target's output shape (under ``jax.vmap``, without the mapped axis)."""
        return self.weight[0].shape

    def update(
        self,
        lower: ArrayLike,
        upper: ArrayLike,
        targets: ArrayLike,
        *,
        weights: ArrayLike | None = None,
        where: ArrayLike | None = None,
    ) -> Interval:
        """Adds a batch of intervals and returns the new state (``self`` is unchanged).

        Args:
          lower: the lower bounds, shape ``(B, *shape)``.
          upper: the upper bounds, the same shape.
          targets: the observations, the same shape (nothing is broadcast).
          weights: sample weights ``>= 0`` (a scalar, the full shape or a leading prefix).
          where: boolean mask; ``False`` excludes an entry even if it holds NaN.

        Returns:
          The state with the batch included.

        Example:
          >>> import jax.numpy as jnp
          >>> from jaxloss import metrics
          >>> s = metrics.Interval.empty(alpha=0.5)
          >>> s = s.update(jnp.zeros(4), jnp.ones(4), jnp.array([0.0, 0.5, 1.0, 2.0]))
          >>> print(s.compute()["coverage"])
          0.75
        """
        name = f"{_NAME}.update"
        shapes = [jnp.shape(a) for a in (lower, upper, targets)]
        if len(set(shapes)) != 1:
            raise ValueError(
                f"jaxloss.{name}: lower {shapes[0]}, upper {shapes[1]} and targets "
                f"{shapes[2]} must share one shape; jaxloss never broadcasts them."
            )
        batch = _common.read_batch(
            name, lower, targets, weights=weights, where=where, shape=self.shape,
            params={"upper": upper},
        )  # fmt: skip
        lo, t, w = batch.predictions, batch.targets, batch.weights
        up = batch.params["upper"]
        counted = w > 0

        def total(x: jax.Array) -> Pair:
            return _common.pair(jnp.sum(jnp.where(counted, w * x, 0.0), axis=0))

        return self.merge(
            Interval(
                alpha=self.alpha,
                weight=_common.pair(jnp.sum(w, axis=0)),
                covered=total(((lo <= t) & (t <= up)).astype(jnp.float32)),
                below=total((t < lo).astype(jnp.float32)),
                above=total((t > up).astype(jnp.float32)),
                width=total(up - lo),
                score=total(_interval_score(lo, t, up, jnp.float32(self.alpha))),
            )
        )

    def merge(self, other: Interval) -> Interval:
        """Combines two states as if their samples had been added to one (any order).

        Args:
          other: a state of the same ``alpha`` and output shape.

        Returns:
          The merged state.

        Example:
          >>> import jax.numpy as jnp
          >>> from jaxloss import metrics
          >>> a = metrics.Interval.empty(alpha=0.1).update(jnp.zeros(1), jnp.ones(1), jnp.ones(1))
          >>> b = metrics.Interval.empty(alpha=0.1).update(jnp.zeros(1), jnp.ones(1), -jnp.ones(1))
          >>> print(a.merge(b).compute()["coverage"])
          0.5
        """
        name = f"{_NAME}.merge"
        _common.check_mergeable(name, self, other)
        if other.alpha != self.alpha:
            raise ValueError(
                f"jaxloss.{name}: states of alpha {self.alpha} and {other.alpha} score "
                "different intervals and cannot be merged."
            )
        fields = ("weight", "covered", "below", "above", "width", "score")
        merged = {f: cf.add_pairs(getattr(self, f), getattr(other, f)) for f in fields}
        return Interval(alpha=self.alpha, **merged)

    def compute(self, multioutput: str | ArrayLike = "uniform_average") -> dict[str, jax.Array]:
        """The interval metrics of everything added so far.

        Args:
          multioutput: ``"raw_values"`` (one value per output), ``"uniform_average"`` or an
            array of output weights of the state's shape.

        Returns:
          A dict of float32 arrays: ``coverage``, ``below``, ``above``, ``mean_width``,
          ``interval_score`` and ``count`` (the total weight). No samples: NaN and 0.

        Example:
          >>> import jax.numpy as jnp
          >>> from jaxloss import metrics
          >>> s = metrics.Interval.empty(alpha=0.2, shape=(2,))
          >>> s = s.update(jnp.zeros((1, 2)), jnp.ones((1, 2)), jnp.array([[0.5, 2.0]]))
          >>> print(s.compute("raw_values")["interval_score"])  # 1 + (2/0.2)·1
          [ 1. 11.]
        """
        weight = cf.value(self.weight)

        def mean(total: Pair) -> jax.Array:
            return jnp.where(weight > 0, _contract.safe_divide(cf.value(total), weight), jnp.nan)

        raw = {
            "coverage": mean(self.covered),
            "below": mean(self.below),
            "above": mean(self.above),
            "mean_width": mean(self.width),
            "interval_score": mean(self.score),
            "count": weight,
        }
        return _common.combine_outputs(f"{_NAME}.compute", raw, multioutput, self.shape)
