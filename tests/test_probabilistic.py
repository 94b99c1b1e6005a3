"""The probabilistic losses of issue 14 beyond the shared contract tests (tests/cases.py):
independent references (properscoring, quadrature of the CRPS integral, scikit-learn, scipy),
limits, and gradients against analytic forms and finite differences."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import properscoring
import pytest
import scipy.integrate
import scipy.stats

import jaxloss

from .cases import barron_log_partition, crps_normal_reference

# --------------------------------------------------------------------------------------------
# crps_normal
# --------------------------------------------------------------------------------------------


def test_crps_normal_matches_properscoring_and_the_crps_integral():
    rng = np.random.default_rng(0)
    p, t = rng.normal(size=(2, 300)).astype(np.float32)
    sigma = rng.uniform(0.05, 3.0, 300).astype(np.float32)
    got = jaxloss.crps_normal(p, t, scale=sigma, reduction="none")
    expected = properscoring.crps_gaussian(t.astype(np.float64), mu=p, sig=sigma)
    np.testing.assert_allclose(got, expected, rtol=2e-6, atol=1e-7)
    for i in range(5):  # ∫ (F(x) − 1{x ≥ t})² dx, by quadrature on either side of t
        cdf = scipy.stats.norm(p[i], sigma[i]).cdf
        below = scipy.integrate.quad(lambda x, F=cdf: F(x) ** 2, -np.inf, t[i])[0]
        above = scipy.integrate.quad(lambda x, F=cdf: (1 - F(x)) ** 2, t[i], np.inf)[0]
        np.testing.assert_allclose(got[i], below + above, rtol=1e-5)


@pytest.mark.parametrize("sigma", [1e-30, 1e-12, 1e-6])
def test_crps_normal_tends_to_the_absolute_error_with_finite_gradients(sigma):
    p = np.array([0.0, 0.5, -2.0, 1e-3], np.float32)
    t = np.array([1.0, 0.5, 3.0, 0.0], np.float32)
    got = jaxloss.crps_normal(p, t, scale=np.float32(sigma), reduction="none")
    np.testing.assert_allclose(got, np.abs(p - t), rtol=1e-6, atol=2 * sigma)
    grads = jax.grad(lambda p, s: jaxloss.crps_normal(p, t, scale=s, reduction="sum"),
                     argnums=(0, 1))(p, np.float32(sigma))  # fmt: skip
    assert all(np.all(np.isfinite(g)) for g in grads)
    np.testing.assert_allclose(np.asarray(grads[0])[[0, 2]], [-1.0, -1.0], rtol=1e-6)


def test_crps_normal_is_accurate_far_in_the_tails():
    z = np.array([5.0, 10.0, 40.0, 1e3, -1e3], np.float64)
    sigma = 0.37
    t = (z * sigma).astype(np.float32)
    got = jaxloss.crps_normal(np.zeros(5, np.float32), t, scale=sigma, reduction="none")
    expected = crps_normal_reference(0.0, t.astype(np.float64), sigma)
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_crps_normal_scale_gradient_is_the_analytic_form():
    rng = np.random.default_rng(1)
    p, t = rng.normal(size=(2, 50)).astype(np.float32)
    sigma = np.float32(0.8)
    got = jax.grad(lambda s: jaxloss.crps_normal(p, t, scale=s, reduction="sum"))(sigma)
    z = (t.astype(np.float64) - p) / sigma
    expected = np.sum(2 * scipy.stats.norm.pdf(z) - 1 / np.sqrt(np.pi))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------------------------
# beta_nll
# --------------------------------------------------------------------------------------------


def _heteroscedastic(seed=2, n=64):
    rng = np.random.default_rng(seed)
    p, t = rng.normal(size=(2, n)).astype(np.float32)
    variance = rng.uniform(0.05, 4.0, n).astype(np.float32)
    return p, t, variance


@pytest.mark.parametrize("full", [False, True])
def test_beta_nll_at_beta_zero_is_gaussian_nll_values_and_gradients(full):
    p, t, v = _heteroscedastic()

    def beta(p, v):
        return jaxloss.beta_nll(p, t, variance=v, beta=0.0, full=full)

    def gaussian(p, v):
        return jaxloss.gaussian_nll(p, t, v, full=full)

    np.testing.assert_allclose(beta(p, v), gaussian(p, v), rtol=1e-6)
    for a, b in zip(jax.grad(beta, (0, 1))(p, v), jax.grad(gaussian, (0, 1))(p, v), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6)


@pytest.mark.parametrize("beta", [0.5, 1.0])
def test_beta_nll_gradients_are_the_nll_gradients_times_variance_to_the_beta(beta):
    p, t, v = _heteroscedastic(3)
    d_p, d_v = jax.grad(
        lambda p, v: jaxloss.beta_nll(p, t, variance=v, beta=beta, reduction="sum"), (0, 1)
    )(p, v)  # fmt: skip
    e, var = p.astype(np.float64) - t, v.astype(np.float64)
    np.testing.assert_allclose(d_p, var**beta * e / var, rtol=1e-5)
    np.testing.assert_allclose(d_v, var**beta * 0.5 * (1 / var - e**2 / var**2), rtol=1e-4,
                               atol=1e-6)  # fmt: skip
    if beta == 1.0:  # the mean's gradient is the MSE's (halved)
        np.testing.assert_allclose(d_p, e, rtol=1e-5)
    values = jaxloss.beta_nll(p, t, variance=v, beta=beta, reduction="none")
    np.testing.assert_allclose(values, var**beta * 0.5 * (np.log(var) + e**2 / var), rtol=1e-5,
                               atol=1e-6)  # fmt: skip


def test_beta_nll_refuses_a_negative_beta():
    with pytest.raises(ValueError, match=r"beta_nll: beta must be >= 0"):
        jaxloss.beta_nll(jnp.zeros(2), jnp.zeros(2), variance=1.0, beta=-0.5)


# --------------------------------------------------------------------------------------------
# tweedie_deviance
# --------------------------------------------------------------------------------------------


def _tweedie_data(power, seed=4, n=200):
    rng = np.random.default_rng(seed)
    mu = rng.gamma(2.0, size=n).astype(np.float32) + 0.05
    t = rng.gamma(2.0, size=n).astype(np.float32)
    if power < 2:
        t[::7] = 0.0  # zeros: allowed for p < 2 (counts, compound Poisson–Gamma)
    if power == 0:
        t -= 1.0  # any real target for the normal
    w = rng.uniform(0.0, 2.0, n).astype(np.float32)
    return mu, t, w


@pytest.mark.parametrize("power", [-0.5, 0, 1, 1.5, 2, 3])
@pytest.mark.parametrize("log_input", [False, True])
def test_tweedie_deviance_matches_scikit_learn(power, log_input):
    from sklearn import metrics

    mu, t, w = _tweedie_data(power)
    predictions = np.log(mu) if log_input else mu
    for weights in (None, w):
        got = jaxloss.tweedie_deviance(predictions, t, power=power, log_input=log_input,
                                       weights=weights)  # fmt: skip
        expected = metrics.mean_tweedie_deviance(t.astype(np.float64), mu.astype(np.float64),
                                                 power=power, sample_weight=weights)  # fmt: skip
        np.testing.assert_allclose(got, expected, rtol=2e-5)
    if power == 1:
        np.testing.assert_allclose(jaxloss.tweedie_deviance(mu, t, power=1),
                                   metrics.mean_poisson_deviance(t, mu), rtol=2e-5)  # fmt: skip
    if power == 2:
        np.testing.assert_allclose(jaxloss.tweedie_deviance(mu, t, power=2),
                                   metrics.mean_gamma_deviance(t, mu), rtol=2e-5)  # fmt: skip


@pytest.mark.parametrize("power", [1, 1.5, 3])
def test_tweedie_deviance_with_log_input_is_exact_for_large_log_means(power):
    eta = np.array([20.0, 40.0, 60.0], np.float32)
    t = np.exp(eta.astype(np.float64) - 0.5).astype(np.float32)  # the mean overshoots by e^½
    got = jaxloss.tweedie_deviance(eta, t, power=power, log_input=True, reduction="none")
    mu, t64 = np.exp(eta.astype(np.float64)), t.astype(np.float64)
    if power == 1:
        expected = 2 * (t64 * np.log(t64 / mu) - t64 + mu)
    else:
        first = t64 ** (2 - power) / ((1 - power) * (2 - power))
        expected = 2 * (
            first - t64 * mu ** (1 - power) / (1 - power) + mu ** (2 - power) / (2 - power)
        )
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    grad = jax.grad(lambda e: jaxloss.tweedie_deviance(e, t, power=power, log_input=True,
                                                       reduction="sum"))(eta)  # fmt: skip
    # ∂d/∂η = 2 μ^(1−p) (μ − t)
    np.testing.assert_allclose(grad, 2 * mu ** (1 - power) * (mu - t64), rtol=1e-4)


def test_tweedie_deviance_masked_entries_and_bad_input():
    mu = np.array([1.0, 0.0, -2.0, 3.0], np.float32)
    t = np.array([2.0, 5.0, 1.0, np.nan], np.float32)
    keep = np.array([True, False, False, False])
    value, grad = jax.value_and_grad(
        lambda m: jaxloss.tweedie_deviance(m, t, power=1.5, where=keep)
    )(mu)  # fmt: skip
    np.testing.assert_allclose(value, 2 * (2**0.5 / -0.25 + 2 / 0.5 + 1 / 0.5), rtol=1e-6)
    assert np.all(np.isfinite(grad)) and np.all(np.asarray(grad)[1:] == 0)
    with pytest.raises(ValueError, match=r"power must be <= 0 or >= 1 .*got power=0.5"):
        jaxloss.tweedie_deviance(mu, t, power=0.5)
    with pytest.raises(TypeError, match=r"power must be a finite Python number"):
        jaxloss.tweedie_deviance(mu, t, power=jnp.float32(1.5))
    with pytest.raises(ValueError, match=r"tweedie_deviance: predictions must be > 0"):
        jaxloss.tweedie_deviance(np.array([0.0]), np.array([1.0]), power=1)
    with pytest.raises(ValueError, match=r"tweedie_deviance: targets must be > 0"):
        jaxloss.tweedie_deviance(np.array([1.0]), np.array([0.0]), power=2)
    with pytest.raises(ValueError, match=r"tweedie_deviance: targets must be >= 0"):
        jaxloss.tweedie_deviance(np.array([1.0]), np.array([-1.0]), power=1.5)
    # a traced out-of-domain value is NaN, never a silently finite number
    traced = jax.jit(lambda m: jaxloss.tweedie_deviance(m, np.ones(1), power=1))(np.zeros(1))
    assert np.isnan(traced)


# --------------------------------------------------------------------------------------------
# crps_ensemble
# --------------------------------------------------------------------------------------------


def _pairwise_crps(members, t, fair):
    """The O(M²) definition in float64: members on axis 0."""
    x = np.asarray(members, np.float64)
    m = x.shape[0]
    to_target = np.abs(x - t).mean(axis=0)
    pairs = np.abs(x[:, None] - x[None, :]).sum(axis=(0, 1))
    return to_target - pairs / (2 * m * (m - 1) if fair else 2 * m * m)


@pytest.mark.parametrize("members", [1, 2, 7, 64])
@pytest.mark.parametrize("estimator", ["fair", "ecdf"])
def test_crps_ensemble_matches_the_pairwise_definition_and_properscoring(members, estimator):
    if estimator == "fair" and members == 1:
        return
    rng = np.random.default_rng(members)
    x = rng.normal(size=(members, 5, 3)).astype(np.float32)
    t = rng.normal(size=(5, 3)).astype(np.float32)
    got = jaxloss.crps_ensemble(x, t, estimator=estimator, reduction="none")
    np.testing.assert_allclose(got, _pairwise_crps(x, t, estimator == "fair"), rtol=2e-5,
                               atol=2e-6)  # fmt: skip
    if estimator == "ecdf":  # properscoring takes the members on the last axis
        expected = properscoring.crps_ensemble(t.astype(np.float64), np.moveaxis(x, 0, -1))
        np.testing.assert_allclose(got, expected, rtol=2e-5, atol=2e-6)
    if members == 1:
        np.testing.assert_allclose(got, np.abs(x[0] - t), rtol=1e-6)


def test_crps_ensemble_member_axis_weights_masks_and_gradients():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(4, 6, 9)).astype(np.float32)  # members on the last axis
    t = rng.normal(size=(4, 6)).astype(np.float32)
    w = rng.uniform(0, 2, 4).astype(np.float32)
    keep = rng.uniform(size=(4, 6)) > 0.3
    elementwise = _pairwise_crps(np.moveaxis(x, -1, 0), t, fair=True)
    got = jaxloss.crps_ensemble(x, t, member_axis=-1, weights=w, where=keep, axis=1)
    weight = w[:, None] * keep
    np.testing.assert_allclose(got, (weight * elementwise).sum(1) / weight.sum(1), rtol=2e-5)
    np.testing.assert_allclose(jaxloss.crps_ensemble(np.moveaxis(x, -1, 1), t, member_axis=1),
                               elementwise.mean(), rtol=2e-5)  # fmt: skip
    jitted = jax.jit(lambda x, t: jaxloss.crps_ensemble(x, t, member_axis=-1, reduction="none"))
    np.testing.assert_allclose(jitted(x, t), elementwise, rtol=2e-5, atol=2e-6)
    rows = jax.vmap(lambda x, t: jaxloss.crps_ensemble(x, t, member_axis=-1))(x, t)
    np.testing.assert_allclose(rows, elementwise.mean(axis=1), rtol=2e-5)
    # the gradient of the sorted form against the pairwise form's, by finite differences
    members = np.moveaxis(x[:1, :2], -1, 0).astype(np.float64)
    grad = jax.grad(lambda m: jaxloss.crps_ensemble(m, t[:1, :2], reduction="sum"))(
        members.astype(np.float32)
    )  # fmt: skip
    h = 1e-6
    for index in [(0, 0, 0), (3, 0, 1), (8, 0, 0)]:
        up, down = members.copy(), members.copy()
        up[index] += h
        down[index] -= h
        fd = (_pairwise_crps(up, t[:1, :2], True).sum()
              - _pairwise_crps(down, t[:1, :2], True).sum()) / (2 * h)  # fmt: skip
        np.testing.assert_allclose(grad[index], fd, rtol=1e-4, atol=1e-6)
    # masked members may hold garbage: value and gradient stay finite
    garbage = x.copy()
    garbage[~keep] = np.nan
    value, g = jax.value_and_grad(
        lambda m: jaxloss.crps_ensemble(m, t, member_axis=-1, where=keep)
    )(garbage)  # fmt: skip
    assert np.isfinite(value) and np.all(np.isfinite(g))


def test_crps_ensemble_refuses_shapes_that_do_not_match_and_one_member_fair():
    x, t = np.zeros((8, 5)), np.zeros(5)
    with pytest.raises(ValueError, match=r"without their member axis 0 have shape \(5,\), which "
                                         r"differs from targets' \(5, 1\)"):  # fmt: skip
        jaxloss.crps_ensemble(x, t[:, None])
    with pytest.raises(ValueError, match=r"member_axis=2 is out of range"):
        jaxloss.crps_ensemble(x, t, member_axis=2)
    with pytest.raises(ValueError, match=r"fair estimator needs at least 2 members; got 1"):
        jaxloss.crps_ensemble(x[:1], t)
    with pytest.raises(ValueError, match=r"estimator must be 'fair' or 'ecdf'"):
        jaxloss.crps_ensemble(x, t, estimator="pwm")


# --------------------------------------------------------------------------------------------
# interval_score
# --------------------------------------------------------------------------------------------


def test_interval_score_matches_its_formula_under_the_contract():
    rng = np.random.default_rng(8)
    centre = rng.normal(size=(6, 3)).astype(np.float32)
    half = rng.uniform(0.1, 1.0, (6, 3)).astype(np.float32)
    lower, upper = centre - half, centre + half
    t = rng.normal(scale=1.5, size=(6, 3)).astype(np.float32)
    alpha = 0.2
    lo, up, tt = (a.astype(np.float64) for a in (lower, upper, t))
    elementwise = (up - lo) + 2 / alpha * (np.maximum(lo - tt, 0) + np.maximum(tt - up, 0))
    w = rng.uniform(0, 2, 6).astype(np.float32)
    got = jaxloss.interval_score(lower, upper, t, alpha=alpha, weights=w, axis=0)
    np.testing.assert_allclose(got, (w[:, None] * elementwise).sum(0) / w.sum(), rtol=1e-5)
    d_lower, d_upper = jax.grad(
        lambda lo, up: jaxloss.interval_score(lo, up, t, alpha=alpha, reduction="sum"), (0, 1)
    )(lower, upper)  # fmt: skip
    np.testing.assert_allclose(d_lower, -1 + 2 / alpha * (tt < lo), rtol=1e-6)
    np.testing.assert_allclose(d_upper, 1 - 2 / alpha * (tt > up), rtol=1e-6)
    traced = jax.jit(lambda a: jaxloss.interval_score(lower, upper, t, alpha=a))(alpha)
    np.testing.assert_allclose(traced, elementwise.mean(), rtol=1e-5)


def test_interval_score_minimisers_are_the_quantiles():
    t = np.random.default_rng(9).normal(size=4000).astype(np.float32)
    grid = np.linspace(-3, 3, 601, dtype=np.float32)
    alpha = 0.2
    lower = jax.vmap(lambda c: jaxloss.interval_score(jnp.full_like(t, c), jnp.full_like(t, 9.0),
                                                      t, alpha=alpha))(grid)  # fmt: skip
    np.testing.assert_allclose(grid[int(jnp.argmin(lower))], np.quantile(t, alpha / 2), atol=0.02)


def test_interval_score_refuses_other_shapes_and_alpha_outside_its_range():
    a = np.zeros(4)
    with pytest.raises(ValueError, match=r"lower \(4,\), upper \(4, 1\) and targets \(4,\) must"):
        jaxloss.interval_score(a, a[:, None], a, alpha=0.1)
    for bad in (0.0, 1.5):
        with pytest.raises(ValueError, match=r"interval_score: alpha must be in \(0, 1\]"):
            jaxloss.interval_score(a, a + 1, a, alpha=bad)


# --------------------------------------------------------------------------------------------
# robust_nll
# --------------------------------------------------------------------------------------------


def _log_z(alpha):
    """log Z(α) through jaxloss: the NLL at zero residual and unit scale."""
    return jaxloss.robust_nll(jnp.zeros(1), jnp.zeros(1), alpha=alpha, scale=1.0)


@pytest.mark.parametrize("alpha", [0.0, 1e-3, 0.1, 0.5, 1.0, 1.5, 1.999, 2.0, 2.5, 4.0, 7.0, 10.0])
def test_robust_log_partition_matches_float64_quadrature(alpha):
    np.testing.assert_allclose(_log_z(alpha), barron_log_partition(alpha), rtol=1e-5)


def test_robust_log_partition_known_values():
    np.testing.assert_allclose(_log_z(0.0), np.log(np.pi * np.sqrt(2)), rtol=1e-6)
    np.testing.assert_allclose(_log_z(2.0), np.log(np.sqrt(2 * np.pi)), rtol=1e-6)


@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0, 3.0, 5.0, 10.0, 20.0, 100.0])
def test_robust_log_partition_alpha_gradient_matches_finite_differences(alpha):
    got = jax.grad(_log_z)(jnp.float32(alpha))
    h = 1e-4 * max(1.0, alpha)
    low = max(alpha - h, 0.0)
    fd = (barron_log_partition(alpha + h) - barron_log_partition(low)) / (alpha + h - low)
    np.testing.assert_allclose(got, fd, rtol=2e-3, atol=1e-6)


def test_robust_nll_is_a_normalised_density_with_its_named_special_cases():
    x = np.linspace(-400, 400, 400_001)
    for alpha, scale in [(0.5, 0.7), (1.0, 1.3), (3.0, 0.4)]:
        nll = jaxloss.robust_nll(np.zeros_like(x, np.float32), x.astype(np.float32),
                                 alpha=alpha, scale=scale, reduction="none")  # fmt: skip
        mass = np.trapezoid(np.exp(-np.asarray(nll, np.float64)), x)
        np.testing.assert_allclose(mass, 1.0, atol=1e-4)
    e = np.linspace(-5, 5, 11).astype(np.float32)
    gaussian = jaxloss.robust_nll(np.zeros(11), e, alpha=2.0, scale=0.8, reduction="none")
    np.testing.assert_allclose(gaussian, -scipy.stats.norm.logpdf(e, scale=0.8), rtol=1e-5)
    cauchy_like = jaxloss.robust_nll(np.zeros(11), e, alpha=0.0, scale=0.8, reduction="none")
    expected = np.log1p(0.5 * (e / 0.8) ** 2) + np.log(0.8) + np.log(np.pi * np.sqrt(2))
    np.testing.assert_allclose(cauchy_like, expected, rtol=1e-5)


def test_robust_nll_learns_alpha_and_scale_instead_of_driving_alpha_down():
    rng = np.random.default_rng(10)
    e = (rng.standard_t(3.0, 4000) * 0.5).astype(np.float32)  # heavy tails: α well below 2

    def loss(params):
        alpha, log_scale = jax.nn.softplus(params[0]), params[1]
        return jaxloss.robust_nll(jnp.zeros_like(e), e, alpha=alpha, scale=jnp.exp(log_scale))

    step = jax.jit(lambda params: params - 0.5 * jax.grad(loss)(params))
    params = jnp.array([1.0, 0.0])
    for _ in range(300):
        params = step(params)
    alpha = float(jax.nn.softplus(params[0]))
    assert 0.2 < alpha < 1.8 and np.isfinite(float(loss(params)))
    g = jax.grad(lambda a, c: jaxloss.robust_nll(jnp.zeros(3), jnp.array([0.0, 1.0, 40.0]),
                                                 alpha=a, scale=c), (0, 1))(alpha, 0.5)  # fmt: skip
    assert all(np.isfinite(v) for v in g)


def test_robust_nll_refuses_negative_or_infinite_alpha():
    for bad in (-0.5, np.inf):
        with pytest.raises(ValueError, match=r"robust_nll: alpha must be >= 0 and finite"):
            jaxloss.robust_nll(jnp.zeros(2), jnp.zeros(2), alpha=bad, scale=1.0)
