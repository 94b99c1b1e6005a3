"""The accumulators beyond MSE against scipy, scikit-learn, properscoring and float64 NumPy,
on random splits merged in random trees, with weights, masks and several outputs."""

from __future__ import annotations

import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import properscoring
import pytest
from scipy import stats
from sklearn import metrics as skm

import jaxloss
from jaxloss import metrics

from .multidevice import run_with_devices
from .splits import stream

# --------------------------------------------------------------------------------------------
# Pearson, CCC and adjusted R² (Regression).
# --------------------------------------------------------------------------------------------


def _ccc(p, t):
    p, t = p.astype(np.float64), t.astype(np.float64)
    covariance = np.mean((p - p.mean()) * (t - t.mean()))
    return 2 * covariance / (p.var() + t.var() + (p.mean() - t.mean()) ** 2)


@pytest.mark.parametrize("layout", ["shuffled", "ordered_by_target", "offset_1e5"])
def test_pearson_and_ccc_match_scipy_and_float64_on_any_split(layout):
    rng = np.random.default_rng(20)
    n = 20_000
    t = rng.normal(size=n) * 3.0
    p = 0.7 * t + rng.normal(size=n) * 2.0 + 0.4
    if layout == "ordered_by_target":  # Keras' streamed Pearson gave 0.078 for 0.705 here
        order = np.argsort(t)
        t, p = t[order], p[order]
    if layout == "offset_1e5":
        t, p = t + 1e5, p + 1e5
    t, p = t.astype(np.float32), p.astype(np.float32)
    got = stream(rng, metrics.Regression.empty, p, t).compute()
    np.testing.assert_allclose(got["pearson"], stats.pearsonr(p, t).statistic, atol=2e-6)
    np.testing.assert_allclose(got["ccc"], _ccc(p, t), atol=2e-6)


def test_pearson_is_right_for_nearly_constant_predictions():
    # ρ derived from the residual's and the targets' moments would cancel here.
    rng = np.random.default_rng(21)
    t = rng.normal(size=5000).astype(np.float32)
    p = (5.0 + 1e-4 * t + 1e-4 * rng.normal(size=5000)).astype(np.float32)
    got = stream(rng, metrics.Regression.empty, p, t).compute()
    np.testing.assert_allclose(got["pearson"], stats.pearsonr(p, t).statistic, atol=1e-5)
    np.testing.assert_allclose(got["ccc"], _ccc(p, t), rtol=1e-4)


def test_adjusted_r2_and_undefined_correlations():
    rng = np.random.default_rng(22)
    t = rng.normal(size=(50, 2)).astype(np.float32)
    p = (t + rng.normal(size=(50, 2))).astype(np.float32)
    got = stream(rng, lambda: metrics.Regression.empty((2,)), p, t).compute(
        "raw_values", regressors=5
    )
    r2 = skm.r2_score(t, p, multioutput="raw_values")
    np.testing.assert_allclose(got["adjusted_r2"], 1 - (1 - r2) * 49 / 44, rtol=1e-5)
    assert "adjusted_r2" not in metrics.Regression.empty().compute()
    few = metrics.Regression.empty().update(jnp.zeros(3), jnp.ones(3))
    assert np.isnan(few.compute(regressors=2)["adjusted_r2"])  # n − k − 1 = 0
    assert np.isnan(few.compute()["pearson"])  # constant predictions, like scipy
    with pytest.raises(ValueError, match="regressors=-1"):
        few.compute(regressors=-1)


# --------------------------------------------------------------------------------------------
# Deviance and D².
# --------------------------------------------------------------------------------------------


def _tweedie_data(rng, power, n, k):
    t = rng.gamma(2.0, 1.5, size=(n, k))
    if 1 <= power < 2:
        t[rng.uniform(size=t.shape) < 0.2] = 0.0  # compound Poisson–Gamma: exact zeros
    mu = np.maximum(t, 0.05) * rng.uniform(0.5, 1.6, size=t.shape) + 0.1
    return mu.astype(np.float32), t.astype(np.float32)


