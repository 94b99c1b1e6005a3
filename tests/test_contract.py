"""The contract shared by every loss: errors, weights, masks, axes, reduction and dtypes."""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest
from jax.experimental import checkify

import jaxloss

from .cases import BY_NAME, CASES

ALL = pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)


def _data(case, shape=(6, 3), seed=0):
    return case.sample(np.random.default_rng(seed), shape)


# --------------------------------------------------------------------------------------------
# Errors that say what was passed and what was expected.
# --------------------------------------------------------------------------------------------


@ALL
def test_column_against_flat_is_refused_with_both_shapes_and_a_fix(case):
    p, t = _data(case, (8,))
    message = r"predictions shape \(8,\) and targets shape \(8, 1\) differ.*squeeze"
    with pytest.raises(ValueError, match=message):
        case.loss(p, t[:, None])
    with pytest.raises(ValueError, match=r"\(8, 1\) and targets shape \(8,\)"):
        jax.jit(case.loss)(p[:, None], t)


def test_other_shape_mismatch_names_the_loss():
    with pytest.raises(
        ValueError,
        match=r"jaxloss\.huber: predictions shape \(3, 2\) and "
        r"targets shape \(2, 3\) differ",
    ):
        jaxloss.huber(jnp.zeros((3, 2)), jnp.zeros((2, 3)))


@pytest.mark.parametrize("arg", ["weights", "where"])
@pytest.mark.parametrize("bad_shape", [(3,), (6, 1), (1, 3), (6, 3, 1), (2, 3)])
def test_weights_and_where_must_be_scalar_full_or_leading_prefix(arg, bad_shape):
    value = np.ones(bad_shape, bool if arg == "where" else np.float32)
    pattern = (
        rf"jaxloss\.mse: {arg} has shape {re.escape(str(bad_shape))}, which does not fit data "
        r"of shape \(6, 3\); expected a scalar, \(6, 3\), or a leading prefix \(\(6,\)\)"
    )
    with pytest.raises(ValueError, match=pattern):
        jaxloss.mse(np.zeros((6, 3)), np.zeros((6, 3)), **{arg: value})


def test_where_must_be_boolean():
    with pytest.raises(TypeError, match=r"where has dtype float32; expected bool.*weights="):
        jaxloss.mae(jnp.zeros(3), jnp.zeros(3), where=jnp.ones(3))


@ALL
def test_unknown_reduction_lists_the_valid_ones(case):
    p, t = _data(case)
    with pytest.raises(ValueError, match=r"reduction='avg' is not one of 'mean', 'sum', 'none'"):
        case.loss(p, t, reduction="avg")


def test_rmse_refuses_reduction_none_and_says_what_to_use():
    with pytest.raises(ValueError, match=r"rmse: reduction='none' is not supported.*jaxloss.mae"):
        jaxloss.rmse(jnp.zeros(3), jnp.zeros(3), reduction="none")


@pytest.mark.parametrize(
    ("axis", "message"),
    [
        (2, r"axis=2 is invalid for data of rank 2; expected None, or ints in \[-2, 1\]"),
        (-3, r"axis=-3 is invalid"),
        ((0, 0), r"axis=\(0, 0\) repeats an axis"),
        ((0, -2), r"repeats an axis"),
        (1.0, r"axis=1.0 is invalid"),
        (True, r"axis=True is invalid"),
    ],
)
def test_bad_axis(axis, message):
    with pytest.raises(ValueError, match=message):
        jaxloss.mse(jnp.zeros((2, 3)), jnp.zeros((2, 3)), axis=axis)


def test_axis_with_reduction_none_is_refused():
    with pytest.raises(ValueError, match=r"axis=0 has no effect with reduction='none'"):
        jaxloss.mse(jnp.zeros((2, 3)), jnp.zeros((2, 3)), axis=0, reduction="none")


