"""The argument contract every jaxloss loss shares, written once.

A loss in :mod:`jaxloss._losses` is an elementwise formula handed to :func:`elementwise_loss`,
which owns everything else: argument validation with errors that say what was passed and what
was expected, the dtype policy, hyperparameter broadcasting, domain checks (static where the
values are known at trace time, opt-in under ``jit`` through :func:`value_checks`), masks,
sample weights, axes and the reduction.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Literal

import chex
import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import checkify
from jax.typing import ArrayLike

Reduction = Literal["mean", "sum", "none"]
Axis = int | Sequence[int] | None
REDUCTIONS: tuple[str, ...] = ("mean", "sum", "none")

# Read at trace time: a loss traced while this is True stages `checkify` checks of its values.
# A JAX user context, not a contextvar: its value is part of every jit cache key, so a function
# traced with checks is never reused without them, nor the reverse.
_VALUE_CHECKS = jax.make_user_context(default_value=False)


@dataclasses.dataclass(frozen=True)
class Domain:
    """Where an argument's values must lie, stated as the predicate that flags a violation.

    NaN never violates a domain: non-finite values are the business of the opt-in finiteness
    checks, so a NaN is reported as a NaN and not as, say, "not > 0".
    """

    violated: Callable[[jax.Array], jax.Array]
    expected: str


POSITIVE = Domain(lambda x: x <= 0, "> 0")
NONNEGATIVE = Domain(lambda x: x < 0, ">= 0")
UNIT_INTERVAL = Domain(lambda x: (x < 0) | (x > 1), "in [0, 1]")
ABOVE_MINUS_ONE = Domain(lambda x: x <= -1, "> -1")


@contextlib.contextmanager
def value_checks() -> Iterator[None]:
    """Stage run-time value checks in every jaxloss loss traced inside this block.

    By default a loss checks values only where they are known at trace time (concrete
    arrays, Python numbers), which costs nothing under ``jax.jit``. Inside this block each
    loss also stages :mod:`jax.experimental.checkify` checks: inputs that are NaN or Inf,
    negative weights, and arguments outside their loss's domain (e.g. MSLE targets <= -1).
    A function traced this way must be transformed by ``checkify.checkify``; :func:`checked`
    does both steps for you.

    Returns:
      A context manager; nothing is bound by ``with ... as``.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from jax.experimental import checkify
      >>> import jaxloss
      >>> def f(p, t):
      ...   with jaxloss.value_checks():
      ...     return jaxloss.mse(p, t)
      >>> err, out = jax.jit(checkify.checkify(f))(jnp.array([jnp.nan]), jnp.array([0.0]))
      >>> print(err.get())  # doctest: +ELLIPSIS
      jaxloss.mse: predictions contain NaN or Inf ...
    """
    with _VALUE_CHECKS(True):
        yield


def checked(fn: Callable[..., object], *, static_argnames: Sequence[str] = ()) -> Callable:
    """Returns a jitted ``fn`` that raises on bad values inside any jaxloss loss it calls.

    The default path of a loss checks only what is known at trace time, so it costs nothing
    under ``jax.jit``. Wrap a loss, or a whole training step, with ``checked`` while
    debugging: every loss traced inside ``fn`` then verifies at run time that its inputs are
    finite, its weights non-negative and its arguments inside the loss's domain, and the
    wrapper raises :class:`jax.experimental.checkify.JaxRuntimeError` naming the loss and
    the argument on the first violation.

    Args:
      fn: a function that calls jaxloss losses (directly or through a model and optimizer).
      static_argnames: keyword arguments of ``fn`` that are not arrays (e.g. ``"reduction"``),
        forwarded to :func:`jax.jit`.

    Returns:
      A function with ``fn``'s signature that runs ``fn`` under ``jax.jit`` with checks and
      raises on a violated one.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxloss
      >>> safe_mse = jaxloss.checked(jaxloss.mse)
      >>> float(safe_mse(jnp.array([1.0, 2.0]), jnp.array([1.0, 4.0])))
      2.0
      >>> safe_mse(jnp.array([1.0, jnp.inf]), jnp.array([1.0, 4.0]))
      Traceback (most recent call last):
      ...
      jax._src.checkify.JaxRuntimeError: jaxloss.mse: predictions contain NaN or Inf ...
    """

    def with_checks(*args, **kwargs):
        with value_checks():
            return fn(*args, **kwargs)

    checkified = jax.jit(
        checkify.checkify(with_checks, errors=checkify.user_checks),
        static_argnames=tuple(static_argnames),
    )

    def run(*args, **kwargs):
        error, out = checkified(*args, **kwargs)
        error.throw()
        return out

    run.__doc__ = fn.__doc__
    run.__name__ = getattr(fn, "__name__", "checked")
    run.__wrapped__ = fn  # type: ignore[attr-defined]
    return run


def _unswitched(assertion: Callable[..., None]) -> Callable[..., None]:
    """chex's check itself, without chex's global ``disable_asserts`` switch around it."""
    check = inspect.unwrap(assertion)
    if check is assertion:  # chex keeps the undecorated check as __wrapped__ (functools.wraps)
        raise ImportError(
            f"jaxloss needs chex's undecorated {assertion.__name__}; this chex version does "
            "not expose it. Install a chex version listed in jaxloss's requirements."
        )
    return check


def require(assertion: Callable[..., None], *args: object, message: str, **kwargs: object) -> None:
    """States a shape contract with a chex assertion; raises ``ValueError(message)`` if it fails.

    ``chex.disable_asserts()`` does not turn these off. It is chex's switch for assertions
    in the user's own code; jaxloss's contracts are argument validation with documented
    errors, checked at trace time at no run-time cost, and turning off, say, the equal-shape
    check of a loss would bring back silent ``(N,)`` against ``(N, 1)`` broadcasting.

    Args:
      assertion: a chex shape or tree assertion, e.g. ``chex.assert_equal_shape``.
      *args: its arguments.
      message: the error to raise: what was passed, what was expected and how to fix it.
      **kwargs: its keyword arguments.
    """
    try:
        _unswitched(assertion)(*args, **kwargs)
    except AssertionError as err:
        raise ValueError(message) from err


def _is_known(x: object) -> bool:
    """Whether ``x`` has values at trace time (not a tracer of jit, grad, vmap, ...)."""
    return not isinstance(x, jax.core.Tracer)


def _describe_violation(value: ArrayLike, bad: np.ndarray) -> str:
    if bad.ndim == 0:
        return f"got {np.asarray(value).item()!r}"
    index = tuple(int(i) for i in np.argwhere(bad)[0])
    first = np.broadcast_to(np.asarray(value), bad.shape)[index].item()
    return f"got {int(bad.sum())} of {bad.size} values outside it, e.g. {first!r} at index {index}"


def _check_domain_statically(
    name: str, arg: str, value: jax.Array, domain: Domain, mask: jax.Array | None
) -> None:
    """Raises ValueError if ``value`` is known now and violates ``domain`` where selected.

    With a mask that is only known at run time, a scalar is still checked (it applies to
    every element), but an array is not: its masked-out entries may hold anything.
    """
    if not _is_known(value):
        return
    if mask is not None and not _is_known(mask):
        if value.ndim:
            return
        mask = None
    bad = domain.violated(value)
    if mask is not None:
        bad = bad & mask
    if not bool(jnp.any(bad)):
        return
    raise ValueError(
        f"jaxloss.{name}: {arg} must be {domain.expected}; "
        f"{_describe_violation(value, np.asarray(bad))}."
    )


def _stage_value_checks(
    name: str,
    finite: Mapping[str, jax.Array],
    domains: Mapping[str, tuple[jax.Array, Domain]],
    mask: jax.Array | None,
) -> None:
    """Run-time counterparts of the static checks, staged only inside :func:`value_checks`."""
    if not _VALUE_CHECKS.value:
        return
    selected = jnp.ones((), jnp.bool_) if mask is None else mask
    for arg, value in finite.items():
        non_finite = ~jnp.isfinite(value) & selected
        checkify.check(
            ~jnp.any(non_finite),
            f"jaxloss.{name}: {arg} contain NaN or Inf in {{count}} selected entries",
            count=jnp.sum(non_finite),
        )
    for arg, (value, domain) in domains.items():
        violated = domain.violated(value) & selected
        checkify.check(
            ~jnp.any(violated),
            f"jaxloss.{name}: {arg} must be {domain.expected}; {{count}} selected entries are not",
            count=jnp.sum(violated),
        )


def _check_real_dtype(name: str, arg: str, x: jax.Array) -> None:
    if not (
        jnp.issubdtype(x.dtype, jnp.floating)
        or jnp.issubdtype(x.dtype, jnp.integer)
        or x.dtype == jnp.bool_
    ):
        raise TypeError(
            f"jaxloss.{name}: {arg} has dtype {x.dtype}; "
            "expected a real dtype (float, int or bool)."
        )


def compute_dtype(*arrays: jax.Array) -> jnp.dtype:
    """The dtype a loss computes and returns in: the inputs' float type, at least float32.

    Integers and booleans become the default float dtype (float32, or float64 under
    ``jax_enable_x64``); float16 and bfloat16 are computed and accumulated in float32, since a
    half-precision running sum stalls once it is 2^11 (float16) or 2^8 (bfloat16) times
    larger than the terms it adds.
    """
    with jax.numpy_dtype_promotion("standard"):
        dtype = jnp.result_type(*arrays)
        if not jnp.issubdtype(dtype, jnp.floating):
            dtype = jnp.result_type(float)
        return jnp.promote_types(dtype, jnp.float32)


def _shape_fix_hint(p: tuple[int, ...], t: tuple[int, ...]) -> str:
    if p == (*t, 1):
        return (
            "drop the trailing axis with predictions.squeeze(-1) or add one to targets[..., None]"
        )
    if t == (*p, 1):
        return (
            "drop the trailing axis with targets.squeeze(-1) or add one to predictions[..., None]"
        )
    return "reshape one of them so both have the same shape; jaxloss never broadcasts them"


def as_data(name: str, predictions: ArrayLike, targets: ArrayLike) -> tuple[jax.Array, ...]:
    """Validates predictions and targets and casts both to the compute dtype."""
    p = jnp.asarray(predictions)
    t = jnp.asarray(targets)
    _check_real_dtype(name, "predictions", p)
    _check_real_dtype(name, "targets", t)
    # (N,) against (N, 1) would otherwise broadcast to (N, N): a silent, quadratic bug.
    require(
        chex.assert_equal_shape,
        (p, t),
        message=f"jaxloss.{name}: predictions shape {p.shape} and targets shape {t.shape} "
        f"differ; {_shape_fix_hint(p.shape, t.shape)}.",
    )
    dtype = compute_dtype(p, t)
    return p.astype(dtype), t.astype(dtype)


def _prefix_operand(name: str, arg: str, x: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """A scalar, the full ``shape`` or a leading prefix of it, with trailing unit axes added."""
    prefixes = ", ".join(str(shape[:k]) for k in range(1, len(shape)))
    expected = f"a scalar, {shape}" + (f", or a leading prefix ({prefixes})" if prefixes else "")
    message = (
        f"jaxloss.{name}: {arg} has shape {x.shape}, which does not fit data of shape {shape}; "
        f"expected {expected}."
    )
    require(chex.assert_rank, x, set(range(len(shape) + 1)), message=message)
    data = jax.ShapeDtypeStruct(shape, x.dtype)
    require(chex.assert_equal_shape_prefix, (x, data), x.ndim, message=message)
    return x if x.ndim == 0 else x.reshape(x.shape + (1,) * (len(shape) - x.ndim))


def as_weights(
    name: str, weights: ArrayLike | None, shape: tuple[int, ...], dtype: jnp.dtype
) -> jax.Array | None:
    if weights is None:
        return None
    w = jnp.asarray(weights)
    _check_real_dtype(name, "weights", w)
    return _prefix_operand(name, "weights", w, shape).astype(dtype)


def as_mask(name: str, where: ArrayLike | None, shape: tuple[int, ...]) -> jax.Array | None:
    if where is None:
        return None
    m = jnp.asarray(where)
    if m.dtype != jnp.bool_:
        raise TypeError(
            f"jaxloss.{name}: where has dtype {m.dtype}; expected bool (True selects an element). "
            "Use weights= for numeric weights."
        )
    return _prefix_operand(name, "where", m, shape)


def as_param(
    name: str, arg: str, value: ArrayLike, shape: tuple[int, ...], dtype: jnp.dtype
) -> jax.Array:
    """A hyperparameter or per-element operand: a scalar or a same-rank broadcastable array.

    Same rank is required so that nothing is rank-promoted: ``(1, K)`` gives one value per
    output of ``(N, K)`` data and ``(N, 1)`` one per sample, but ``(K,)`` is refused because
    it reads as a prefix for weights and as a suffix under NumPy broadcasting.
    """
    x = jnp.asarray(value)
    _check_real_dtype(name, arg, x)
    message = (
        f"jaxloss.{name}: {arg} has shape {x.shape}, which does not fit data of shape "
        f"{shape}; expected a scalar or an array of rank {len(shape)} whose axes are 1 or "
        f"match {shape}."
    )
    require(chex.assert_rank, x, {0, len(shape)}, message=message)
    require(chex.assert_is_broadcastable, x.shape, shape, message=message)
    return x.astype(dtype)


def check_reduction(name: str, reduction: object, allowed: tuple[str, ...] = REDUCTIONS) -> str:
    if not isinstance(reduction, str) or reduction not in allowed:
        valid = ", ".join(repr(r) for r in allowed)
        raise ValueError(f"jaxloss.{name}: reduction={reduction!r} is not one of {valid}.")
    return reduction


def normalize_axis(name: str, axis: Axis, ndim: int, reduction: str) -> tuple[int, ...]:
    """The reduced axes as sorted non-negative ints; ``None`` means all of them."""
    if reduction == "none":
        if axis is not None:
            raise ValueError(
                f"jaxloss.{name}: axis={axis!r} has no effect with reduction='none'; "
                "drop axis, or use reduction='mean' or 'sum'."
            )
        return ()
    if axis is None:
        return tuple(range(ndim))
    axes = tuple(axis) if isinstance(axis, tuple | list) else (axis,)
    normalized = []
    for a in axes:
        if isinstance(a, bool) or not isinstance(a, int | np.integer) or not -ndim <= a < ndim:
            raise ValueError(
                f"jaxloss.{name}: axis={axis!r} is invalid for data of rank {ndim}; "
                f"expected None, or ints in [{-ndim}, {ndim - 1}]."
            )
        normalized.append(int(a) % ndim)
    if len(set(normalized)) != len(normalized):
        raise ValueError(f"jaxloss.{name}: axis={axis!r} repeats an axis.")
    return tuple(sorted(normalized))


def safe_divide(numerator: jax.Array, denominator: jax.Array) -> jax.Array:
    """``numerator / denominator``, and 0 with a zero gradient where ``denominator <= 0``."""
    positive = denominator > 0
    # The inner where keeps the unused branch finite, so its gradient cannot leak a NaN.
    safe = jnp.where(positive, denominator, jnp.ones_like(denominator))
    return jnp.where(positive, numerator / safe, jnp.zeros_like(numerator))


def reduce(
    elementwise: jax.Array,
    weights: jax.Array | None,
    mask: jax.Array | None,
    axes: tuple[int, ...],
    reduction: str,
) -> jax.Array:
    """Applies weights and mask to an elementwise loss and reduces it over ``axes``."""
    if weights is None and mask is None:
        if reduction == "none":
            return elementwise
        if reduction == "sum":
            return jnp.sum(elementwise, axis=axes)
        if math.prod(elementwise.shape[a] for a in axes) == 0:
            kept = [n for i, n in enumerate(elementwise.shape) if i not in axes]
            return jnp.zeros(kept, elementwise.dtype)
        return jnp.mean(elementwise, axis=axes)

    dtype = elementwise.dtype
    w = jnp.ones((), dtype) if weights is None else weights
    if mask is not None:
        w = jnp.where(mask, w, jnp.zeros((), dtype))
    w = jnp.broadcast_to(w, elementwise.shape)
    weighted = w * elementwise
    if reduction == "none":
        return weighted
    total = jnp.sum(weighted, axis=axes)
    if reduction == "sum":
        return total
    return safe_divide(total, jnp.sum(w, axis=axes))


@dataclasses.dataclass(frozen=True)
class Inputs:
    """Validated inputs in the compute dtype, with masked-out entries replaced by stand-ins.

    ``weights`` and ``mask`` keep their compact shapes (a scalar or trailing unit axes), so
    an unweighted call compiles to exactly the plain formula.
    """

    predictions: jax.Array
    targets: jax.Array
    weights: jax.Array | None
    mask: jax.Array | None
    params: dict[str, jax.Array]


def prepare(
    name: str,
    predictions: ArrayLike,
    targets: ArrayLike,
    *,
    weights: ArrayLike | None,
    where: ArrayLike | None,
    params: Mapping[str, ArrayLike] | None = None,
    domains: Mapping[str, Domain] | None = None,
) -> Inputs:
    """Validates and casts everything a loss or a metric gets, and checks the domains.

    Args:
      name: the public name, used in every error message.
      predictions: as in every public loss.
      targets: as in every public loss.
      weights: as in every public loss.
      where: as in every public loss.
      params: hyperparameters and per-element operands, each a scalar or same-rank array.
      domains: required ranges, keyed by ``"predictions"``, ``"targets"`` or a ``params`` key.

    Returns:
      The prepared inputs. Where ``where`` excludes an entry, predictions and targets are 0
      and full-shape parameters are 1: the consumer must be finite there.
    """
    # Values known at trace time (NumPy arrays, Python numbers, concrete JAX arrays) stay
    # concrete even inside jit, so a Python number closed over by a jitted step is checked.
    # Tracers are still traced: this changes nothing for values known only at run time.
    with jax.ensure_compile_time_eval():
        p, t = as_data(name, predictions, targets)
        shape, dtype = p.shape, p.dtype
        hyper = {k: as_param(name, k, v, shape, dtype) for k, v in (params or {}).items()}
        w = as_weights(name, weights, shape, dtype)
        mask = as_mask(name, where, shape)

        values = {"predictions": p, "targets": t, **hyper}
        checked_domains = {arg: (values[arg], d) for arg, d in (domains or {}).items()}
        if w is not None:
            checked_domains["weights"] = (w, NONNEGATIVE)
        for arg, (value, domain) in checked_domains.items():
            _check_domain_statically(name, arg, value, domain, mask)
    finite = {"predictions": p, "targets": t} | ({} if w is None else {"weights": w})
    _stage_value_checks(name, finite, checked_domains, mask)

    if mask is not None:
        # Masked-out entries often hold padding garbage. Replacing the inputs, not just the
        # output, keeps both the value and the gradient of an excluded entry finite
        # (the "double where"): 0 * NaN would otherwise still be NaN.
        full = jnp.broadcast_to(mask, shape)
        zero, one = jnp.zeros((), dtype), jnp.ones((), dtype)
        p = jnp.where(full, p, zero)
        t = jnp.where(full, t, zero)
        hyper = {k: jnp.where(full, v, one) if v.shape == shape else v for k, v in hyper.items()}
    return Inputs(p, t, w, mask, hyper)


def prepare_ensemble(
    name: str,
    predictions: ArrayLike,
    targets: ArrayLike,
    member_axis: int,
    *,
    weights: ArrayLike | None,
    where: ArrayLike | None,
) -> Inputs:
    """:func:`prepare` for an ensemble: ``predictions`` has one more axis, of members.

    Removing ``member_axis`` from the predictions' shape must give the targets' shape
    exactly (never broadcast); weights and masks are shaped against the targets.

    Returns:
      The prepared inputs, the members moved to the last axis of ``predictions``; where
      ``where`` excludes an entry its members and target are 0.
    """
    with jax.ensure_compile_time_eval():
        x, t = jnp.asarray(predictions), jnp.asarray(targets)
        _check_real_dtype(name, "predictions", x)
        _check_real_dtype(name, "targets", t)
        if isinstance(member_axis, bool) or not isinstance(member_axis, int):
            raise TypeError(f"jaxloss.{name}: member_axis must be an int; got {member_axis!r}.")
        if not -x.ndim <= member_axis < max(x.ndim, 1):
            raise ValueError(
                f"jaxloss.{name}: member_axis={member_axis} is out of range for predictions "
                f"of shape {x.shape}."
            )
        rest = x.shape[: member_axis % x.ndim] + x.shape[member_axis % x.ndim + 1 :]
        if rest != t.shape:
            raise ValueError(
                f"jaxloss.{name}: predictions of shape {x.shape} without their member axis "
                f"{member_axis} have shape {rest}, which differs from targets' {t.shape}; "
                "predictions must be targets' shape with one extra axis of ensemble members "
                "(set member_axis to where it is)."
            )
        dtype = compute_dtype(x, t)
        x = jnp.moveaxis(x, member_axis, -1).astype(dtype)
        t = t.astype(dtype)
        w = as_weights(name, weights, t.shape, dtype)
        mask = as_mask(name, where, t.shape)
        if w is not None:
            _check_domain_statically(name, "weights", w, NONNEGATIVE, mask)
    member_mask = None if mask is None else mask[..., None]
    _stage_value_checks(name, {"predictions": x}, {}, member_mask)
    _stage_value_checks(name, {"targets": t} | ({} if w is None else {"weights": w}),
                        {} if w is None else {"weights": (w, NONNEGATIVE)}, mask)  # fmt: skip
    if mask is not None:
        full = jnp.broadcast_to(mask, t.shape)
        zero = jnp.zeros((), dtype)
        x = jnp.where(full[..., None], x, zero)
        t = jnp.where(full, t, zero)
    return Inputs(x, t, w, mask, {})


def elementwise_loss(
    name: str,
    formula: Callable[..., jax.Array],
    predictions: ArrayLike,
    targets: ArrayLike,
    *,
    weights: ArrayLike | None,
    where: ArrayLike | None,
    axis: Axis,
    reduction: str,
    params: Mapping[str, ArrayLike] | None = None,
    domains: Mapping[str, Domain] | None = None,
    reductions: tuple[str, ...] = REDUCTIONS,
) -> jax.Array:
    """Evaluates ``formula(p, t, **params)`` under the shared contract and reduces it.

    Args:
      name: the public loss name, used in every error message.
      formula: the elementwise loss; gets predictions, targets and ``params`` cast to the
        compute dtype, and must be finite where predictions and targets are 0 and every
        parameter is 1 (the stand-in values of masked-out entries).
      predictions: as in every public loss.
      targets: as in every public loss.
      weights: as in every public loss.
      where: as in every public loss.
      axis: as in every public loss.
      reduction: as in every public loss.
      params: hyperparameters and per-element operands, each a scalar or same-rank array.
      domains: required ranges, keyed by ``"predictions"``, ``"targets"`` or a ``params`` key.
      reductions: the reductions this loss accepts.

    Returns:
      The reduced loss in the compute dtype.
    """
    reduction = check_reduction(name, reduction, reductions)
    inputs = prepare(
        name, predictions, targets, weights=weights, where=where, params=params, domains=domains
    )
    axes = normalize_axis(name, axis, inputs.predictions.ndim, reduction)
    elementwise = formula(inputs.predictions, inputs.targets, **inputs.params)
    return reduce(elementwise, inputs.weights, inputs.mask, axes, reduction)
