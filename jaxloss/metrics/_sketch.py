"""A fixed-size, mergeable sketch of |residual| with relative-error quantiles (DDSketch).

Masson, Rim and Lee (VLDB 2019): with ``γ = (1 + α)/(1 − α)``, bucket ``i`` counts the
values in ``[m·γ^(i−1), m·γ^i)`` and answers every quantile that falls in it with
``2m·γ^i/(1 + γ)``, which is within a relative ``α`` of anything in the bucket. The buckets
are fixed (every normal float32 magnitude), so two sketches merge by adding their counts:
an elementwise sum that is associative, commutative, shardable and ``psum``-able.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from .. import _contract
from . import _common
from . import _compensated as cf
from ._common import Pair

_NAME = "metrics.ErrorQuantiles"
SMALLEST = float(np.finfo(np.float32).tiny)  # 2^-126: the smallest normal float32
_LARGEST = float(np.finfo(np.float32).max)


class _Layout(NamedTuple):
    """The buckets: 0 holds magnitudes below ``SMALLEST`` (zeros and subnormals), 1 to
    ``size − 2`` the normal ones, ``size − 1`` infinities; ``values`` are their estimates,
    computed once in float64 (the same constant on every device and in every program)."""

    log_gamma: float
    values: np.ndarray

    @property
    def size(self) -> int:
        return len(self.values)


@functools.lru_cache
def _layout(relative_accuracy: float) -> _Layout:
    # float32 logs of magnitudes up to e^88 are off by up to ~1e-5, which can put a value
    # one bucket over. Buckets built for a slightly smaller accuracy absorb that, so the
    # stated accuracy holds after rounding.
    inner = 0.99 * relative_accuracy - 2e-5
    log_gamma = math.log1p(2 * inner / (1 - inner))
    normal = math.ceil((math.log(_LARGEST) - math.log(SMALLEST)) / log_gamma) + 1
    # Bucket i covers [m γ^(i−1), m γ^i); its estimate 2 m γ^i / (1 + γ) is within α of both.
    i = np.arange(1, normal + 1, dtype=np.float64)
    log_values = math.log(SMALLEST) + i * log_gamma + math.log(2 / (1 + math.exp(log_gamma)))
    estimates = np.minimum(np.exp(log_values), _LARGEST)
    values = np.concatenate([[0.0], estimates, [np.inf]]).astype(np.float32)
    values.setflags(write=False)
    return _Layout(log_gamma, values)


def _check_accuracy(relative_accuracy: object) -> float:
    if (
        isinstance(relative_accuracy, bool)
        or not isinstance(relative_accuracy, int | float)
        or not 1e-3 <= relative_accuracy <= 0.5
    ):
        raise ValueError(
            f"jaxloss.{_NAME}.empty: relative_accuracy={relative_accuracy!r}; expected a "
            "Python number in [0.001, 0.5] (0.01: every quantile within 1%). The sketch "
            "holds about 180/relative_accuracy buckets per output."
        )
    return float(relative_accuracy)


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class ErrorQuantiles(_common.Accumulator):
    """Quantiles of the absolute error ``|p − t|`` from a fixed-size, mergeable sketch.

    A DDSketch (Masson et al., 2019) with ``γ = (1 + α)/(1 − α)`` for the relative accuracy
    ``α``: bucket ``i ≥ 1`` counts the weight of ``|r|`` in ``[m γ^{i−1}, m γ^i)`` with
    ``m = 2^{−126}`` (the smallest normal float32), and a quantile is answered by its
    bucket's ``2 m γ^i / (1 + γ)``. :meth:`quantile` ``q`` estimates the weighted inverted
    CDF

    .. math::
      Q(q) = \\min\\{x : Σ_{|r_j| ≤ x} w_j ≥ q W\\}

    (NumPy's ``quantile(..., method="inverted_cdf", weights=w)``) with

    .. math::
      |\\hat Q(q) − Q(q)| ≤ α\\, Q(q) \\quad\\text{whenever } Q(q) ≥ 2^{−126},

    and exactly ``0`` (or the smallest value seen) below it, for any data, split and merge
    order, up to float32 rounding of ``q·W``. The state has a fixed size (about
    ``180/α`` bucket totals per output: 9,000 at 1%) however many samples it has seen; two
    states merge by adding their buckets, so partial sketches from batches, devices or
    hosts combine exactly. Bucket totals are double-floats (counts exact to 2^48). The
    exact minimum and maximum are kept too, and clamp every estimate.

    Attributes:
      relative_accuracy: ``α`` (static).
      counts: the weight per bucket, shape ``(*shape, buckets)``, as a double-float.
      weight: ``W`` per output (double-float).
      nan_weight: weight of NaN residuals (any makes every quantile NaN).
      smallest: the smallest ``|r|`` seen with positive weight (``inf`` if none).
      largest: the largest ``|r|`` seen with positive weight (0 if none).

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxloss import metrics
      >>> state = metrics.ErrorQuantiles.empty(relative_accuracy=0.01)
      >>> state = state.update(jnp.arange(1.0, 101.0), jnp.zeros(100))
      >>> median = float(state.compute()["median_absolute_error"])  # the exact one is 50
      >>> abs(median - 50) <= 0.01 * 50
      True
    """

    relative_accuracy: float = dataclasses.field(metadata={"static": True})
    counts: Pair
    weight: Pair
    nan_weight: jax.Array
    smallest: jax.Array
    largest: jax.Array

    @classmethod
    def empty(
        cls, *, relative_accuracy: float = 0.01, shape: tuple[int, ...] = ()
    ) -> ErrorQuantiles:
        """An empty sketch.

        Args:
          relative_accuracy: ``α`` in ``[0.001, 0.5]``: every quantile of a magnitude
            ``>= 2^-126`` is estimated within a relative ``α``.
          shape: one sample's output shape (``()`` for a scalar target).

        Returns:
          The empty state; quantiles of it are NaN and its count is 0.

        Example:
          >>> from jaxloss import metrics
          >>> metrics.ErrorQuantiles.empty(relative_accuracy=0.01).counts[0].shape
          (8913,)
        """
        accuracy = _check_accuracy(relative_accuracy)
        shape = tuple(int(d) for d in shape)
        return cls(
            relative_accuracy=accuracy,
            counts=cf.zeros((*shape, _layout(accuracy).size)),
            weight=cf.zeros(shape),
            nan_weight=jnp.zeros(shape, jnp.float32),
            smallest=jnp.full(shape, jnp.inf, jnp.float32),
            largest=jnp.zeros(shape, jnp.float32),
        )

    @property
    def shape(self) -> tuple[int, ...]:
        """One sample's output shape (under ``jax.vmap``, without the mapped axis)."""
        return self.largest.shape

    def _bucket(self, magnitude: jax.Array) -> jax.Array:
        layout = _layout(self.relative_accuracy)
        safe = jnp.where(magnitude >= SMALLEST, magnitude, SMALLEST)
        position = (jnp.log(safe) - math.log(SMALLEST)) / layout.log_gamma
        normal = jnp.clip(jnp.floor(position).astype(jnp.int32) + 1, 1, layout.size - 2)
        bucket = jnp.where(magnitude >= SMALLEST, normal, 0)
        return jnp.where(jnp.isinf(magnitude), layout.size - 1, bucket)

    def _value(self, bucket: jax.Array) -> jax.Array:
        """The bucket's estimate: 0, ``2 m γ^i/(1 + γ)``, or inf."""
        return jnp.asarray(_layout(self.relative_accuracy).values)[bucket]

    def update(
        self,
        predictions: ArrayLike,
        targets: ArrayLike,
        *,
        weights: ArrayLike | None = None,
        where: ArrayLike | None = None,
    ) -> ErrorQuantiles:
        """Adds a batch's absolute errors and returns the new state (``self`` is unchanged).

        Args:
          predictions: shape ``(B, *shape)``: the leading axis holds the samples.
          targets: the same shape.
          weights: sample weights ``>= 0`` (a scalar, the full shape or a leading prefix).
          where: boolean mask; ``False`` excludes an entry even if it holds NaN.

        Returns:
          The state with the batch included.

        Example:
          >>> import jax.numpy as jnp
          >>> from jaxloss import metrics
          >>> s = metrics.ErrorQuantiles.empty().update(jnp.array([0.0, 3.0]), jnp.zeros(2))
          >>> print(s.quantile(1.0), s.quantile(0.0))  # the exact extremes
          3.0 0.0
        """
        batch = _common.read_batch(
            f"{_NAME}.update", predictions, targets, weights=weights, where=where,
            shape=self.shape,
        )  # fmt: skip
        w = batch.weights
        magnitude = jnp.abs(batch.predictions - batch.targets)
        nan = jnp.isnan(magnitude)
        counted = (w > 0) & ~nan
        size = _layout(self.relative_accuracy).size
        # One flat scatter-add for every output: bucket b of output k lands at k·size + b.
        outputs = math.prod(self.shape)
        flat_bucket = self._bucket(jnp.where(counted, magnitude, 0.0)).reshape(-1, outputs)
        flat_bucket = flat_bucket + size * jnp.arange(outputs, dtype=jnp.int32)[None, :]
        flat_w = jnp.where(counted, w, 0.0).reshape(-1, outputs)
        counts = jnp.zeros(outputs * size, jnp.float32).at[flat_bucket.ravel()].add(flat_w.ravel())
        seen = jnp.where(counted, magnitude, jnp.nan)
        return self.merge(
            ErrorQuantiles(
                relative_accuracy=self.relative_accuracy,
                counts=_common.pair(counts.reshape(*self.shape, size)),
                weight=_common.pair(jnp.sum(jnp.where(counted, w, 0.0), axis=0)),
                nan_weight=jnp.sum(jnp.where(nan, w, 0.0), axis=0),
                smallest=jnp.min(jnp.where(counted, seen, jnp.inf), axis=0, initial=jnp.inf),
                largest=jnp.max(jnp.where(counted, seen, 0.0), axis=0, initial=0.0),
            )
        )

    def merge(self, other: ErrorQuantiles) -> ErrorQuantiles:
        """Adds two sketches' buckets: the sketch of the samples of both (exact, any order).

        Args:
          other: a sketch of the same relative accuracy and output shape.

        Returns:
          The merged state.

        Example:
          >>> import jax.numpy as jnp
          >>> from jaxloss import metrics
          >>> a = metrics.ErrorQuantiles.empty().update(jnp.array([1.0]), jnp.zeros(1))
          >>> b = metrics.ErrorQuantiles.empty().update(jnp.array([9.0]), jnp.zeros(1))
          >>> print(a.merge(b).quantile(1.0))
          9.0
        """
        name = f"{_NAME}.merge"
        _common.check_mergeable(name, self, other)
        if other.relative_accuracy != self.relative_accuracy:
            raise ValueError(
                f"jaxloss.{name}: sketches of relative accuracy {self.relative_accuracy} and "
                f"{other.relative_accuracy} have different buckets and cannot be merged."
            )
        return ErrorQuantiles(
            relative_accuracy=self.relative_accuracy,
            counts=cf.add_pairs(self.counts, other.counts),
            weight=cf.add_pairs(self.weight, other.weight),
            nan_weight=self.nan_weight + other.nan_weight,
            smallest=jnp.minimum(self.smallest, other.smallest),
            largest=jnp.maximum(self.largest, other.largest),
        )

    def quantile(self, q: ArrayLike) -> jax.Array:
        """Estimated quantiles of ``|r|``: the weighted inverted CDF, within the accuracy.

        Args:
          q: a probability in ``[0, 1]``, or an array of them.

        Returns:
          float32 of shape ``(*q.shape, *self.shape)``: ``q = 0`` and ``q = 1`` give the
          exact smallest and largest ``|r|``; NaN without samples or if a NaN residual was
          added.

        Example:
          >>> import jax.numpy as jnp
          >>> from jaxloss import metrics
          >>> s = metrics.ErrorQuantiles.empty().update(jnp.arange(1.0, 11.0), jnp.zeros(10))
          >>> [round(float(x), 2) for x in s.quantile(jnp.array([0.1, 0.5, 0.9]))]
          [1.0, 5.03, 8.93]
        """
        q = jnp.asarray(q, jnp.float32)
        with jax.ensure_compile_time_eval():
            if _contract._is_known(q) and not bool(jnp.all((q >= 0) & (q <= 1))):
                raise ValueError(
                    f"jaxloss.{_NAME}.quantile: q={np.asarray(q).tolist()!r}; expected "
                    "probabilities in [0, 1]."
                )
        return _quantiles(self, q)

    def compute(self, multioutput: str | ArrayLike = "uniform_average") -> dict[str, jax.Array]:
        """Summary quantiles of ``|r|`` of everything added so far.

        Args:
          multioutput: ``"raw_values"`` (one value per output), ``"uniform_average"`` or an
            array of output weights; ``max_error`` is the maximum over outputs.

        Returns:
          A dict of float32 arrays: ``median_absolute_error`` (the 0.5 quantile, estimated
          like :meth:`quantile`), ``q90_absolute_error``, ``q99_absolute_error``,
          ``max_error`` (exact) and ``count`` (the total weight, NaN residuals excluded).

        Example:
          >>> import jax.numpy as jnp
          >>> from jaxloss import metrics
          >>> s = metrics.ErrorQuantiles.empty(shape=(2,))
          >>> s = s.update(jnp.array([[1.0, 2.0], [3.0, 2.0]]), jnp.zeros((2, 2)))
          >>> print(s.compute("raw_values")["max_error"])
          [3. 2.]
        """
        median, q90, q99 = self.quantile(jnp.array([0.5, 0.9, 0.99]))
        weight = cf.value(self.weight)
        raw = {
            "median_absolute_error": median,
            "q90_absolute_error": q90,
            "q99_absolute_error": q99,
            "max_error": jnp.where(weight > 0, self.largest, jnp.nan),
            "count": weight,
        }
        return _common.combine_outputs(
            f"{_NAME}.compute", raw, multioutput, self.shape, maximised=("max_error",)
        )


@jax.jit
def _quantiles(sketch: ErrorQuantiles, q: jax.Array) -> jax.Array:
    """:meth:`ErrorQuantiles.quantile` for checked ``q``. Compiled as one program: op by op,
    the scan over ~9,000 buckets took 5 s to dispatch on its first call."""
    # Cumulative weights as double-floats: a float32 running sum of 10⁸ samples would
    # misplace ranks by whole samples.
    cumulative = jax.lax.associative_scan(cf.add_pairs, sketch.counts, axis=-1)
    weight = sketch.weight
    broken = ~(cf.value(weight) > 0) | (sketch.nan_weight > 0)

    def one(prob: jax.Array) -> jax.Array:
        target = (prob * weight[0][..., None], prob * weight[1][..., None])
        reached = (cf.difference(cumulative, target) >= 0) & (cf.value(cumulative) > 0)
        estimate = jnp.clip(sketch._value(jnp.argmax(reached, axis=-1)), sketch.smallest,
                            sketch.largest)  # fmt: skip
        estimate = jnp.where(prob >= 1, sketch.largest, estimate)
        estimate = jnp.where(prob <= 0, sketch.smallest, estimate)
        return jnp.where(broken, jnp.nan, estimate)

    return jax.vmap(one)(q.reshape(-1)).reshape(*q.shape, *sketch.shape)