def test_negative_weights_known_at_trace_time_are_refused():
    w = np.array([1.0, 2.0, -0.5, 1.0])
    with pytest.raises(
        ValueError,
        match=r"mse: weights must be >= 0; got 1 of 4 values outside "
        r"it, e.g. -0.5 at index \(2,\)",
    ):
        jaxloss.mse(np.zeros(4), np.ones(4), weights=w)
    with pytest.raises(ValueError, match=r"weights must be >= 0; got -1.0"):
        jaxloss.mse(np.zeros(4), np.ones(4), weights=-1.0)
    # excluded by `where`, a negative weight is not used and not an error
    np.testing.assert_allclose(jaxloss.mse(np.zeros(4), np.ones(4), weights=w, where=w >= 0), 1.0)


def test_negative_weights_under_jit_follow_the_formula_as_documented():
    # Not detectable at trace time: Σ w·ℓ / Σ w as written, and 0 where Σ w <= 0.
    w = jnp.array([2.0, -1.0])
    got = jax.jit(jaxloss.mse)(jnp.array([1.0, 3.0]), jnp.zeros(2), weights=w)
    np.testing.assert_allclose(got, (2 * 1 - 9) / 1.0)
    got = jax.jit(jaxloss.mse)(jnp.array([1.0, 3.0]), jnp.zeros(2), weights=-w)
    assert float(got) == 0.0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: jaxloss.msle(np.array([0.0, -1.0]), np.zeros(2)),
            r"msle: predictions must be > -1; got 1 of 2 values outside it, "
            r"e.g. -1.0 at index \(1,\)",
        ),
        (lambda: jaxloss.msle(np.zeros(2), np.array([-3.0, 1.0])), r"msle: targets must be > -1"),
        (
            lambda: jaxloss.poisson_nll(np.zeros(2), np.array([1.0, -1.0])),
            r"poisson_nll: targets must be >= 0",
        ),
        (
            lambda: jaxloss.poisson_nll(np.array([-0.1, 1.0]), np.ones(2), log_input=False),
            r"poisson_nll: predictions must be >= 0",
        ),
        (
            lambda: jaxloss.gaussian_nll(np.zeros(2), np.zeros(2), np.array([1.0, -0.1])),
            r"gaussian_nll: variance must be >= 0",
        ),
        (
            lambda: jaxloss.pinball(np.zeros(2), np.zeros(2), quantile=1.5),
            r"pinball: quantile must be in \[0, 1\]; got 1.5",
        ),
        (
            lambda: jaxloss.huber(np.zeros(2), np.zeros(2), delta=0.0),
            r"huber: delta must be > 0; got 0.0",
        ),
        (
            lambda: jaxloss.pseudo_huber(np.zeros(2), np.zeros(2), delta=-1.0),
            r"pseudo_huber: delta must be > 0",
        ),
        (
            lambda: jaxloss.robust(np.zeros(2), np.zeros(2), alpha=1.0, scale=0.0),
            r"robust: scale must be > 0",
        ),
        (lambda: jaxloss.mape(np.zeros(2), np.zeros(2), eps=0.0), r"mape: eps must be > 0"),
    ],
)
def test_out_of_domain_values_known_at_trace_time_are_refused(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_out_of_domain_under_jit_stays_finite_as_documented():
    got = jax.jit(jaxloss.msle)(jnp.array([-2.0]), jnp.array([0.0]))
    floor = np.float32(1e-7) - np.float32(1.0)  # -1 + eps, rounded to float32
    np.testing.assert_allclose(got, np.log1p(np.float64(floor)) ** 2, rtol=1e-5)


def test_hyperparameter_shapes():
    p = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    t = np.zeros((5, 3), np.float32)
    q = np.array([[0.1, 0.5, 0.9]], np.float32)
    per_output = jaxloss.pinball(p, t, quantile=q, axis=0)
    for k in range(3):
        np.testing.assert_allclose(
            per_output[k], jaxloss.pinball(p[:, k], t[:, k], quantile=q[0, k])
        )
    with pytest.raises(
        ValueError,
        match=r"pinball: quantile has shape \(3,\), which does not fit "
        r"data of shape \(5, 3\); expected a scalar or an array "
        r"of rank 2",
    ):
        jaxloss.pinball(p, t, quantile=q[0])
    with pytest.raises(ValueError, match=r"gaussian_nll: variance has shape \(5, 2\)"):
        jaxloss.gaussian_nll(p, t, np.ones((5, 2), np.float32))


def test_flags_must_be_python_bools():
    with pytest.raises(TypeError, match=r"poisson_nll: log_input must be a Python bool"):
        jaxloss.poisson_nll(jnp.zeros(2), jnp.zeros(2), log_input=jnp.array(True))
    with pytest.raises(TypeError, match=r"gaussian_nll: full must be a Python bool"):
        jaxloss.gaussian_nll(jnp.zeros(2), jnp.zeros(2), 1.0, full=1)


def test_complex_inputs_are_refused():
    with pytest.raises(TypeError, match=r"mse: predictions has dtype complex64; expected a real"):
        jaxloss.mse(jnp.zeros(2, jnp.complex64), jnp.zeros(2))


# --------------------------------------------------------------------------------------------
# Semantics: metamorphic relations between arguments.
# --------------------------------------------------------------------------------------------


@ALL
def test_where_equals_slicing(case):
    p, t = _data(case, (9,), seed=1)
    mask = np.array([1, 0, 1, 1, 0, 1, 1, 1, 0], bool)
    np.testing.assert_allclose(case.loss(p, t, where=mask), case.loss(p[mask], t[mask]), rtol=1e-6)
    np.testing.assert_allclose(
        case.loss(p, t, where=mask, reduction="sum"),
        case.loss(p[mask], t[mask], reduction="sum"),
        rtol=1e-6,
    )


@ALL
def test_masked_garbage_cannot_poison_value_or_gradient(case):
    p, t = _data(case, (6,), seed=2)
    mask = np.array([1, 1, 0, 1, 0, 1], bool)
    p_bad, t_bad = p.copy(), t.copy()
    p_bad[~mask], t_bad[~mask] = np.nan, -np.inf

    def f(p):
        return case.loss(p, t_bad, where=mask)

    value, grad = jax.value_and_grad(f)(p_bad)
    np.testing.assert_allclose(value, case.loss(p[mask], t[mask]), rtol=1e-6)
    assert np.all(np.isfinite(grad)) and np.all(np.asarray(grad)[~mask] == 0)


@ALL
@pytest.mark.parametrize("how", ["zero_weights", "all_masked", "empty"])
def test_zero_total_weight_gives_zero_with_zero_gradient(case, how):
    p, t = _data(case, (0,) if how == "empty" else (5,), seed=3)
    kwargs = {
        "zero_weights": {"weights": np.zeros(5, np.float32)},
        "all_masked": {"where": np.zeros(5, bool)},
        "empty": {},
    }[how]
    value, grad = jax.value_and_grad(lambda p: case.loss(p, t, **kwargs))(p)
    assert float(value) == 0.0
    assert np.all(np.asarray(grad) == 0)


def test_zero_weight_for_one_output_only():
    p = jnp.ones((4, 2))
    w = jnp.array([[1.0, 0.0]] * 4)
    np.testing.assert_allclose(jaxloss.mse(p, jnp.zeros((4, 2)), weights=w, axis=0), [1.0, 0.0])


@ALL
@pytest.mark.parametrize("axis", [1, 2, -1, (0, 2)])
def test_axis_equals_moveaxis_then_axis_zero(case, axis):
    p, t = _data(case, (4, 5, 3), seed=4)
    got = case.loss(p, t, axis=axis)
    axes = (axis,) if isinstance(axis, int) else axis
    moved_p = np.moveaxis(p, axes, range(len(axes)))
    moved_t = np.moveaxis(t, axes, range(len(axes)))
    expected = case.loss(moved_p, moved_t, axis=tuple(range(len(axes))))
    np.testing.assert_allclose(got, expected, rtol=1e-6)


@ALL
def test_unreduced_sum_equals_sum_and_mean_is_sum_over_weight(case):
    p, t = _data(case, seed=5)
    w = np.random.default_rng(5).uniform(0, 2, size=6).astype(np.float32)
    none = np.asarray(case.loss(p, t, weights=w, reduction="none"), np.float64)
    np.testing.assert_allclose(case.loss(p, t, weights=w, reduction="sum"), none.sum(), rtol=1e-5)
    np.testing.assert_allclose(case.loss(p, t, weights=w), none.sum() / (3 * w.sum()), rtol=1e-5)


@ALL
def test_prefix_weights_equal_broadcast_weights(case):
    p, t = _data(case, seed=6)
    w = np.random.default_rng(6).uniform(0, 2, size=6).astype(np.float32)
    full = np.broadcast_to(w[:, None], (6, 3))
    np.testing.assert_allclose(case.loss(p, t, weights=w), case.loss(p, t, weights=full), rtol=1e-6)


@ALL
def test_integer_weights_equal_repeating_samples(case):
    p, t = _data(case, (7, 2), seed=7)
    counts = np.array([1, 3, 0, 2, 1, 4, 1])
    got = case.loss(p, t, weights=counts, axis=0)
    expected = case.loss(np.repeat(p, counts, axis=0), np.repeat(t, counts, axis=0), axis=0)
    np.testing.assert_allclose(got, expected, rtol=1e-5)


# --------------------------------------------------------------------------------------------
# Dtype policy.
# --------------------------------------------------------------------------------------------


@ALL
@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16, jnp.int32, jnp.bool_])
def test_low_precision_and_integer_inputs_compute_in_float32(case, dtype):
    p, t = _data(case, seed=8)
    if dtype == jnp.bool_:
        p, t = p > 0.5, t > 0.5
    p_low, t_low = jnp.asarray(p).astype(dtype), jnp.asarray(t).astype(dtype)
    got = case.loss(p_low, t_low, weights=np.ones(6, np.float32))
    assert got.dtype == jnp.float32
    p64 = np.asarray(p_low.astype(jnp.float32), np.float64)
    t64 = np.asarray(t_low.astype(jnp.float32), np.float64)
    np.testing.assert_allclose(got, case.ref(p64, t64).mean(), rtol=1e-5, atol=1e-6)


