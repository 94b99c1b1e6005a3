"""What every streaming accumulator shares: one batch contract, merge checks, the fold across
devices and scikit-learn's ways of combining outputs.

Each accumulator (``Regression``, ``Deviance``, ``LossMean``, ``Interval``, ``ErrorQuantiles``)
is a frozen dataclass registered as a pytree with ``update``, ``merge``, ``merge_across`` and
``compute``; what it does with a batch is its own, how the batch is read is written here once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple, Self, TypeVar

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from .. import _contract
from . import _compensated as cf

Pair = tuple[jax.Array, jax.Array]
MULTIOUTPUT = ("raw_values", "uniform_average", "variance_weighted")


class Batch(NamedTuple):
    """A validated batch in float32: excluded entries are 0 in the data and in ``weights``."""

    predictions: jax.Array
    targets: jax.Array
    weights: jax.Array
    selected: jax.Array
    params: dict[str, jax.Array]


def read_batch(
    name: str,
    predictions: ArrayLike,
    targets: ArrayLike,
    *,
    weights: ArrayLike | None,
    where: ArrayLike | None,
    shape: tuple[int, ...],
    params: Mapping[str, ArrayLike] | None = None,
    domains: Mapping[str, _contract.Domain] | None = None,
) -> Batch:
    """The losses' contract (same shapes, weights and masks as a scalar, the full shape or a
    leading prefix, half precision read in float32), plus a leading batch axis over samples of
    ``shape``. Weights come back full-shape, with 0 wherever ``where`` is False."""
    inputs = _contract.prepare(
        name, predictions, targets, weights=weights, where=where, params=params, domains=domains
    )
    p = inputs.predictions.astype(jnp.float32)
    t = inputs.targets.astype(jnp.float32)
    if p.ndim == 0 or p.shape[1:] != shape:
        owner = name.rsplit(".", 1)[0]
        raise ValueError(
            f"jaxloss.{name}: the inputs have shape {p.shape}, so one sample has shape "
            f"{p.shape[1:]}; this accumulator expects samples of shape {shape} "
            f"({owner.split('.')[-1]}.empty(shape={shape})) along a leading batch axis."
        )
    selected = jnp.ones(p.shape, jnp.bool_)
    if inputs.mask is not None:
        selected = jnp.broadcast_to(inputs.mask, p.shape)
    w = jnp.ones((), jnp.float32) if inputs.weights is None else inputs.weights
    w = jnp.where(selected, jnp.broadcast_to(w.astype(jnp.float32), p.shape), 0.0)
    operands = {k: v.astype(jnp.float32) for k, v in inputs.params.items()}
    return Batch(p, t, w, selected, operands)


def sample_weights(
    name: str, weights: ArrayLike | None, where: ArrayLike | None, shape: tuple[int, ...]
) -> jax.Array:
    """Full-shape float32 weights (a scalar, the full shape or a leading prefix given), 0
    wherever ``where`` is False."""
    w = _contract.as_weights(name, weights, shape, jnp.dtype(jnp.float32))
    mask = _contract.as_mask(name, where, shape)
    full = jnp.ones(shape, jnp.float32) if w is None else jnp.broadcast_to(w, shape)
    return full if mask is None else jnp.where(mask, full, 0.0)


def pair(x: jax.Array) -> Pair:
    """A float32 total as a double-float with no low part."""
    return x, jnp.zeros_like(x)


def centred(
    x: jax.Array, w: jax.Array, total: jax.Array, estimate: jax.Array | None = None
) -> tuple[Pair, jax.Array]:
    """Weighted mean (as a double-float) of ``x`` along axis 0 and the deviations from it.

    The mean is ``shift + Σ w (x − shift) / W`` around a shift close to it: the deviations
    are small and almost exact, so their mean and M2 carry no cancellation even for
    311030 ± 5 in float32. The shift is the sample nearest a first estimate of the mean: a
    value taken from the data, never the output of arithmetic. A computed shift (a sum
    times ``1/W``) is copied by XLA into each consumer and contracted there by LLVM into a
    fused multiply-add, so the shift subtracted from ``x`` and the one stored would differ
    by up to half an ulp of the mean (0.004 at 1e5: a streamed Pearson or D² of batches
    ordered by target was off in the fourth digit under ``jit``). A data value is the same
    wherever it is read, and exact: constant data has deviations of exactly 0.
    """
    share = _contract.safe_divide(w, total[None])  # keep the batch axis: no rank promotion
    if estimate is None:
        estimate = jnp.sum(share * x, axis=0)
    estimate = estimate[None]
    # The smallest sample at or above the estimate, lowered by a few ulps so that rounding
    # cannot put it above every sample (constant data). A min, not an argmin of the
    # distance, which XLA's CPU backend runs as a slow two-output reduction (12× the
    # update). An empty batch has no sample: any shift does, 0.
    floor = estimate - 4 * jnp.finfo(jnp.float32).eps * jnp.abs(estimate)
    candidates = jnp.where((w > 0) & (x >= floor), x, jnp.inf)
    shift = jnp.min(candidates, axis=0, keepdims=True)
    shift = jnp.where(jnp.isfinite(shift), shift, 0.0)
    deviation = x - shift
    mean_deviation = jnp.sum(share * deviation, axis=0, keepdims=True)
    return cf.two_sum(shift[0], mean_deviation[0]), deviation - mean_deviation


class Chan(NamedTuple):
    """Chan, Golub and LeVeque's parallel update of two weighted groups ``a`` and ``b``.

    It updates from the heavier side: its mean is kept to full double-float precision and
    only the (small) pull towards the lighter side is rounded, and a merge into an empty
    state returns the other state's moments unchanged.
    """

    a_heavier: jax.Array
    heavy_weight: jax.Array
    light_fraction: jax.Array

    @classmethod
    def of(cls, weight_a: Pair, weight_b: Pair) -> Chan:
        w_a, w_b = cf.value(weight_a), cf.value(weight_b)
        a_heavier = w_a >= w_b
        total = cf.value(cf.add_pairs(weight_a, weight_b))
        light = jnp.where(a_heavier, w_b, w_a)
        return cls(a_heavier, jnp.where(a_heavier, w_a, w_b), _contract.safe_divide(light, total))

    def heavy_light(self, a: Pair, b: Pair) -> tuple[Pair, Pair]:
        pick = self.a_heavier
        heavy = (jnp.where(pick, a[0], b[0]), jnp.where(pick, a[1], b[1]))
        light = (jnp.where(pick, b[0], a[0]), jnp.where(pick, b[1], a[1]))
        return heavy, light

    def mean(self, a: Pair, b: Pair) -> tuple[Pair, jax.Array]:
        """The merged mean of means ``a`` and ``b``, and ``δ`` = light mean − heavy mean."""
        heavy, light = self.heavy_light(a, b)
        delta = cf.difference(light, heavy)
        return cf.add(*heavy, delta * self.light_fraction), delta

    def comoment(self, a: Pair, b: Pair, delta_x: jax.Array, delta_y: jax.Array) -> Pair:
        """Merged ``Σ w (x − x̄)(y − ȳ)`` from the groups' sums and their means' ``δ``s."""
        between = delta_x * delta_y * self.heavy_weight * self.light_fraction  # δx·δy·W_aW_b/W
        return cf.add(*cf.add_pairs(a, b), between)


S = TypeVar("S", bound="Accumulator")


class Accumulator:
    """What every accumulator shares beyond its own update, merge and compute."""

    @property
    def shape(self) -> tuple[int, ...]:
        raise NotImplementedError

    def merge(self, other: Self) -> Self:
        raise NotImplementedError

    def merge_across(self, axis_name: str | tuple[str, ...]) -> Self:
        """Merges the states of every device along a named axis (inside ``shard_map``/``pmap``).

        Each device gathers all the states and folds them with ``merge`` in the same order,
        so every device returns the same result, equal to merging the states on the host.

        Args:
          axis_name: the mapped axis (or axes) to merge over, e.g. ``"data"``.

        Returns:
          The merged state, identical on every device along ``axis_name``.

        Example:
          >>> import jax, jax.numpy as jnp, numpy as np
          >>> from jax.sharding import Mesh, PartitionSpec as P
          >>> from jaxloss import metrics
          >>> mesh = Mesh(np.array(jax.devices()[:1]), ("data",))
          >>> def local(p, t):
          ...   state = metrics.LossMean.empty("mae").update(p, t)
          ...   return state.merge_across("data").compute()["mae"]
          >>> f = jax.jit(jax.shard_map(local, mesh=mesh, in_specs=P("data"), out_specs=P()))
          >>> print(f(jnp.array([1.0, 3.0]), jnp.zeros(2)))
          2.0
        """
        return fold_across(self, axis_name)


def check_mergeable(name: str, state: Accumulator, other: object) -> None:
    """``other`` is a state of the same class and output shape as ``state``."""
    cls = type(state).__name__
    if not isinstance(other, type(state)):
        raise TypeError(f"jaxloss.{name}: expected a {cls}, got {type(other).__name__}.")
    if other.shape != state.shape:
        raise ValueError(
            f"jaxloss.{name}: states of output shapes {state.shape} and {other.shape} cannot "
            f"be merged; both must come from {cls}.empty(shape=...) with the same shape."
        )


def fold_across(state: S, axis_name: str | tuple[str, ...]) -> S:
    """Every device gathers all the states and folds them in the same order, so the result
    is replicated ("invarying" tells ``shard_map`` so) and equals merging on the host."""
    gathered = jax.lax.all_gather(state, axis_name, to="invarying")
    parts = jax.tree.leaves(gathered)[0].shape[0]
    merged = jax.tree.map(lambda x: x[0], gathered)
    for i in range(1, parts):
        merged = merged.merge(jax.tree.map(lambda x, i=i: x[i], gathered))
    return merged


def combine_outputs(
    name: str,
    raw: Mapping[str, jax.Array],
    multioutput: str | ArrayLike,
    shape: tuple[int, ...],
    *,
    variance: jax.Array | None = None,
    variance_weighted: tuple[str, ...] = (),
    maximised: tuple[str, ...] = (),
) -> dict[str, jax.Array]:
    """scikit-learn's ``multioutput``: ``"raw_values"``, ``"uniform_average"``,
    ``"variance_weighted"`` (only the ``variance_weighted`` keys, weighted by ``variance``;
    the others uniform) or an array of output weights. ``maximised`` keys take the maximum
    over outputs in every averaged mode."""
    modes = MULTIOUTPUT if variance is not None else MULTIOUTPUT[:2]
    if isinstance(multioutput, str):
        if multioutput not in modes:
            valid = ", ".join(repr(m) for m in modes)
            raise ValueError(
                f"jaxloss.{name}: multioutput={multioutput!r} is not one of {valid} or an "
                f"array of output weights of shape {shape}."
            )
        if multioutput == "raw_values":
            return dict(raw)
        uniform = jnp.ones(shape, jnp.float32)
        by_variance = variance if multioutput == "variance_weighted" else uniform
        assert by_variance is not None
        averaging = {k: by_variance if k in variance_weighted else uniform for k in raw}
    else:
        weights = jnp.asarray(multioutput, jnp.float32)
        if weights.shape != shape:
            raise ValueError(
                f"jaxloss.{name}: multioutput weights have shape {weights.shape}; expected "
                f"the output shape {shape}."
            )
        averaging = dict.fromkeys(raw, weights)
    combined = {}
    for key, values in raw.items():
        if key in maximised:
            combined[key] = jnp.max(values)
            continue
        w = averaging[key]
        total = jnp.sum(w)
        weighted = jnp.sum(jnp.where(w > 0, values, 0.0) * w) / jnp.where(total > 0, total, 1.0)
        # scikit-learn: when every output has zero target variance the variance weights are
        # all 0, and it falls back to the uniform average of the (force-finite) scores.
        combined[key] = jnp.where(total > 0, weighted, jnp.mean(values))
    return combined