@pytest.mark.parametrize("power", [0, 1, 1.5, 2, 3])
def test_deviance_and_d2_match_sklearn_on_any_split(power):
    rng = np.random.default_rng(int(10 * power))
    mu, t = _tweedie_data(rng, power, 600, 2)
    w = rng.uniform(0.0, 2.0, size=600).astype(np.float32)
    keep = rng.uniform(size=600) > 0.2
    mu_masked = np.where(keep[:, None], mu, np.nan)
    got = stream(
        rng, lambda: metrics.Deviance.empty(power=power, shape=(2,)), mu_masked, t,
        weights=w, where=keep,
    ).compute("raw_values")  # fmt: skip
    for k in range(2):
        args = (t[keep, k].astype(np.float64), mu[keep, k].astype(np.float64))
        kwargs = {"power": power, "sample_weight": w[keep].astype(np.float64)}
        np.testing.assert_allclose(got["deviance"][k], skm.mean_tweedie_deviance(*args, **kwargs),
                                   rtol=2e-5)  # fmt: skip
        np.testing.assert_allclose(got["d2"][k], skm.d2_tweedie_score(*args, **kwargs), atol=2e-6)


@pytest.mark.parametrize("power", [1, 2, 3])
def test_d2_exact_for_offset_targets_ordered_by_size(power):
    # Batches ordered by target make the null deviance mostly *between* batches: the merge's
    # Bregman correction carries it.
    rng = np.random.default_rng(23)
    t = np.sort(1e5 + rng.uniform(-5, 5, size=50_000)).astype(np.float32)
    mu = (t + rng.normal(scale=2.0, size=t.shape)).astype(np.float32)
    update = jax.jit(lambda s, m, y: s.update(m, y))
    state = metrics.Deviance.empty(power=power)
    for start in range(0, len(t), 5_000):
        state = update(state, mu[start : start + 5_000], t[start : start + 5_000])
    t64, mu64 = t.astype(np.float64), mu.astype(np.float64)
    np.testing.assert_allclose(state.compute()["d2"], skm.d2_tweedie_score(t64, mu64, power=power),
                               atol=2e-6)  # fmt: skip


def test_deviance_edge_cases_and_errors():
    constant = metrics.Deviance.empty(power=1).update(jnp.full(3, 2.0), jnp.full(3, 2.0))
    assert float(constant.compute()["d2"]) == 1.0  # R²'s force-finite rule
    one = metrics.Deviance.empty(power=2).update(jnp.ones(1), jnp.full(1, 2.0))
    assert np.isnan(one.compute()["d2"])  # scikit-learn: undefined below two samples
    bad = jax.jit(lambda m: metrics.Deviance.empty(power=2).update(m, jnp.ones(2)).compute())
    assert np.isnan(bad(jnp.array([1.0, -1.0]))["deviance"])  # traced: NaN, never a number
    with pytest.raises(ValueError, match="predictions"):
        metrics.Deviance.empty(power=1).update(np.array([0.0, 1.0]), np.ones(2))
    with pytest.raises(ValueError, match="power must be <= 0 or >= 1"):
        metrics.Deviance.empty(power=0.5)
    with pytest.raises(ValueError, match=r"powers 1\.0 and 2\.0"):
        metrics.Deviance.empty(power=1).merge(metrics.Deviance.empty(power=2))


# --------------------------------------------------------------------------------------------
# LossMean: one accumulator for every elementwise loss.
# --------------------------------------------------------------------------------------------


def _loss_references(p, t, w):
    """Float64 references from scikit-learn, properscoring and NumPy."""
    p, t = p.astype(np.float64), t.astype(np.float64)
    mean = lambda x: np.average(x, weights=w)  # noqa: E731
    e = t - p
    return {
        ("mape", ()): skm.mean_absolute_percentage_error(t, p, sample_weight=w),
        ("msle", ()): skm.mean_squared_log_error(t, p, sample_weight=w),
        ("pinball", (("quantile", 0.9),)): skm.mean_pinball_loss(t, p, alpha=0.9, sample_weight=w),
        ("log_cosh", ()): mean(np.log(np.cosh(e))),
        ("crps_normal", (("scale", 0.5),)): mean(properscoring.crps_gaussian(t, p, 0.5)),
        ("huber", (("delta", 0.3),)): mean(
            np.where(np.abs(e) <= 0.3, 0.5 * e**2, 0.3 * (np.abs(e) - 0.15))
        ),
    }


def test_loss_means_match_float64_references_on_any_split():
    rng = np.random.default_rng(24)
    t = rng.uniform(0.5, 3.0, size=800).astype(np.float32)
    p = (t * rng.uniform(0.6, 1.5, size=800)).astype(np.float32)
    w = rng.uniform(0.0, 2.0, size=800).astype(np.float32)
    for (name, options), expected in _loss_references(p, t, w).items():
        empty = lambda name=name, options=options: metrics.LossMean.empty(name, **dict(options))  # noqa: E731
        got = stream(rng, empty, p, t, weights=w).compute()
        np.testing.assert_allclose(got[name], expected, rtol=1e-5, err_msg=name)
        np.testing.assert_allclose(got["count"], w.sum(), rtol=1e-6)