def test_mixed_precision_under_strict_promotion():
    assert jax.config.jax_numpy_dtype_promotion == "strict"  # set by conftest
    got = jaxloss.huber(jnp.ones(3, jnp.bfloat16), jnp.zeros(3, jnp.float32), delta=0.5)
    assert got.dtype == jnp.float32
    np.testing.assert_allclose(got, 0.375)


@pytest.mark.parametrize("name", ["mse", "mae", "huber", "log_cosh", "robust"])
@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16])
def test_million_half_precision_residuals_match_float64_reference(name, dtype):
    rng = np.random.default_rng(9)
    n = 1_000_000
    np_dtype = ml_dtypes.bfloat16 if dtype == jnp.bfloat16 else np.float16
    p = (rng.normal(size=n) + 3.0).astype(np_dtype)
    t = rng.normal(size=n).astype(np_dtype)
    case = BY_NAME[name]
    expected = case.ref(p.astype(np.float64), t.astype(np.float64)).mean()
    got = jax.jit(case.loss)(jnp.asarray(p), jnp.asarray(t))
    assert got.dtype == jnp.float32
    np.testing.assert_allclose(got, expected, rtol=1e-3)


def test_float64_and_integers_under_x64():
    with jax.enable_x64(True):
        assert jaxloss.mse(np.ones(3), np.zeros(3)).dtype == jnp.float64
        assert jaxloss.mse(np.ones(3, np.int64), np.zeros(3, np.int64)).dtype == jnp.float64
        assert jaxloss.mse(np.ones(3, np.float32), np.zeros(3, np.float32)).dtype == jnp.float32


