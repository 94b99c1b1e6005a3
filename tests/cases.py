"""Every loss with an independent float64 NumPy reference, its analytic gradient and inputs.

The references are written from the formulas in the literature (and scikit-learn's and
PyTorch's documented conventions), not from jaxloss's code: a disagreement is a finding.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import scipy.stats

import jaxloss

F64_EPS = np.finfo(np.float64).eps


def barron(e, alpha, scale=1.0):
    """Barron's ρ(e, α, c) in float64, with the paper's limits at the singular shapes."""
    x2 = (np.asarray(e, np.float64) / scale) ** 2
    if alpha == 2:
        return 0.5 * x2
    if alpha == 0:
        return np.log(0.5 * x2 + 1)
    if alpha == -np.inf:
        return 1 - np.exp(-0.5 * x2)
    if alpha == np.inf:
        return np.exp(0.5 * x2) - 1
    b = abs(alpha - 2)
    return b / alpha * ((x2 / b + 1) ** (alpha / 2) - 1)


def barron_grad(e, alpha, scale=1.0):
    """∂ρ/∂e: (e/c²)·((e/c)²/|α−2| + 1)^{α/2 − 1} (Barron 2019, eq. 8 and its limits)."""
    e = np.asarray(e, np.float64)
    x2 = (e / scale) ** 2
    if alpha == 2:
        return e / scale**2
    if alpha == 0:
        return 2 * e / (e**2 + 2 * scale**2)
    if alpha == -np.inf:
        return e / scale**2 * np.exp(-0.5 * x2)
    b = abs(alpha - 2)
    return e / scale**2 * (x2 / b + 1) ** (alpha / 2 - 1)


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    loss: Callable  # loss(p, t, **contract_kwargs)
    ref: Callable  # elementwise loss in float64
    grad: Callable  # elementwise ∂ℓ/∂p in float64
    sample: Callable  # (rng, shape) -> (predictions, targets) float32
    symmetric: bool = False
    zero_iff_equal: bool = False
    nonnegative: bool = True


def _normal(rng, shape):
    p = rng.normal(size=shape).astype(np.float32)
    t = rng.normal(size=shape).astype(np.float32)
    return p, t


def _positive(rng, shape):
    p = rng.uniform(0.0, 5.0, size=shape).astype(np.float32)
    t = rng.uniform(0.0, 5.0, size=shape).astype(np.float32)
    return p, t


def _away_from_zero(rng, shape):
    p = rng.normal(size=shape).astype(np.float32)
    t = (rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.5, 3.0, size=shape)).astype(np.float32)
    return p, t


def _counts(rng, shape):
    p = rng.normal(scale=0.5, size=shape).astype(np.float32)
    t = rng.poisson(2.0, size=shape).astype(np.float32)
    return p, t


DELTA, QUANTILE, VARIANCE, ALPHA, SCALE = 0.8, 0.3, 0.7, 0.5, 1.3
TAU, SPREAD, DF, BETA, POWER = 0.3, 0.7, 3.0, 0.5, 1.5


def _means(rng, shape):
    # means >= 1, so integer and boolean casts of them stay in the domain (μ > 0)
    p = rng.uniform(1.0, 5.0, size=shape).astype(np.float32)
    t = rng.uniform(0.0, 5.0, size=shape).astype(np.float32)
    return p, t


def barron_log_partition(alpha):
    """log ∫ exp(−ρ(x, α, 1)) dx by scipy's adaptive quadrature in float64."""
    import scipy.integrate

    half = scipy.integrate.quad(lambda x: np.exp(-barron(x, alpha)), 0, np.inf, limit=500,
                                epsabs=0, epsrel=1e-13)[0]  # fmt: skip
    return float(np.log(2 * half))


def crps_normal_reference(p, t, sigma):
    """Gneiting et al. (2005), eq. 5, in float64 with scipy's normal cdf and pdf."""
    z = (np.asarray(t, np.float64) - p) / sigma
    return sigma * (z * (2 * scipy.stats.norm.cdf(z) - 1) + 2 * scipy.stats.norm.pdf(z)
                    - 1 / np.sqrt(np.pi))  # fmt: skip