def test_loss_mean_takes_per_sample_operands_masks_and_member_axes():
    rng = np.random.default_rng(25)
    t = rng.normal(size=(300, 2)).astype(np.float32)
    p = (t + rng.normal(size=t.shape)).astype(np.float32)
    var = rng.uniform(0.5, 2.0, size=t.shape).astype(np.float32)
    keep = rng.uniform(size=t.shape) > 0.3
    got = stream(
        rng, lambda: metrics.LossMean.empty(jaxloss.gaussian_nll, shape=(2,), full=True),
        np.where(keep, p, np.nan), t, where=keep, variance=var,
    ).compute("raw_values")  # fmt: skip
    nll = 0.5 * (np.log(2 * np.pi * var) + (t - p) ** 2 / var)
    expected = [nll[keep[:, k], k].mean() for k in range(2)]
    np.testing.assert_allclose(got["gaussian_nll"], expected, rtol=1e-5)

    members = rng.normal(size=(300, 9)).astype(np.float32)  # samples first, members last
    empty = lambda: metrics.LossMean.empty("crps_ensemble", member_axis=-1, estimator="ecdf")  # noqa: E731
    got = stream(rng, empty, members, t[:, 0]).compute()
    expected = properscoring.crps_ensemble(t[:, 0], members).mean()
    np.testing.assert_allclose(got["crps_ensemble"], expected, rtol=1e-5)


def test_loss_mean_errors():
    with pytest.raises(ValueError, match=r"use metrics\.Regression"):
        metrics.LossMean.empty("rmse")
    with pytest.raises(ValueError, match="is not one of"):
        metrics.LossMean.empty("mse2")
    with pytest.raises(TypeError, match="no keyword argument 'quantil'"):
        metrics.LossMean.empty("pinball", quantil=0.5)
    with pytest.raises(TypeError, match="pass arrays"):
        metrics.LossMean.empty("huber", delta=np.ones(3))
    with pytest.raises(ValueError, match="weights and where go to update"):
        metrics.LossMean.empty("mse", weights=1.0)
    state = metrics.LossMean.empty("huber", delta=1.0)
    with pytest.raises(ValueError, match="delta was fixed"):
        state.update(jnp.zeros(2), jnp.zeros(2), delta=jnp.ones(2))
    with pytest.raises(ValueError, match="different losses"):
        state.merge(metrics.LossMean.empty("huber", delta=2.0))
    with pytest.raises(ValueError, match=r"samples of shape \(\)"):
        state.update(jnp.zeros((2, 3)), jnp.zeros((2, 3)))


# --------------------------------------------------------------------------------------------
# Interval.
# --------------------------------------------------------------------------------------------


def test_interval_metrics_match_float64_formulas_on_any_split():
    rng = np.random.default_rng(26)
    n, alpha = 700, 0.2
    t = rng.normal(size=(n, 2)).astype(np.float32)
    centre = t + rng.normal(scale=0.8, size=t.shape)
    half = rng.uniform(0.2, 1.5, size=t.shape)
    lower, upper = (centre - half).astype(np.float32), (centre + half).astype(np.float32)
    w = rng.uniform(0, 2, size=n).astype(np.float32)
    keep = rng.uniform(size=n) > 0.25
    got = stream(rng, lambda: metrics.Interval.empty(alpha=alpha, shape=(2,)), lower, upper, t,
                 weights=w, where=keep).compute("raw_values")  # fmt: skip
    lo, up, y, wk = (x[keep].astype(np.float64) for x in (lower, upper, t, w))
    wk = wk[:, None]
    mean = lambda x: (wk * x).sum(axis=0) / wk.sum()  # noqa: E731
    score = (up - lo) + 2 / alpha * (np.maximum(lo - y, 0) + np.maximum(y - up, 0))
    expected = {
        "coverage": mean((lo <= y) & (y <= up)),
        "below": mean(y < lo),
        "above": mean(y > up),
        "mean_width": mean(up - lo),
        "interval_score": mean(score),
    }
    for key, value in expected.items():
        np.testing.assert_allclose(got[key], value, rtol=1e-5, err_msg=key)
    with pytest.raises(ValueError, match=r"alpha=1.5"):
        metrics.Interval.empty(alpha=1.5)
    with pytest.raises(ValueError, match="share one shape"):
        metrics.Interval.empty(alpha=0.1).update(jnp.zeros(2), jnp.ones(3), jnp.ones(2))


# --------------------------------------------------------------------------------------------
# ErrorQuantiles.
# --------------------------------------------------------------------------------------------