def test_python_and_list_inputs():
    np.testing.assert_allclose(jaxloss.mse([1, 2], [1, 4]), 2.0)
    assert jaxloss.mae(3.0, 1.0).shape == ()


# --------------------------------------------------------------------------------------------
# Opt-in value checks under jit.
# --------------------------------------------------------------------------------------------


def test_default_path_stages_no_checks():
    jaxpr = str(
        jax.make_jaxpr(lambda p, t, w: jaxloss.msle(p, t, weights=w))(
            jnp.zeros(3), jnp.zeros(3), jnp.ones(3)
        )
    )
    assert "check" not in jaxpr


@pytest.mark.parametrize(
    ("fn", "args", "message"),
    [
        (
            jaxloss.mse,
            (jnp.array([1.0, jnp.nan]), jnp.zeros(2)),
            "mse: predictions contain NaN or Inf in 1 selected entries",
        ),
        (
            jaxloss.huber,
            (jnp.zeros(2), jnp.array([jnp.inf, 0.0])),
            "huber: targets contain NaN or Inf",
        ),
        (
            lambda p, t: jaxloss.mae(p, t, weights=jnp.array([1.0, -1.0])),
            (jnp.zeros(2), jnp.zeros(2)),
            "mae: weights must be >= 0; 1 selected entries are not",
        ),
        (jaxloss.msle, (jnp.array([-2.0, 0.0]), jnp.zeros(2)), "msle: predictions must be > -1"),
        (
            jaxloss.poisson_nll,
            (jnp.zeros(2), jnp.array([-1.0, 2.0])),
            "poisson_nll: targets must be >= 0",
        ),
        (
            jaxloss.gaussian_nll,
            (jnp.zeros(2), jnp.zeros(2), jnp.array([-1.0, 1.0])),
            "gaussian_nll: variance must be >= 0",
        ),
        (
            lambda p, t, q: jaxloss.pinball(p, t, quantile=q),
            (jnp.zeros(2), jnp.zeros(2), 2.0),
            "pinball: quantile must be in",
        ),
    ],
)
def test_checked_raises_under_jit(fn, args, message):
    with pytest.raises(checkify.JaxRuntimeError, match=re.escape(message)):
        jaxloss.checked(fn)(*args)


