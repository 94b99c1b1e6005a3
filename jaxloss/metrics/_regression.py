"""A streaming, mergeable regression-metrics accumulator, right on any split of the data.

The state holds, per output, the total weight and the weighted means and centred second
moments (M2) of the targets and of the residuals, the predictions' M2 and the co-moment of
predictions and targets, plus the weighted absolute-error sum and the largest absolute error.
Each batch's moments are computed two-pass around a shift, and states are merged with Chan et
al.'s parallel update, so nothing ever computes ``Σy² − (Σy)²/n``, which cancels to noise (and
R² > 1) for targets with a large offset. Every running total is a double-float
(:mod:`._compensated`): counts stay exact to 2^48 and means do not drift over many updates,
all in float32, on any backend, without x64.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from .. import _contract
from .._losses import mse
from . import _common
from . import _compensated as cf
from ._common import Pair

_NAME = "metrics.Regression"


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Regression(_common.Accumulator):
    """Streaming regression metrics: an immutable, mergeable pytree accumulator.

    Feed batches with :meth:`update`, combine partial states (from other batches, hosts or
    devices) with :meth:`merge` or :meth:`merge_across`, and read the metrics with
    :meth:`compute`. With residual ``r = p − t``, weights ``w``, ``W = Σ w`` and centred
    sums ``S_{xy} = Σ w (x − x̄)(y − ȳ)``:

    .. math::
      \\mathrm{MSE} = Σ w r^2 / W, \\quad \\mathrm{MAE} = Σ w |r| / W, \\quad
      \\mathrm{bias} = \\bar r, \\quad R^2 = 1 − \\frac{Σ w r^2}{S_{tt}}, \\quad
      \\mathrm{EV} = 1 − \\frac{S_{rr}}{S_{tt}}, \\quad
      ρ = \\frac{S_{pt}}{\\sqrt{S_{pp} S_{tt}}}, \\quad
      \\mathrm{CCC} = \\frac{2 S_{pt}}{S_{pp} + S_{tt} + W \\bar r^2}

    each per output, matching scikit-learn's metrics and ``scipy.stats.pearsonr`` on the
    concatenated data for any split into batches and any merge order (to rounding). The
    state is tiny (a few numbers per output), jittable, vmappable (one accumulator per sweep
    member) and usable as a ``jax.lax.scan`` carry. All totals are float32 double-floats:
    counts stay exact past 2^31 (to 2^48) and running means do not drift, without
    ``jax_enable_x64``. ``S_pp`` and ``S_pt`` are kept as moments of their own rather than
    derived from ``S_rr`` and ``S_tt``, whose difference cancels when predictions are nearly
    constant.

    Attributes:
      weight: total weight ``W`` per output, as a double-float ``(hi, lo)``.
      samples: number of selected samples per output (the ``where`` mask, ignoring weights).
      target_mean: weighted mean of the targets (double-float).
      target_m2: ``S_tt = Σ w (t − t̄)²`` (double-float).
      residual_mean: weighted mean residual ``r̄`` (double-float).
      residual_m2: ``S_rr = Σ w (r − r̄)²`` (double-float).
      prediction_m2: ``S_pp = Σ w (p − p̄)²`` (double-float).
      comoment: ``S_pt = Σ w (p − p̄)(t − t̄)`` (double-float).
      abs_error: ``Σ w |r|`` (double-float).
      max_error: ``max |r|`` over selected samples with positive weight (0 if none).

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxloss import metrics
      >>> state = metrics.Regression.empty()
      >>> state = state.update(jnp.array([1.0, 2.0]), jnp.array([1.0, 3.0]))
      >>> state = state.update(jnp.array([4.0]), jnp.array([2.0]))
      >>> {k: round(float(v), 4) for k, v in state.compute().items()}
      {'mse': 1.6667, 'rmse': 1.291, 'mae': 1.0, 'r2': -1.5, 'explained_variance': -1.3333, \
'max_error': 2.0, 'bias': 0.3333, 'pearson': 0.3273, 'ccc': 0.2857, 'count': 3.0}
    """

    weight: Pair
    samples: Pair
    target_mean: Pair
    target_m2: Pair
    residual_mean: Pair
    residual_m2: Pair
    prediction_m2: Pair
    comoment: Pair
    abs_error: Pair
    max_error: jax.Array

    @classmethod
    def empty(cls, shape: tuple[int, ...] = ()) -> Regression:
        """An accumulator with no samples yet.

        Args:
          shape: one sample's output shape: ``()`` for a scalar target, ``(K,)`` for K
            outputs (any rank works).

        Returns:
          The empty state; :meth:`compute` on it gives NaN metrics and a count of 0.

        Example:
          >>> from jaxloss import metrics
          >>> metrics.Regression.empty((3,)).shape
          (3,)
        """
        shape = tuple(int(d) for d in shape)
        return cls(
            weight=cf.zeros(shape),
            samples=cf.zeros(shape),
            target_mean=cf.zeros(shape),
            target_m2=cf.zeros(shape),
            residual_mean=cf.zeros(shape),
            residual_m2=cf.zeros(shape),
            prediction_m2=cf.zeros(shape),
            comoment=cf.zeros(shape),
            abs_error=cf.zeros(shape),
            max_error=jnp.zeros(shape, jnp.float32),
        )

    @property
    def shape(self) -> tuple[int, ...]:
        """One sample's output shape (under ``jax.vmap``, without the mapped axis)."""
        return self.max_error.shape

    def update(
        self,
        predictions: ArrayLike,
        targets: ArrayLike,
        *,
        weights: ArrayLike | None = None,
        where: ArrayLike | None = None,
    ) -> Regression:
        """Adds a batch of samples and returns the new state (``self`` is unchanged).

        The inputs follow the losses' contract: the same shape (never broadcast), half
        precision accumulated in float32, non-negative ``weights`` and boolean ``where`` as
        a scalar, the full shape or a leading prefix (``(B,)`` for ``(B, K)`` data).

        Args:
          predictions: shape ``(B, *shape)``: the leading axis holds the samples.
          targets: the same shape as ``predictions``.
          weights: sample weights, ``>= 0``.
          where: boolean mask; ``False`` excludes a sample (or one output of it) entirely,
            even if its values are NaN.

        Returns:
          The state with the batch included.

        Example:
          >>> import jax.numpy as jnp
          >>> from jaxloss import metrics
          >>> s = metrics.Regression.empty((2,)).update(jnp.ones((5, 2)), jnp.zeros((5, 2)))
          >>> print(s.compute("raw_values")["mse"])
          [1. 1.]
        """
        batch = _common.read_batch(
            f"{_NAME}.update", predictions, targets, weights=weights, where=where,
            shape=self.shape,
        )  # fmt: skip
        p, t, w = batch.predictions, batch.targets, batch.weights
        total = jnp.sum(w, axis=0)
        residual = p - t
        abs_residual = jnp.abs(residual)
        target_mean, t_centred = _common.centred(t, w, total)
        residual_mean, r_centred = _common.centred(residual, w, total)
        # Any value near p̄ serves as the estimate that picks p's shift: t̄ + r̄ costs no pass.
        p_estimate = cf.value(target_mean) + cf.value(residual_mean)
        _, p_centred = _common.centred(p, w, total, p_estimate)
        counted = batch.selected & (w > 0)

        def moment(x: jax.Array, y: jax.Array) -> Pair:
            return _common.pair(jnp.sum(w * x * y, axis=0))

        return self.merge(
            Regression(
                weight=_common.pair(total),
                samples=_common.pair(jnp.sum(batch.selected, axis=0, dtype=jnp.float32)),
                target_mean=target_mean,
                target_m2=moment(t_centred, t_centred),
                residual_mean=residual_mean,
                residual_m2=moment(r_centred, r_centred),
                prediction_m2=moment(p_centred, p_centred),
                comoment=moment(p_centred, t_centred),
                abs_error=_common.pair(jnp.sum(w * abs_residual, axis=0)),
                max_error=jnp.max(jnp.where(counted, abs_residual, 0.0), axis=0, initial=0.0),
            )
        )

    def merge(self, other: Regression) -> Regression:
        """Combines two states as if their samples had been added to one.

        Associative and commutative to rounding (Chan, Golub and LeVeque's parallel update,
        in double-float arithmetic), so any split of the data and any merge order agree.

        Args:
          other: a state of the same output shape.

        Returns:
          The merged state.

        Example:
          >>> import jax.numpy as jnp
          >>> from jaxloss import metrics
          >>> a = metrics.Regression.empty().update(jnp.array([1.0, 2.0]), jnp.zeros(2))
          >>> b = metrics.Regression.empty().update(jnp.array([3.0]), jnp.zeros(1))
          >>> print(a.merge(b).compute()["mse"], b.merge(a).compute()["mse"])
          4.6666665 4.6666665
        """
        _common.check_mergeable(f"{_NAME}.merge", self, other)
        chan = _common.Chan.of(self.weight, other.weight)
        target_mean, d_target = chan.mean(self.target_mean, other.target_mean)
        residual_mean, d_residual = chan.mean(self.residual_mean, other.residual_mean)
        d_prediction = d_target + d_residual  # p̄ = t̄ + r̄
        return Regression(
            weight=cf.add_pairs(self.weight, other.weight),
            samples=cf.add_pairs(self.samples, other.samples),
            target_mean=target_mean,
            target_m2=chan.comoment(self.target_m2, other.target_m2, d_target, d_target),
            residual_mean=residual_mean,
            residual_m2=chan.comoment(self.residual_m2, other.residual_m2, d_residual, d_residual),
            prediction_m2=chan.comoment(
                self.prediction_m2, other.prediction_m2, d_prediction, d_prediction
            ),
            comoment=chan.comoment(self.comoment, other.comoment, d_prediction, d_target),
            abs_error=cf.add_pairs(self.abs_error, other.abs_error),
            max_error=jnp.maximum(self.max_error, other.max_error),
        )

    def exact_count(self) -> np.ndarray:
        """The total weight per output as NumPy float64, exact to 2^48 for integer weights.

        ``compute()["count"]`` is float32 (exact to 2^24); this reads the double-float
        total on the host.

        Returns:
          A float64 array of the state's shape.

        Example:
          >>> import jax.numpy as jnp
          >>> from jaxloss import metrics
          >>> s = metrics.Regression.empty().update(jnp.zeros(1), jnp.zeros(1), weights=2.0**31)
          >>> int(s.update(jnp.zeros(1), jnp.zeros(1)).exact_count())
          2147483649
        """
        hi, lo = (np.asarray(x, np.float64) for x in self.weight)
        return hi + lo

    def compute(
        self, multioutput: str | ArrayLike = "uniform_average", *, regressors: int | None = None
    ) -> dict[str, jax.Array]:
        """The metrics of everything added so far.

        Per output ``k`` (with ``W = Σ w``, ``r = p − t``): ``mse``, ``rmse = √mse``,
        ``mae``, ``r2``, ``explained_variance``, ``max_error = max |r|``, ``bias = r̄`` (mean
        residual, positive when predictions are too high), ``pearson`` (the weighted Pearson
        correlation of predictions and targets), ``ccc`` (Lin's concordance correlation
        coefficient, with population moments: it is 1 only when ``p = t``, and penalises a
        bias or a scale error that Pearson ignores), ``count = W`` and, with ``regressors=k``,
        ``adjusted_r2 = 1 − (1 − R²)(n − 1)/(n − k − 1)`` with ``n`` the number of samples.

        ``multioutput`` follows scikit-learn:

        - ``"raw_values"``: one value per output (arrays of the state's shape).
        - ``"uniform_average"``: the mean over outputs. As in scikit-learn, ``rmse`` is the
          mean of the per-output RMSEs (not the root of the mean MSE).
        - ``"variance_weighted"``: ``r2``, ``adjusted_r2`` and ``explained_variance``
          weighted by each output's target variance (scikit-learn's meaning); the other
          metrics, which scikit-learn does not define for it, are uniform averages.
        - an array of the state's shape: a weighted average of every metric.

        In every averaged mode ``max_error`` is the maximum over outputs and ``count`` is
        averaged like the metrics (it equals the total weight when all outputs share the
        weights).

        Edge cases: with no samples or zero total weight every metric is NaN and ``count``
        is 0. With fewer than two samples ``r2``, ``pearson`` and ``ccc`` are NaN, and
        ``explained_variance`` is 1.0 (both variances are 0), as scikit-learn's. With
        constant targets (zero variance) ``r2`` and ``explained_variance`` are 1.0 for a
        perfect fit and 0.0 otherwise (scikit-learn's ``force_finite=True``); ``pearson``
        is NaN when either side is constant (as ``scipy.stats.pearsonr``), and so is
        ``ccc`` when both sides are the same constant. ``adjusted_r2`` is NaN unless
        ``n > k + 1``.

        Args:
          multioutput: how to combine outputs, as above.
          regressors: the number of regressors (features) ``k`` of the model, for
            ``adjusted_r2``; ``None`` leaves it out.

        Returns:
          A dict of float32 arrays with keys ``mse``, ``rmse``, ``mae``, ``r2``,
          ``explained_variance``, ``max_error``, ``bias``, ``pearson``, ``ccc``,
          (``adjusted_r2``) and ``count``.

        Example:
          >>> import jax.numpy as jnp
          >>> from jaxloss import metrics
          >>> t = jnp.array([[0.0, 1.0], [1.0, 1.0], [2.0, 1.0]])
          >>> s = metrics.Regression.empty((2,)).update(t + 0.5, t)
          >>> m = s.compute("raw_values")
          >>> print(m["r2"], m["bias"], m["ccc"])
          [0.625 0.   ] [0.5 0.5] [0.84210527 0.        ]
        """
        if regressors is not None and (
            isinstance(regressors, bool) or not isinstance(regressors, int | np.integer)
            or regressors < 0
        ):  # fmt: skip
            raise ValueError(
                f"jaxloss.{_NAME}.compute: regressors={regressors!r}; expected the number of "
                "the model's regressors (features), an int >= 0, or None."
            )
        weight = cf.value(self.weight)
        samples = cf.value(self.samples)
        residual_mean = cf.value(self.residual_mean)
        residual_m2 = cf.value(self.residual_m2)
        target_m2 = cf.value(self.target_m2)
        prediction_m2 = cf.value(self.prediction_m2)
        comoment = cf.value(self.comoment)
        empty = ~(weight > 0)
        nan = jnp.full(self.shape, jnp.nan, jnp.float32)
        undefined = samples < 2

        squared_error = residual_m2 + weight * residual_mean * residual_mean  # Σ w r²
        mse = _contract.safe_divide(squared_error, weight)

        def force_finite_ratio(numerator: jax.Array) -> jax.Array:
            score = 1.0 - _contract.safe_divide(numerator, target_m2)
            constant = jnp.where(numerator > 0, 0.0, 1.0)
            return jnp.where(target_m2 > 0, score, constant)

        def ratio_or_nan(numerator: jax.Array, denominator: jax.Array) -> jax.Array:
            defined = (denominator > 0) & ~undefined
            return jnp.where(defined, _contract.safe_divide(numerator, denominator), nan)

        r2 = jnp.where(undefined, nan, force_finite_ratio(squared_error))
        raw = {
            "mse": mse,
            "rmse": jnp.sqrt(mse),
            "mae": _contract.safe_divide(cf.value(self.abs_error), weight),
            # scikit-learn: R² is undefined below two samples; explained variance is not.
            "r2": r2,
            "explained_variance": force_finite_ratio(residual_m2),
            "max_error": self.max_error,
            "bias": residual_mean,
            # √(S_pp)·√(S_tt): the product S_pp·S_tt overflows float32 beyond ~1e19 each.
            "pearson": ratio_or_nan(comoment, jnp.sqrt(prediction_m2) * jnp.sqrt(target_m2)),
            "ccc": ratio_or_nan(
                2.0 * comoment, prediction_m2 + target_m2 + weight * residual_mean**2
            ),
        }
        if regressors is not None:
            dof = samples - regressors - 1.0
            adjusted = 1.0 - (1.0 - r2) * _contract.safe_divide(samples - 1.0, dof)
            raw["adjusted_r2"] = jnp.where(dof > 0, adjusted, nan)
        raw = {k: jnp.where(empty, nan, v) for k, v in raw.items()}
        raw["count"] = weight
        return _common.combine_outputs(
            f"{_NAME}.compute", raw, multioutput, self.shape, variance=target_m2,
            variance_weighted=("r2", "explained_variance", "adjusted_r2"),
            maximised=("max_error",),
        )  # fmt: skip