QS = np.array([0.0, 0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 1.0])


def _assert_within_accuracy(got, exact, accuracy):
    np.testing.assert_array_less(np.abs(got - exact), accuracy * np.abs(exact) + 1e-30)


def _heavy_tailed(rng, n):
    """Student-t (df 1.2) residuals over six decades of scale, 5% exact fits."""
    residual = stats.t.rvs(df=1.2, size=n, random_state=rng) * 10.0 ** rng.uniform(-3, 3, n)
    residual[rng.uniform(size=n) < 0.05] = 0.0
    t = rng.normal(size=n).astype(np.float32)
    return (t + residual).astype(np.float32), t


@pytest.mark.parametrize("accuracy", [0.01, 0.001])
def test_error_quantiles_within_relative_accuracy_on_heavy_tails(accuracy):
    # 10⁶ samples over 4 simulated devices: test_merging_across_four_devices_...
    rng = np.random.default_rng(27)
    p, t = _heavy_tailed(rng, 200_000)
    update = jax.jit(lambda s, p, t: s.update(p, t))
    state = metrics.ErrorQuantiles.empty(relative_accuracy=accuracy)
    for shard in np.array_split(np.arange(len(t)), 7):
        empty = metrics.ErrorQuantiles.empty(relative_accuracy=accuracy)
        state = state.merge(update(empty, p[shard], t[shard]))
    magnitude = np.abs(p - t).astype(np.float64)  # what float32 inputs hold
    exact = np.quantile(magnitude, QS, method="inverted_cdf")
    _assert_within_accuracy(np.asarray(state.quantile(QS), np.float64), exact, accuracy)
    computed = state.compute()
    np.testing.assert_allclose(computed["max_error"], magnitude.max(), rtol=1e-6)
    median = skm.median_absolute_error(t, p)
    assert abs(float(computed["median_absolute_error"]) - median) <= accuracy * median


def test_error_quantiles_weights_masks_outputs_and_any_split():
    rng = np.random.default_rng(28)
    n = 5000
    t = rng.normal(size=(n, 2)).astype(np.float32)
    p = (t + rng.standard_cauchy(size=t.shape)).astype(np.float32)
    p[:100] = t[:100]  # zero residuals
    w = rng.integers(0, 4, size=n).astype(np.float32)  # zero weights too
    keep = rng.uniform(size=n) > 0.2
    p_masked = np.where(keep[:, None], p, np.nan)
    state = stream(rng, lambda: metrics.ErrorQuantiles.empty(shape=(2,)), p_masked, t,
                   weights=w, where=keep)  # fmt: skip
    got = np.asarray(state.quantile(QS), np.float64)
    for k in range(2):
        magnitude = np.abs(p[keep, k] - t[keep, k]).astype(np.float64)
        exact = np.quantile(magnitude, QS, weights=w[keep], method="inverted_cdf")
        _assert_within_accuracy(got[:, k], exact, 0.01)
    np.testing.assert_allclose(state.compute("raw_values")["count"], w[keep].sum())


def test_error_quantiles_edge_cases_and_errors():
    empty = metrics.ErrorQuantiles.empty()
    assert np.isnan(empty.quantile(0.5)) and float(empty.compute()["count"]) == 0
    nan = empty.update(jnp.array([1.0, jnp.nan]), jnp.zeros(2))
    assert np.isnan(nan.quantile(0.5))  # a NaN residual is never silently dropped
    masked = empty.update(jnp.array([1.0, jnp.nan]), jnp.zeros(2), where=jnp.array([True, False]))
    assert float(masked.quantile(0.5)) == 1.0
    tiny = empty.update(jnp.array([0.0, 1e-40, 2.0]), jnp.zeros(3))
    assert float(tiny.quantile(0.5)) <= 1e-38  # below 2^-126: absolute, not relative
    infinite = empty.update(jnp.array([1.0, jnp.inf]), jnp.zeros(2))
    assert float(infinite.quantile(1.0)) == np.inf
    with pytest.raises(ValueError, match=r"relative_accuracy=0.0001"):
        metrics.ErrorQuantiles.empty(relative_accuracy=1e-4)
    with pytest.raises(ValueError, match=r"q=\[1.5\]"):
        empty.quantile(jnp.array([1.5]))
    with pytest.raises(ValueError, match="different buckets"):
        empty.merge(metrics.ErrorQuantiles.empty(relative_accuracy=0.02))


# --------------------------------------------------------------------------------------------
# Transformations and devices.
# --------------------------------------------------------------------------------------------