def test_checked_passes_good_values_and_respects_where():
    p = jnp.array([1.0, jnp.nan, 3.0])
    t = jnp.array([0.0, 0.0, 1.0])
    mask = jnp.array([True, False, True])
    got = jaxloss.checked(lambda p, t, m: jaxloss.mse(p, t, where=m))(p, t, mask)
    np.testing.assert_allclose(got, 2.5)
    step = jaxloss.checked(jaxloss.huber, static_argnames=("reduction",))
    np.testing.assert_allclose(step(jnp.ones(2), jnp.zeros(2), reduction="sum"), 1.0)


def test_checked_inside_a_training_step():
    def step(w, x, y):
        loss, grad = jax.value_and_grad(lambda w: jaxloss.mse(x @ w, y))(w)
        return w - 0.1 * grad, loss

    checked_step = jaxloss.checked(step)
    x, y = jnp.ones((4, 2)), jnp.ones(4)
    w, _ = checked_step(jnp.zeros(2), x, y)
    with pytest.raises(checkify.JaxRuntimeError, match="mse: predictions contain NaN"):
        checked_step(w.at[0].set(jnp.nan), x, y)


# --------------------------------------------------------------------------------------------
# Regressions: the checks switch and the jit cache, Python numbers inside jit, chex's switch.
# --------------------------------------------------------------------------------------------


def _checkified_under_value_checks(fn):
    def with_checks(*args):
        with jaxloss.value_checks():
            return fn(*args)

    return jax.jit(checkify.checkify(with_checks, errors=checkify.user_checks))


def test_value_checks_are_not_lost_in_a_jit_cache_filled_without_them():
    jitted = jax.jit(lambda p, t: jaxloss.mse(p, t))
    bad = (jnp.array([jnp.nan, 1.0]), jnp.zeros(2))
    assert jnp.isnan(jitted(*bad))  # traced and cached without checks
    error, _ = _checkified_under_value_checks(jitted)(*bad)
    with pytest.raises(checkify.JaxRuntimeError, match="mse: predictions contain NaN"):
        error.throw()