CASES = [
    Case(
        "mse",
        jaxloss.mse,
        lambda p, t: (p - t) ** 2,
        lambda p, t: 2 * (p - t),
        _normal,
        symmetric=True,
        zero_iff_equal=True,
    ),
    Case(
        "mae",
        jaxloss.mae,
        lambda p, t: np.abs(p - t),
        lambda p, t: np.sign(p - t),
        _normal,
        symmetric=True,
        zero_iff_equal=True,
    ),
    Case(
        "huber",
        lambda p, t, **kw: jaxloss.huber(p, t, delta=DELTA, **kw),
        lambda p, t: np.where(
            np.abs(p - t) <= DELTA, 0.5 * (p - t) ** 2, DELTA * (np.abs(p - t) - 0.5 * DELTA)
        ),
        lambda p, t: np.clip(p - t, -DELTA, DELTA),
        _normal,
        symmetric=True,
        zero_iff_equal=True,
    ),
    Case(
        "pseudo_huber",
        lambda p, t, **kw: jaxloss.pseudo_huber(p, t, delta=DELTA, **kw),
        lambda p, t: DELTA**2 * (np.sqrt(1 + ((p - t) / DELTA) ** 2) - 1),
        lambda p, t: (p - t) / np.sqrt(1 + ((p - t) / DELTA) ** 2),
        _normal,
        symmetric=True,
        zero_iff_equal=True,
    ),
    Case(
        "log_cosh",
        jaxloss.log_cosh,
        lambda p, t: np.log(np.cosh(p - t)),
        lambda p, t: np.tanh(p - t),
        _normal,
        symmetric=True,
        zero_iff_equal=True,
    ),
    Case(
        "pinball",
        lambda p, t, **kw: jaxloss.pinball(p, t, quantile=QUANTILE, **kw),
        lambda p, t: QUANTILE * np.maximum(t - p, 0) + (1 - QUANTILE) * np.maximum(p - t, 0),
        lambda p, t: np.where(p < t, -QUANTILE, 1 - QUANTILE),
        _normal,
        zero_iff_equal=True,
    ),
    Case(
        "msle",
        jaxloss.msle,
        lambda p, t: (np.log1p(p) - np.log1p(t)) ** 2,
        lambda p, t: 2 * (np.log1p(p) - np.log1p(t)) / (1 + p),
        _positive,
        symmetric=True,
        zero_iff_equal=True,
    ),
    Case(
        "mape",
        jaxloss.mape,
        lambda p, t: np.abs(p - t) / np.maximum(np.abs(t), F64_EPS),
        lambda p, t: np.sign(p - t) / np.maximum(np.abs(t), F64_EPS),
        _away_from_zero,
        zero_iff_equal=True,
    ),
    Case(
        "gaussian_nll",
        lambda p, t, **kw: jaxloss.gaussian_nll(p, t, np.float32(VARIANCE), **kw),
        lambda p, t: 0.5 * (np.log(VARIANCE) + (p - t) ** 2 / VARIANCE),
        lambda p, t: (p - t) / VARIANCE,
        _normal,
        symmetric=True,
        nonnegative=False,
    ),
    Case(
        "poisson_nll",
        jaxloss.poisson_nll,
        lambda p, t: np.exp(p) - t * p,
        lambda p, t: np.exp(p) - t,
        _counts,
        nonnegative=False,
    ),
    Case(
        "expectile",
        lambda p, t, **kw: jaxloss.expectile(p, t, tau=TAU, **kw),
        lambda p, t: np.where(t < p, 1 - TAU, TAU) * (t - p) ** 2,
        lambda p, t: -2 * np.where(t < p, 1 - TAU, TAU) * (t - p),
        _normal,
        zero_iff_equal=True,
    ),
    Case(
        "laplace_nll",
        lambda p, t, **kw: jaxloss.laplace_nll(p, t, scale=SPREAD, **kw),
        lambda p, t: -scipy.stats.laplace.logpdf(t, loc=p, scale=SPREAD),
        lambda p, t: np.sign(p - t) / SPREAD,
        _normal,
        symmetric=True,
        nonnegative=False,
    ),
    Case(
        "student_t_nll",
        lambda p, t, **kw: jaxloss.student_t_nll(p, t, scale=SPREAD, df=DF, **kw),
        lambda p, t: -scipy.stats.t.logpdf(t, DF, loc=p, scale=SPREAD),
        lambda p, t: -(DF + 1) * (t - p) / (DF * SPREAD**2 + (t - p) ** 2),
        _normal,
        symmetric=True,
        nonnegative=False,
    ),
    Case(
        "beta_nll",
        lambda p, t, **kw: jaxloss.beta_nll(p, t, variance=np.float32(VARIANCE), beta=BETA, **kw),
        lambda p, t: VARIANCE**BETA * 0.5 * (np.log(VARIANCE) + (p - t) ** 2 / VARIANCE),
        lambda p, t: VARIANCE**BETA * (p - t) / VARIANCE,
        _normal,
        symmetric=True,
        nonnegative=False,
    ),
    Case(
        "crps_normal",
        lambda p, t, **kw: jaxloss.crps_normal(p, t, scale=SPREAD, **kw),
        lambda p, t: crps_normal_reference(p, t, SPREAD),
        lambda p, t: 1 - 2 * scipy.stats.norm.cdf((t - p) / SPREAD),
        _normal,
        symmetric=True,
    ),
    Case(
        "robust_nll",
        lambda p, t, **kw: jaxloss.robust_nll(p, t, alpha=ALPHA, scale=SCALE, **kw),
        lambda p, t: barron(p - t, ALPHA, SCALE) + np.log(SCALE) + barron_log_partition(ALPHA),
        lambda p, t: barron_grad(p - t, ALPHA, SCALE),
        _normal,
        symmetric=True,
        nonnegative=False,
    ),
    Case(
        "tweedie_deviance",
        lambda p, t, **kw: jaxloss.tweedie_deviance(p, t, power=POWER, **kw),
        lambda p, t: (
            2
            * (
                t ** (2 - POWER) / ((1 - POWER) * (2 - POWER))
                - t * p ** (1 - POWER) / (1 - POWER)
                + p ** (2 - POWER) / (2 - POWER)
            )
        ),
        lambda p, t: 2 * p**-POWER * (p - t),
        _means,
        zero_iff_equal=True,
    ),
    Case(
        "robust",
        lambda p, t, **kw: jaxloss.robust(p, t, alpha=ALPHA, scale=SCALE, **kw),
        lambda p, t: barron(p - t, ALPHA, SCALE),
        lambda p, t: barron_grad(p - t, ALPHA, SCALE),
        _normal,
        symmetric=True,
        zero_iff_equal=True,
    ),
]

BY_NAME = {case.name: case for case in CASES}
