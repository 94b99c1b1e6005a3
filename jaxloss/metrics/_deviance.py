"""Streaming Tweedie deviance and D², exact in one pass on any split of the data.

D² compares the model's deviance with that of the null model, which predicts the weighted
mean ``ȳ`` of all the targets: a value known only at the end of the stream. A Tweedie unit
deviance is a Bregman divergence, and the mean is its centroid, so for any constant ``c``

    Σ w d(y, c) = Σ w d(y, ȳ) + W d(ȳ, c)

(the "parallel axis" identity behind Chan's variance merge, which is the case p = 0). Each
batch keeps its own mean and its deviance around it; two batches merge as
``D_a + D_b + W_a d(ȳ_a, ȳ) + W_b d(ȳ_b, ȳ)``. Nothing cancels: every term is a
non-negative deviance, computed from ``log1p`` of the (exact, double-float) shift between
means, so targets offset by 10⁵ lose nothing.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from .. import _contract
from .._losses import _tweedie_deviance, check_power, tweedie_domains, tweedie_of_log_ratio
from . import _common
from . import _compensated as cf
from ._common import Pair

_NAME = "metrics.Deviance"


def _deviance_of_shift(t: jax.Array, shift: jax.Array, power: float) -> jax.Array:
    """``d(t, t + shift)`` accurate for shifts tiny against ``t`` (a merge's mean moves)."""
    if power == 0:
        return shift * shift
    positive = t > 0
    safe_t = jnp.where(positive, t, 1.0)
    # log(μ/t) = log1p(shift/t): the shift is exact, log(μ) − log(t) of nearby means is not.
    shifted = tweedie_of_log_ratio(safe_t, jnp.log1p(shift / safe_t), power)
    plain = _tweedie_deviance(t + shift, t, power=power, log_input=False)
    return jnp.where(positive, shifted, plain)


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Deviance(_common.Accumulator):
    """Streaming mean Tweedie deviance and D² (scikit-learn's ``mean_tweedie_deviance`` and
    ``d2_tweedie_score``): an immutable, mergeable pytree accumulator.

    With the Tweedie unit deviance ``d`` of power ``p`` (see :func:`jaxloss.tweedie_deviance`:
    ``p = 0`` normal, ``1`` Poisson, ``(1, 2)`` compound Poisson–Gamma, ``2`` Gamma, ``3``
    inverse Gaussian), weights ``w``, ``W = Σ w`` and the weighted target mean ``ȳ``:

    .. math::
      \\mathrm{deviance} = \\frac{Σ w\\, d(y, μ)}{W}, \\qquad
      D^2 = 1 − \\frac{Σ w\\, d(y, μ)}{Σ w\\, d(y, \\bar y)}

    ``D²`` is the fraction of the null model's deviance the predictions explain (``R²`` at
    ``p = 0``). The null deviance needs ``ȳ``, known only at the end; it is kept exactly in
    one pass because a Tweedie deviance is a Bregman divergence:
    ``Σ w d(y, c) = Σ w d(y, ȳ) + W d(ȳ, c)`` for any ``c``, so partial states merge like
    Chan's variances (module docstring). Any split and merge order agrees with
    scikit-learn on the concatenated data, to rounding.

    Domains are scikit-learn's: ``μ > 0`` unless ``p = 0``; ``y >= 0`` for ``1 <= p < 2``;
    ``y > 0`` for ``p >= 2``. Values known at trace time are checked; traced ones outside
    the domain make the result NaN (never a finite number). Samples with zero weight or
    excluded by ``where`` are ignored whatever they hold.

    Attributes:
      power: the Tweedie power (static: it selects the family).
      weight: ``W`` per output, as a double-float ``(hi, lo)``.
      samples: number of selected samples per output.
      target_mean: ``ȳ`` (double-float).
      deviance: ``Σ w d(y, μ)`` (double-float).
      null_deviance: ``Σ w d(y, ȳ)`` (double-float).

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxloss import metrics
      >>> y, mu = jnp.array([0.5, 1.0, 2.5, 7.0]), jnp.array([1.0, 1.0, 5.0, 3.5])
      >>> state = metrics.Deviance.empty(power=1).update(mu[:3], y[:3]).update(mu[3:], y[3:])
      >>> {k: round(float(v), 4) for k, v in state.compute().items()}  # sklearn: d2 0.487…
      {'deviance': 1.1363, 'd2': 0.4879, 'count': 4.0}
    """

    power: float = dataclasses.field(metadata={"static": True})
    weight: Pair
    samples: Pair
    target_mean: Pair
    deviance: Pair
    null_deviance: Pair

    @classmethod
    def empty(cls, *, power: float, shape: tuple[int, ...] = ()) -> Deviance:
        """An accumulator with no samples yet.

        Args:
          power: the Tweedie power, ``<= 0`` or ``>= 1`` (a Python number).
          shape: one sample's output shape (``()`` for a scalar target).

        Returns:
          The empty state; :meth:`compute` on it gives NaN and a count of 0.

        Example:
          >>> from jaxloss import metrics
          >>> metrics.Deviance.empty(power=1.5, shape=(2,)).shape
          (2,)
        """
        shape = tuple(int(d) for d in shape)
        return cls(
            power=check_power(power, f"{_NAME}.empty"),
            weight=cf.zeros(shape),
            samples=cf.zeros(shape),
            target_mean=cf.zeros(shape),
            deviance=cf.zeros(shape),
            null_deviance=cf.zeros(shape),
        )

    @property
    def shape(self) -> tuple[int, ...]:
        """One sample's output shape (under ``jax.vmap``, without the mapped axis)."""
        return self.weight[0].shape

    def update(
        self,
        predictions: ArrayLike,
        targets: ArrayLike,
        *,
        weights: ArrayLike | None = None,
        where: ArrayLike | None = None,
    ) -> Deviance:
        """Adds a batch and returns the new state (``self`` is unchanged).

        Args:
          predictions: the predicted means ``μ``, shape ``(B, *shape)``.
          targets: the observations, the same shape.
          weights: sample weights ``>= 0`` (a scalar, the full shape or a leading prefix).
          where: boolean mask; ``False`` excludes an entry even if it holds NaN.

        Returns:
          The state with the batch included.

        Example:
          >>> import jax.numpy as jnp
          >>> from jaxloss import metrics
          >>> s = metrics.Deviance.empty(power=0).update(jnp.zeros(2), jnp.array([1.0, 3.0]))
          >>> print(s.compute()["deviance"])  # the MSE at power 0
          5.0
        """
        batch = _common.read_batch(
            f"{_NAME}.update", predictions, targets, weights=weights, where=where,
            shape=self.shape, domains=tweedie_domains(self.power),
        )  # fmt: skip
        p, t, w = batch.predictions, batch.targets, batch.weights
        total = jnp.sum(w, axis=0)
        mean, _ = _common.centred(t, w, total)
        counted = w > 0

        def weighted_sum(d: jax.Array) -> Pair:
            return _common.pair(jnp.sum(jnp.where(counted, w * d, 0.0), axis=0))

        p, t_counted = jnp.where(counted, p, 0.0), jnp.where(counted, t, 0.0)
        deviance = _tweedie_deviance(p, t_counted, power=self.power, log_input=False)
        null = _deviance_of_shift(t, cf.value(mean)[None] - t, self.power)
        return self.merge(
            Deviance(
                power=self.power,
                weight=_common.pair(total),
                samples=_common.pair(jnp.sum(batch.selected, axis=0, dtype=jnp.float32)),
                target_mean=mean,
                deviance=weighted_sum(deviance),
                null_deviance=weighted_sum(null),
            )
        )

    def merge(self, other: Deviance) -> Deviance:
        """Combines two states as if their samples had been added to one (any order).

        Args:
          other: a state of the same power and output shape.

        Returns:
          The merged state.

        Example:
          >>> import jax.numpy as jnp
          >>> from jaxloss import metrics
          >>> a = metrics.Deviance.empty(power=2).update(jnp.ones(2), jnp.array([1.0, 2.0]))
          >>> b = metrics.Deviance.empty(power=2).update(jnp.ones(1), jnp.array([4.0]))
          >>> print(a.merge(b).compute()["d2"], b.merge(a).compute()["d2"])
          -3.1529899 -3.1529899
        """
        name = f"{_NAME}.merge"
        _common.check_mergeable(name, self, other)
        if other.power != self.power:
            raise ValueError(
                f"jaxloss.{name}: states of powers {self.power} and {other.power} cannot be "
                "merged; their deviances measure different families."
            )
        chan = _common.Chan.of(self.weight, other.weight)
        mean, delta = chan.mean(self.target_mean, other.target_mean)
        heavy, light = chan.heavy_light(self.target_mean, other.target_mean)
        total = cf.value(cf.add_pairs(self.weight, other.weight))
        light_weight = chan.light_fraction * total
        # The merged mean sits f·δ from the heavy mean and (1 − f)·δ from the light one.
        shift_heavy = delta * chan.light_fraction
        shift_light = shift_heavy - delta

        def moved(weight: jax.Array, side: Pair, shift: jax.Array) -> jax.Array:
            d = _deviance_of_shift(cf.value(side), shift, self.power)
            return jnp.where(weight > 0, weight * d, 0.0)

        between = moved(chan.heavy_weight, heavy, shift_heavy) + moved(
            light_weight, light, shift_light
        )
        return Deviance(
            power=self.power,
            weight=cf.add_pairs(self.weight, other.weight),
            samples=cf.add_pairs(self.samples, other.samples),
            target_mean=mean,
            deviance=cf.add_pairs(self.deviance, other.deviance),
            null_deviance=cf.add(*cf.add_pairs(self.null_deviance, other.null_deviance), between),
        )

    def compute(self, multioutput: str | ArrayLike = "uniform_average") -> dict[str, jax.Array]:
        """The mean deviance and D² of everything added so far.

        ``d2`` follows scikit-learn below two samples (NaN); for constant targets (a null
        deviance of 0) it is 1.0 for a perfect fit and 0.0 otherwise, like ``r2`` in
        :class:`Regression` (``D² = R²`` at ``p = 0``). No samples: NaN and a count of 0.

        Args:
          multioutput: ``"raw_values"`` (one value per output), ``"uniform_average"`` or an
            array of output weights of the state's shape.

        Returns:
          A dict of float32 arrays: ``deviance``, ``d2`` and ``count`` (the total weight).

        Example:
          >>> import jax.numpy as jnp
          >>> from jaxloss import metrics
          >>> y = jnp.array([[1.0, 2.0], [3.0, 2.0]])
          >>> s = metrics.Deviance.empty(power=0, shape=(2,)).update(y, y)
          >>> print(s.compute("raw_values")["d2"])
          [1. 1.]
        """
        weight = cf.value(self.weight)
        deviance = cf.value(self.deviance)
        null = cf.value(self.null_deviance)
        nan = jnp.full(self.shape, jnp.nan, jnp.float32)
        constant = jnp.where(deviance > 0, 0.0, 1.0)
        d2 = jnp.where(null > 0, 1.0 - _contract.safe_divide(deviance, null), constant)
        # NaN deviances (out-of-domain values) must stay NaN through the comparisons above.
        d2 = jnp.where(jnp.isnan(deviance) | jnp.isnan(null), nan, d2)
        raw = {
            "deviance": jnp.where(weight > 0, _contract.safe_divide(deviance, weight), nan),
            "d2": jnp.where(cf.value(self.samples) < 2, nan, d2),
            "count": weight,
        }
        return _common.combine_outputs(f"{_NAME}.compute", raw, multioutput, self.shape)
