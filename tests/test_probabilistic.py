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

from .cases import crps_normal_reference

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