def test_a_jit_cache_filled_with_value_checks_is_not_reused_without_them():
    jitted = jax.jit(lambda p, t: jaxloss.mse(p, t))
    bad = (jnp.array([jnp.nan, 1.0]), jnp.zeros(2))
    error, _ = _checkified_under_value_checks(jitted)(*bad)  # traced with checks first
    assert error.get() is not None
    assert jnp.isnan(jitted(*bad))  # a plain call: no unfunctionalized checkify.check
    with jaxloss.value_checks():  # the staged finiteness check, then none without the block
        assert "is_finite" in str(jax.make_jaxpr(checkify.checkify(jitted))(*bad))
    assert "is_finite" not in str(jax.make_jaxpr(checkify.checkify(jitted))(*bad))


@pytest.mark.parametrize(
    ("step", "message"),
    [
        (lambda p, t: jaxloss.huber(p, t, delta=-1.0), r"huber: delta must be > 0; got -1.0"),
        (lambda p, t: jaxloss.pinball(p, t, quantile=2), r"pinball: quantile must be in \[0, 1\]"),
        (
            lambda p, t: jaxloss.mse(p, t, weights=np.array([1.0, -2.0, 1.0])),
            r"mse: weights must be >= 0; got 1 of 3 values outside it, e.g. -2.0",
        ),
        (
            lambda p, t: jaxloss.msle(p, np.array([0.0, -1.5, 0.0])),
            r"msle: targets must be > -1",
        ),
        # a traced mask cannot excuse a scalar: it applies to every selected element
        (
            lambda p, t: jaxloss.robust(p, t, alpha=1.0, scale=0.0, where=p > 0),
            r"robust: scale must be > 0",
        ),
    ],
)
def test_values_closed_over_inside_jit_are_domain_checked_at_trace_time(step, message):
    with pytest.raises(ValueError, match=message):
        jax.jit(step)(jnp.ones(3), jnp.zeros(3))
    with pytest.raises(ValueError, match=message):
        jax.jit(jax.grad(step))(jnp.ones(3), jnp.zeros(3))


def test_arrays_under_a_traced_mask_are_not_judged_by_their_masked_out_entries():
    # Padding rows may hold anything; with the mask known only at run time they are skipped.
    targets = np.array([0.0, -5.0, 1.0])
    step = jax.jit(lambda p, m: jaxloss.msle(p, targets, where=m))
    got = step(jnp.zeros(3), jnp.array([True, False, True]))
    np.testing.assert_allclose(got, np.log1p(1.0) ** 2 / 2, rtol=1e-6)


def test_traced_values_are_still_traced_and_compile_to_the_same_program():
    p, t = jnp.ones(3), jnp.zeros(3)
    traced = jax.jit(lambda p, t, d: jaxloss.huber(p, t, delta=d)).lower(p, t, 2.0)
    closed = jax.jit(lambda p, t: jaxloss.huber(p, t, delta=2.0)).lower(p, t)
    np.testing.assert_allclose(traced.compile()(p, t, 2.0), closed.compile()(p, t))
    np.testing.assert_allclose(closed.compile()(p, t), 0.5)


def test_chex_disable_asserts_leaves_the_shape_contract_in_force():
    import chex

    chex.disable_asserts()
    try:
        with pytest.raises(ValueError, match=r"predictions shape \(4,\) and targets shape"):
            jaxloss.mse(jnp.ones(4), jnp.zeros((4, 1)))
        with pytest.raises(ValueError, match=r"weights has shape \(3,\)"):
            jaxloss.mse(jnp.ones((4, 2)), jnp.zeros((4, 2)), weights=jnp.ones(3))
        with pytest.raises(ValueError, match=r"quantile has shape \(2,\)"):
            jaxloss.pinball(jnp.ones((4, 2)), jnp.zeros((4, 2)), quantile=jnp.ones(2))
    finally:
        chex.enable_asserts()