def bias_variance(
    predictions: ArrayLike,
    targets: ArrayLike,
    *,
    axis: int = 0,
    weights: ArrayLike | None = None,
    where: ArrayLike | None = None,
) -> dict[str, jax.Array]:
    """Bias-variance decomposition of an ensemble's squared error.

    With members ``m = 1..M`` (e.g. the seeds of a sweep) predicting ``p_m`` for targets
    ``t``, and the ensemble mean ``p̄ = (1/M) Σ_m p_m``:

    .. math::
      \\underbrace{\\tfrac1M Σ_m \\mathrm{MSE}(p_m, t)}_{\\texttt{mse}}
      = \\underbrace{\\mathrm{MSE}(\\bar p, t)}_{\\texttt{bias\\_squared}}
      + \\underbrace{\\tfrac1M Σ_m \\mathrm{MSE}(p_m, \\bar p)}_{\\texttt{variance}}

    exactly (to rounding), where each MSE is the weighted mean over the samples, with the
    losses' contract for ``weights`` and ``where`` (they apply to ``targets``' shape).

    Args:
      predictions: the members' predictions, members along ``axis``.
      targets: the targets, shaped like ``predictions`` without ``axis``.
      axis: the members axis of ``predictions``.
      weights: sample weights for ``targets``' shape (scalar, full or leading prefix).
      where: boolean mask for ``targets``' shape.

    Returns:
      A dict of float32 scalars: ``mse`` (the members' mean MSE), ``bias_squared`` (the MSE
      of the ensemble mean) and ``variance`` (the spread of the members around it).

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxloss import metrics
      >>> members = jnp.array([[1.0, 2.0], [3.0, 2.0]])   # 2 members, 2 samples
      >>> parts = metrics.bias_variance(members, jnp.array([1.0, 1.0]))
      >>> {k: float(v) for k, v in parts.items()}
      {'mse': 1.5, 'bias_squared': 1.0, 'variance': 0.5}
    """
    p = jnp.asarray(predictions)
    t = jnp.asarray(targets)
    if not isinstance(axis, int | np.integer) or not -p.ndim <= axis < p.ndim:
        raise ValueError(
            f"jaxloss.metrics.bias_variance: axis={axis!r} is invalid for predictions of "
            f"rank {p.ndim}."
        )
    members = jnp.moveaxis(p, axis, 0)
    if members.shape[1:] != t.shape:
        raise ValueError(
            f"jaxloss.metrics.bias_variance: predictions of shape {p.shape} hold members of "
            f"shape {members.shape[1:]} along axis {axis}, but targets have shape {t.shape}; "
            "they must be equal."
        )
    dtype = _contract.compute_dtype(members, t)
    members, t = members.astype(dtype), t.astype(dtype)
    ensemble = jnp.mean(members, axis=0)

    # Every weighted mean is jaxloss.mse: the losses' contract for weights and where, reused.
    def member_mse(reference: jax.Array) -> jax.Array:
        per_member = jax.vmap(lambda m: mse(m, reference, weights=weights, where=where))
        return jnp.mean(per_member(members))

    return {
        "mse": member_mse(t),
        "bias_squared": mse(ensemble, t, weights=weights, where=where),
        "variance": member_mse(ensemble),
    }