def test_accumulators_jit_vmap_and_scan():
    rng = np.random.default_rng(29)
    t = rng.uniform(0.5, 2.0, size=(3, 4, 16)).astype(np.float32)  # members, batches, samples
    p = (t * rng.uniform(0.5, 1.5, size=t.shape)).astype(np.float32)
    empties = {
        "deviance": lambda: metrics.Deviance.empty(power=1.5),
        "loss": lambda: metrics.LossMean.empty("mape"),
        "interval": lambda: metrics.Interval.empty(alpha=0.1),
        "sketch": lambda: metrics.ErrorQuantiles.empty(relative_accuracy=0.05),
    }

    def feed(state, p, t):
        if isinstance(state, metrics.Interval):
            return state.update(jnp.minimum(p, t) - 0.1, jnp.maximum(p, t), t)
        return state.update(p, t)

    for name, empty in empties.items():

        def member(p, t, empty=empty):
            final, _ = jax.lax.scan(lambda s, b: (feed(s, *b), None), empty(), (p, t))
            return final.compute()

        got = jax.jit(jax.vmap(member))(p, t)
        for m in range(3):
            expected = feed(empty(), p[m].ravel(), t[m].ravel()).compute()
            for key in expected:
                np.testing.assert_allclose(got[key][m], expected[key], rtol=1e-5,
                                           err_msg=f"{name} {key}")  # fmt: skip


CROSS_DEVICE = textwrap.dedent(
    """
    import jax, jax.numpy as jnp, numpy as np
    from jax.sharding import Mesh, PartitionSpec as P
    from scipy import stats
    from jaxloss import metrics

    assert jax.device_count() == 4
    mesh = Mesh(np.array(jax.devices()), ("data",))

    def across_devices(empty, *arrays):
        # The state merged across the devices, and the host's merge of the very states each
        # device held: only merging is compared (an update compiled on its own may round a
        # log or a sum differently in the last bit, and move a sketch count one bucket).
        def local(*a):
            state = empty().update(*a)
            return state.merge_across("data"), jax.tree.map(lambda x: x[None], state)
        merged, parts = jax.jit(jax.shard_map(local, mesh=mesh, in_specs=P("data"),
                                              out_specs=(P(), P("data"))))(*arrays)
        host = empty()
        for d in range(4):
            host = host.merge(jax.tree.map(lambda x: x[d], parts))
        return merged, host

    rng = np.random.default_rng(0)
    t = rng.gamma(2.0, 2.0, size=(40_000, 2)).astype(np.float32)
    p = (t * rng.uniform(0.5, 1.5, size=t.shape) + 0.01).astype(np.float32)
    accumulators = {
        "regression": lambda: metrics.Regression.empty((2,)),
        "deviance": lambda: metrics.Deviance.empty(power=1.5, shape=(2,)),
        "loss": lambda: metrics.LossMean.empty("pinball", shape=(2,), quantile=0.8),
    }
    for name, empty in accumulators.items():
        merged, host = across_devices(empty, p, t)
        got = merged.compute("raw_values")
        for key, value in host.compute("raw_values").items():
            np.testing.assert_array_equal(np.asarray(got[key]), np.asarray(value),
                                          err_msg=f"{name} {key}")
        single = empty().update(p, t).compute("raw_values")  # one device, one batch
        for key, value in single.items():
            np.testing.assert_allclose(np.asarray(got[key]), np.asarray(value), rtol=1e-5,
                                       err_msg=f"{name} {key}")

    # 10⁶ heavy-tailed residuals: Student-t (df 1.2) over six decades of scale, 5% exact.
    n = 1_000_000
    residual = stats.t.rvs(df=1.2, size=n, random_state=rng) * 10.0 ** rng.uniform(-3, 3, n)
    residual[rng.uniform(size=n) < 0.05] = 0.0
    t = rng.normal(size=n).astype(np.float32)
    p = (t + residual).astype(np.float32)
    qs = np.array([0.0, 0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 1.0])
    sketch, host = across_devices(metrics.ErrorQuantiles.empty, p, t)
    for a, b in zip(jax.tree.leaves(sketch), jax.tree.leaves(host)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    exact = np.quantile(np.abs(p - t).astype(np.float64), qs, method="inverted_cdf")
    got = np.asarray(sketch.quantile(qs), np.float64)
    assert np.all(np.abs(got - exact) <= 0.01 * exact), (got, exact)
    print("ok")
    """
)


@pytest.mark.slow
def test_merging_across_four_devices_equals_merging_on_the_host():
    assert run_with_devices(CROSS_DEVICE, devices=4).strip().endswith("ok")
