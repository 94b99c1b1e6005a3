"""The regression losses: each one its elementwise formula plus the shared contract.

Everything a loss has in common (validation, dtype policy, weights, masks, axes, reduction)
lives in :mod:`jaxloss._contract`; a function here states its formula, its hyperparameters
and their domains, and nothing else.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TypeVar

import jax
import jax.numpy as jnp
import numpy as np
from jax.custom_derivatives import SymbolicZero
from jax.typing import ArrayLike

from . import _contract
from ._contract import Axis, Reduction

_F = TypeVar("_F", bound=Callable[..., jax.Array])

_CONTRACT_ARGS = """\
weights: non-negative sample weights: a scalar, the shape of ``predictions``, or a
  leading prefix of it (``(N,)`` weights the rows of ``(N, K)`` data). Default: all 1.
where: boolean mask, shaped like ``weights``. ``False`` excludes an element from the
  value and the gradient, even where its inputs are NaN (padding). Default: all.
axis: the axes to reduce: ``None`` (all), an int or a tuple of ints. ``axis=0`` on
  ``(N, K)`` data gives one value per output.
reduction: ``"mean"``, the weighted mean ``Σ w·ℓ / Σ w`` over the selected elements (0,
  with a zero gradient, where ``Σ w = 0``); ``"sum"``, ``Σ w·ℓ``; or ``"none"``, the
  elementwise ``w·ℓ`` (0 where excluded)."""

_RETURNS = """\
The loss, reduced over ``axis``, in the compute dtype: the inputs' float dtype, with
float16/bfloat16 computed and accumulated in float32 and integers or booleans promoted
to the default float dtype."""


def _documented(fn: _F) -> _F:
    """Fills the contract's shared Args and Returns text into a loss's docstring.

    Each placeholder line (``{contract_args}``, ``{returns}``) is replaced by the shared
    text, indented like the placeholder.
    """
    shared = {"{contract_args}": _CONTRACT_ARGS, "{returns}": _RETURNS}
    lines = []
    for line in (fn.__doc__ or "").splitlines():
        text = shared.get(line.strip())
        if text is None:
            lines.append(line)
        else:
            indent = line[: len(line) - len(line.lstrip())]
            lines.extend(indent + shared_line for shared_line in text.splitlines())
    fn.__doc__ = "\n".join(lines)
    return fn


# ---------------------------------------------------------------------------------------------
# Elementwise formulas. Each receives predictions, targets and parameters in the compute dtype.
# ---------------------------------------------------------------------------------------------


def _squared_error(p: jax.Array, t: jax.Array) -> jax.Array:
    return jnp.square(p - t)


def _absolute_error(p: jax.Array, t: jax.Array) -> jax.Array:
    e = p - t
    # |e| with gradient sign(e): 0 at an exact fit (the minimal-norm subgradient, as in
    # PyTorch's l1_loss), where jax.grad(jnp.abs)(0.) is 1.
    return e * jnp.sign(e)


@jax.custom_jvp
def _huber_of_residual(e: jax.Array, delta: jax.Array) -> jax.Array:
    abs_error = jnp.abs(e)
    return jnp.where(abs_error <= delta, 0.5 * e * e, delta * (abs_error - 0.5 * delta))


def _huber_jvp(
    primals: tuple[jax.Array, jax.Array], tangents: tuple[jax.Array, jax.Array]
) -> tuple[jax.Array, jax.Array]:
    # A hand-written derivative keeps Huber as cheap as the bare where-form (one compare and
    # one select each way; min/clip formulations cost 20-40% more on CPU), while staying
    # correct where autodiff of the where-form is not: δ = inf (inf·0 in the unused branch).
    (e, delta), (de, ddelta) = primals, tangents
    abs_error = jnp.abs(e)
    quadratic = abs_error <= delta
    out = jnp.where(quadratic, 0.5 * e * e, delta * (abs_error - 0.5 * delta))
    tangent = jnp.zeros_like(out)
    if not isinstance(de, SymbolicZero):
        # ∂ℓ/∂e = clip(e, −δ, δ), continuous at |e| = δ where both branches give δ·sign(e).
        tangent = jnp.where(quadratic, e, jnp.sign(e) * delta) * de
    if not isinstance(ddelta, SymbolicZero):
        tangent = tangent + jnp.where(quadratic, jnp.zeros_like(e), abs_error - delta) * ddelta
    return out, tangent


_huber_of_residual.defjvp(_huber_jvp, symbolic_zeros=True)


def _huber(p: jax.Array, t: jax.Array, delta: jax.Array) -> jax.Array:
    return _huber_of_residual(p - t, delta)


def _pseudo_huber(p: jax.Array, t: jax.Array, delta: jax.Array) -> jax.Array:
    e = p - t
    # δ²(√(1 + (e/δ)²) − 1) rewritten as e·e / (1 + √(1 + (e/δ)²)): no cancellation for small
    # |e| (δ²(√(1+r²) − 1) is 0 in float32 below r ≈ 3e-4), and no overflow of e² for huge |e|.
    return e * (e / (1.0 + jnp.hypot(1.0, e / delta)))


def _log_cosh(p: jax.Array, t: jax.Array) -> jax.Array:
    e = p - t
    abs_error = jnp.abs(e)
    small = abs_error < 1.0
    # log cosh e = log1p(2 sinh²(e/2)) is exact for small |e|, where |e| + log1p(e^{−2|e|}) − log 2
    # cancels to 0; the latter cannot overflow for large |e|, where cosh does (|e| > 89 in
    # float32). The small branch gets a clamped input so its unused gradient stays finite.
    half_sinh = jnp.sinh(0.5 * jnp.where(small, e, jnp.zeros_like(e)))
    near = jnp.log1p(2.0 * half_sinh * half_sinh)
    far = abs_error + jnp.log1p(jnp.exp(-2.0 * abs_error)) - math.log(2.0)
    return jnp.where(small, near, far)


def _pinball(p: jax.Array, t: jax.Array, quantile: jax.Array) -> jax.Array:
    under = t - p
    return jnp.maximum(quantile * under, (quantile - 1.0) * under)


def _squared_log_error(p: jax.Array, t: jax.Array, eps: jax.Array) -> jax.Array:
    floor = eps - 1.0
    e = jnp.log1p(jnp.maximum(p, floor)) - jnp.log1p(jnp.maximum(t, floor))
    return e * e


def _absolute_percentage_error(p: jax.Array, t: jax.Array, eps: jax.Array) -> jax.Array:
    return jnp.abs(p - t) / jnp.maximum(jnp.abs(t), eps)


def _gaussian_nll(
    p: jax.Array, t: jax.Array, variance: jax.Array, eps: jax.Array, *, full: bool
) -> jax.Array:
    # PyTorch's clamp: the value is max(variance, eps) but the gradient passes through
    # unclamped, so a variance head that collapses towards 0 keeps receiving a signal.
    var = variance + jax.lax.stop_gradient(jnp.maximum(variance, eps) - variance)
    e = p - t
    nll = 0.5 * (jnp.log(var) + e * e / var)
    return nll + 0.5 * math.log(2.0 * math.pi) if full else nll


def _beta_nll(
    p: jax.Array, t: jax.Array, variance: jax.Array, eps: jax.Array, beta: jax.Array, *,
    full: bool,
) -> jax.Array:  # fmt: skip
    # Seitzer et al. (2022): each element's NLL weighted by its (clamped) variance to the
    # β, a constant to the gradient, so high-variance points stop dominating the mean's fit.
    weight = jax.lax.stop_gradient(jnp.maximum(variance, eps) ** beta)
    return weight * _gaussian_nll(p, t, variance, eps, full=full)


_INV_SQRT_PI = 1.0 / math.sqrt(math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


@jax.custom_jvp
def _crps_normal_of_error(e: jax.Array, scale: jax.Array) -> jax.Array:
    # σ[z(2Φ(z) − 1) + 2φ(z) − 1/√π] written as |e|(1 − 2Φ(−|z|)) + σ(2φ(z) − 1/√π) with
    # Φ(−|z|) = erfc(|z|/√2)/2: no cancellation in 2Φ(z) − 1 for large |z|, and the value
    # tends to |e| as σ → 0 (z·σ is e itself, never e/σ·σ).
    z = e / scale
    tail = jax.scipy.special.erfc(jnp.abs(z) * (1.0 / math.sqrt(2.0)))
    density = _INV_SQRT_2PI * jnp.exp(-0.5 * z * z)
    return jnp.abs(e) * (1.0 - tail) + scale * (2.0 * density - _INV_SQRT_PI)


@_crps_normal_of_error.defjvp
def _crps_normal_jvp(
    primals: tuple[jax.Array, jax.Array], tangents: tuple[jax.Array, jax.Array]
) -> tuple[jax.Array, jax.Array]:
    # ∂ℓ/∂e = 2Φ(z) − 1 = erf(z/√2) and ∂ℓ/∂σ = 2φ(z) − 1/√π: bounded for every σ > 0,
    # where differentiating z = e/σ would give 0/0 (e = 0, σ² underflowing) for tiny σ.
    e, scale = primals
    de, dscale = tangents
    z = e / scale
    d_error = jax.scipy.special.erf(z * (1.0 / math.sqrt(2.0)))
    d_scale = 2.0 * _INV_SQRT_2PI * jnp.exp(-0.5 * z * z) - _INV_SQRT_PI
    return _crps_normal_of_error(e, scale), d_error * de + d_scale * dscale


def _crps_normal(p: jax.Array, t: jax.Array, scale: jax.Array) -> jax.Array:
    return _crps_normal_of_error(t - p, scale)


_TWEEDIE_SERIES_TERMS = 10


def tweedie_of_log_ratio(t: jax.Array, x: jax.Array, power: float) -> jax.Array:
    """The unit deviance ``d(t, μ)`` of positive ``t`` from ``x = log(μ/t)`` (power != 0).

    With ``a = 2 − p`` and ``b = 1 − p`` it is ``2·t^a·g(x)``, ``g(x) = [b·expm1(a·x) −
    a·expm1(b·x)] / (ab)`` (``expm1(x) − x`` at p = 1, ``expm1(−x) + x`` at p = 2): every
    power taken as an exponential of a log, so huge or tiny means neither overflow nor
    underflow in between. Near μ = t the two expm1 terms cancel to O(x²) (a relative error
    of 1e-7/|x|: 0.3% at x = 3e-5), so there ``g`` is its Taylor series
    ``Σ_{k≥2} (a^{k−1} − b^{k−1}) x^k / k!`` (leading term x²/2, since a − b = 1).
    ``metrics.Deviance`` passes ``x = log1p((μ − t)/t)`` to keep tiny shifts exact.
    """
    a, b = 2.0 - power, 1.0 - power
    if power == 1:
        direct = jnp.expm1(x) - x
    elif power == 2:
        direct = jnp.expm1(-x) + x
    else:
        direct = (b * jnp.expm1(a * x) - a * jnp.expm1(b * x)) / (a * b)
    # Ten terms keep the truncation below 1e-9 relative wherever the series is used.
    small = jnp.abs(x) * max(abs(a), abs(b)) < 0.5
    xs = jnp.where(small, x, 0.0)
    series = jnp.zeros_like(x)
    for k in range(_TWEEDIE_SERIES_TERMS + 1, 1, -1):
        series = series * xs + (a ** (k - 1) - b ** (k - 1)) / math.factorial(k)
    g = jnp.where(small, series * xs * xs, direct)
    if power == 2:
        return 2.0 * g
    return 2.0 * jnp.exp(a * jnp.log(t)) * g


def tweedie_domains(power: float, *, log_input: bool = False) -> dict[str, _contract.Domain]:
    """scikit-learn's domains: ``μ > 0`` unless p = 0; ``t >= 0`` for 1 <= p < 2; ``t > 0``
    for p >= 2."""
    domains = {}
    if not log_input and power != 0:
        domains["predictions"] = _contract.POSITIVE
    if power >= 2:
        domains["targets"] = _contract.POSITIVE
    elif power >= 1:
        domains["targets"] = _contract.NONNEGATIVE
    return domains


def _tweedie_deviance(p: jax.Array, t: jax.Array, *, power: float, log_input: bool) -> jax.Array:
    """scikit-learn's unit deviance, with μ = p (or e^p); NaN outside the domain, 0 at the
    masked stand-in p = t = 0."""
    standin = (p == 0) & (t == 0)
    valid = ~standin
    if not log_input and power != 0:
        valid &= p > 0
    if power >= 2:
        valid &= t > 0
    elif power >= 1:
        valid &= t >= 0
    # Every operand replaced by a harmless 1 where the answer is fixed (stand-in or NaN), so
    # neither branch of the final where can produce a NaN gradient (the "double where").
    one = jnp.ones_like(p)
    if power == 0:
        mu = jnp.exp(p) if log_input else p
        deviance = (jnp.where(valid, t, one) - jnp.where(valid, mu, one)) ** 2
        return jnp.where(valid, deviance, jnp.where(standin, 0.0, jnp.nan))
    log_mu = jnp.where(valid, p, 0.0) if log_input else jnp.log(jnp.where(valid, p, one))
    positive = valid & (t > 0)
    safe_t = jnp.where(positive, t, one)
    x = log_mu - jnp.log(safe_t)
    if not log_input:
        # Near μ = t, log μ − log t loses the digits that matter (5% of x at t = 1e5 ± 2);
        # μ − t is exact there (Sterbenz), so log1p((μ − t)/t) keeps them. Elsewhere the
        # ratio may overflow, and the difference of logs is exact enough.
        near = (p > 0.5 * safe_t) & (p < 2.0 * safe_t)
        x = jnp.where(near, jnp.log1p((jnp.where(near, p, safe_t) - safe_t) / safe_t), x)
    at_positive = tweedie_of_log_ratio(safe_t, x, power)
    # t <= 0 (t = 0 for p < 2; any t <= 0 for p < 0): the t^(2−p) term vanishes.
    rest = jnp.where(positive, 0.0 * one, jnp.where(valid, t, 0.0 * one))
    if power == 1:
        at_zero = 2.0 * jnp.exp(log_mu)
    else:
        at_zero = 2.0 * (-rest * jnp.exp((1.0 - power) * log_mu) / (1.0 - power)
                         + jnp.exp((2.0 - power) * log_mu) / (2.0 - power))  # fmt: skip
    deviance = jnp.where(positive, at_positive, at_zero)
    return jnp.where(valid, deviance, jnp.where(standin, 0.0, jnp.nan))


# Up to this many members the pairwise sum beats sorting (benchmarks/bench_losses.py: 2× at
# M = 8 on CPU; the sort is 1.2× faster at 32 and 16× at 256).
_PAIRWISE_UP_TO = 16


def _crps_ensemble(x: jax.Array, t: jax.Array, *, fair: bool) -> jax.Array:
    """CRPS of the ensemble on the last axis of ``x``, in O(M log M): with the members sorted,
    Σ_ij |x_i − x_j| = 2·Σ_i (2i − M − 1)·x_(i), i = 1..M."""
    m = x.shape[-1]
    to_target = jnp.mean(jnp.abs(x - t[..., None]), axis=-1)
    if m <= _PAIRWISE_UP_TO:  # a few members: the M² differences are cheaper than a sort
        pairs = jnp.sum(jnp.abs(x[..., :, None] - x[..., None, :]), axis=(-2, -1))
    else:
        rank = jnp.arange(1, m + 1, dtype=x.dtype).reshape((1,) * (x.ndim - 1) + (m,))
        pairs = 2.0 * jnp.sum((2.0 * rank - (m + 1)) * jnp.sort(x, axis=-1), axis=-1)
    return to_target - pairs / (2.0 * m * (m - 1) if fair else 2.0 * m * m)


def _interval_score(
    lower: jax.Array, t: jax.Array, upper: jax.Array, alpha: jax.Array
) -> jax.Array:  # fmt: skip
    below = jnp.maximum(lower - t, 0.0)
    above = jnp.maximum(t - upper, 0.0)
    return (upper - lower) + (2.0 / alpha) * (below + above)


def _stirling_term(t: jax.Array) -> jax.Array:
    """t·log t − t + ½·log(2πt) for t > 1, else 0: Stirling's approximation of log(t!)."""
    large = t > 1.0
    safe = jnp.where(large, t, jnp.ones_like(t))
    term = safe * jnp.log(safe) - safe + 0.5 * jnp.log(2.0 * math.pi * safe)
    return jnp.where(large, term, jnp.zeros_like(t))


def _poisson_nll(
    p: jax.Array, t: jax.Array, eps: jax.Array, *, log_input: bool, full: bool
) -> jax.Array:
    nll = jnp.exp(p) - t * p if log_input else p - t * jnp.log(p + eps)
    return nll + _stirling_term(t) if full else nll


# 1/(k+1)! for k = 10..0: the Taylor coefficients of (e^z − 1)/z, highest first.
_EXPREL_TAYLOR = tuple(1.0 / math.factorial(k + 1) for k in range(10, -1, -1))


@jax.custom_jvp
def _expm1(z: jax.Array) -> jax.Array:
    """expm1 whose derivative is e^z itself: JAX differentiates expm1 as expm1(z) + 1, which
    rounds to 0 where e^z is below half an ulp of 1 (z < −17 in float32)."""
    return jnp.expm1(z)


@_expm1.defjvp
def _expm1_jvp(
    primals: tuple[jax.Array], tangents: tuple[jax.Array]
) -> tuple[jax.Array, jax.Array]:
    (z,), (dz,) = primals, tangents
    return jnp.expm1(z), jnp.exp(z) * dz


def _half_log_expm1(b: jax.Array, a: jax.Array, log_term: jax.Array) -> jax.Array:
    """(b/a)·expm1(a·L/2) = ½·b·L·exprel(a·L/2), accurate in value and derivative everywhere.

    For |a·L/2| < ½ the second form, with a degree-10 Taylor polynomial of exprel (exact to
    1e-11 there): the first would divide by a → 0, and autodiff of expm1(z)/z cancels
    catastrophically for small z. Elsewhere the first form: the product form's derivative
    is a difference of two large terms there (in the saturated regime, α < 0 and |x| ≫ c,
    ∂ρ/∂c came out +2e-3 where the truth is −3e-11, and the value overshot its bound
    (α − 2)/α by 2 ulp), while d/dL of (b/a)·expm1(a·L/2) is the single term ½·b·e^{a·L/2}.
    """
    z = 0.5 * a * log_term
    small = jnp.abs(z) < 0.5
    z_small = jnp.where(small, z, jnp.zeros_like(z))
    taylor = jnp.zeros_like(z)
    for coefficient in _EXPREL_TAYLOR:
        taylor = taylor * z_small + coefficient
    a_large = jnp.where(small, jnp.ones_like(a), a)
    z_large = jnp.where(small, jnp.zeros_like(z), z)
    return jnp.where(small, 0.5 * b * log_term * taylor, b / a_large * _expm1(z_large))


def _robust(p: jax.Array, t: jax.Array, alpha: jax.Array, scale: jax.Array) -> jax.Array:
    scaled = (p - t) / scale
    y = scaled * scaled
    # A finite stand-in for alpha = ±inf, whose losses are selected at the end.
    a = jnp.where(jnp.isfinite(alpha), alpha, jnp.ones_like(alpha))
    # |α−2|/α · ((y/|α−2| + 1)^{α/2} − 1) = ½|α−2|·L·exprel(α/2·L), L = log1p(y/|α−2|):
    # no division by α (so α = 0, Cauchy, is an ordinary point with exact value and
    # gradient), and no (1 + tiny)^{α/2} − 1, which rounds to 0 for residuals below ~1e-4.
    b = jnp.abs(a - 2.0)
    # |α−2| is kept >= eps for the value, while the straight-through gradient stays that of
    # the formula at eps: finite at α = 2, where the true ∂ρ/∂α grows like log(1/|α−2|).
    b_safe = b + jax.lax.stop_gradient(jnp.maximum(b, jnp.finfo(b.dtype).eps) - b)
    log_term = jnp.log1p(y / b_safe)
    general = _half_log_expm1(b_safe, a, log_term)
    # At α = 2 return the limit ½y exactly, with the general formula's finite gradient.
    tangent = general - jax.lax.stop_gradient(general)
    general = jnp.where(a == 2.0, jax.lax.stop_gradient(0.5 * y) + tangent, general)
    y_posinf = jnp.where(alpha == jnp.inf, y, jnp.zeros_like(y))  # expm1 overflows elsewhere
    return jnp.where(
        alpha == -jnp.inf,
        -jnp.expm1(-0.5 * y),
        jnp.where(alpha == jnp.inf, jnp.expm1(0.5 * y_posinf), general),
    )


def _tan_gauss_legendre(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes x and weights w with Σ w·f(x) ≈ ∫_0^∞ f(x) dx, through x = √2·tan θ.

    Gauss–Legendre on θ ∈ [0, π/2); the substitution maps the Cauchy shape (α = 0), whose
    density decays like 2/x², to the constant √2, so every α >= 0 is a smooth integrand.
    """
    nodes, weights = np.polynomial.legendre.leggauss(n)
    theta = (nodes + 1.0) * (math.pi / 4.0)
    jacobian = math.sqrt(2.0) / np.cos(theta) ** 2
    return math.sqrt(2.0) * np.tan(theta), weights * (math.pi / 4.0) * jacobian


# 128 nodes: log Z within 5e-7 (relative) of float64 quadrature on α in [0, 10].
_LOG_Z_NODES, _LOG_Z_WEIGHTS = _tan_gauss_legendre(128)


def _robust_log_partition(alpha: jax.Array) -> jax.Array:
    """log Z(α) = log ∫ exp(−ρ(x, α, 1)) dx, by quadrature (differentiable in α)."""
    shape = (1,) * alpha.ndim + (_LOG_Z_NODES.size,)
    x = jnp.asarray(_LOG_Z_NODES, alpha.dtype).reshape(shape)
    weights = jnp.asarray(_LOG_Z_WEIGHTS, alpha.dtype).reshape(shape)
    a = alpha[..., None]
    # Nodes where (α/2)·log1p(x²/|α−2|) > 80 have exp(−ρ) = 0 in float32 but a ρ that
    # overflows: they are replaced by x = 0 before ρ is computed, so neither the value nor
    # the α-gradient (0 · inf) can become NaN.
    b = jnp.maximum(jnp.abs(a - 2.0), jnp.finfo(alpha.dtype).eps)
    negligible = a * jnp.log1p(x * x / b) > 160.0
    x_safe = jnp.where(negligible, jnp.zeros_like(x), x)
    rho = _robust(x_safe, jnp.zeros_like(x_safe), a, jnp.ones((), alpha.dtype))
    density = jnp.where(negligible, jnp.zeros_like(rho), jnp.exp(-rho))
    return jnp.log(2.0 * jnp.sum(weights * density, axis=-1))


def _robust_nll(p: jax.Array, t: jax.Array, alpha: jax.Array, scale: jax.Array) -> jax.Array:
    return _robust(p, t, alpha, scale) + jnp.log(scale) + _robust_log_partition(alpha)


def _expectile(p: jax.Array, t: jax.Array, tau: jax.Array) -> jax.Array:
    e = t - p
    return jnp.where(e < 0, 1.0 - tau, tau) * e * e


def _laplace_nll(p: jax.Array, t: jax.Array, scale: jax.Array) -> jax.Array:
    return jnp.abs(t - p) / scale + jnp.log(2.0 * scale)


# log Γ((ν+1)/2) − log Γ(ν/2) − ½ log(νπ) = −½ log 2π − 1/(4ν) + 1/(24ν³) + 1/(20ν⁵) − 17/(112ν⁷)
# + O(ν⁻⁹): the asymptotic series of log Γ(x + ½) − log Γ(x) at x = ν/2. Used for ν >= 20,
# where the log-gamma difference itself cancels (log Γ(ν/2) is ~1.7e9 at ν = 1e8 in float32).
_STUDENT_T_SERIES_FROM = 20.0


def _student_t_log_normaliser(df: jax.Array) -> jax.Array:
    large = df >= _STUDENT_T_SERIES_FROM
    nu_small = jnp.where(large, jnp.ones_like(df), df)
    nu_large = jnp.where(large, df, jnp.full_like(df, _STUDENT_T_SERIES_FROM))
    exact = (
        jax.scipy.special.gammaln(0.5 * (nu_small + 1.0))
        - jax.scipy.special.gammaln(0.5 * nu_small)
        - 0.5 * jnp.log(nu_small * math.pi)
    )
    inverse = 1.0 / nu_large
    inverse2 = inverse * inverse
    series = -0.5 * math.log(2.0 * math.pi) + inverse * (
        -0.25 + inverse2 * (1.0 / 24.0 + inverse2 * (1.0 / 20.0 - inverse2 * 17.0 / 112.0))
    )
    return jnp.where(large, series, exact)


def _student_t_nll(p: jax.Array, t: jax.Array, scale: jax.Array, df: jax.Array) -> jax.Array:
    z = (t - p) / scale
    return 0.5 * (df + 1.0) * jnp.log1p(z * z / df) + jnp.log(scale) - _student_t_log_normaliser(df)


# ---------------------------------------------------------------------------------------------
# Public losses.
# ---------------------------------------------------------------------------------------------


@_documented
def mse(
    predictions: ArrayLike,
    targets: ArrayLike,
    *,
    weights: ArrayLike | None = None,
    where: ArrayLike | None = None,
    axis: Axis = None,
    reduction: Reduction = "mean",
) -> jax.Array:
    """Mean squared error.

    .. math::
      ℓ(p, t) = (p − t)^2, \\qquad \\mathrm{MSE} = Σ_i w_i ℓ_i / Σ_i w_i

    The same as ``sklearn.metrics.mean_squared_error`` (``axis=0`` is its
    ``multioutput="raw_values"``) and ``optax.losses.squared_error(...).mean()``.

    Args:
      predictions: predicted values, any shape, real dtype.
      targets: target values, the same shape as ``predictions`` (never broadcast).
      {contract_args}

    Returns:
      {returns}

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxloss
      >>> p, t = jnp.array([1.0, 2.0, 4.0, 0.0]), jnp.array([1.0, 3.0, 1.0, 0.0])
      >>> print(jaxloss.mse(p, t))
      2.5
      >>> print(jaxloss.mse(p, t, weights=jnp.array([1.0, 1.0, 0.0, 0.0])))
      0.5
    """
    return _contract.elementwise_loss(
        "mse",
        _squared_error,
        predictions,
        targets,
        weights=weights,
        where=where,
        axis=axis,
        reduction=reduction,
    )


@jax.custom_jvp
def _sqrt_zero_grad_at_zero(x: jax.Array) -> jax.Array:
    return jnp.sqrt(x)


@_sqrt_zero_grad_at_zero.defjvp
def _sqrt_zero_grad_at_zero_jvp(
    primals: tuple[jax.Array], tangents: tuple[jax.Array]
) -> tuple[jax.Array, jax.Array]:
    (x,), (dx,) = primals, tangents
    y = jnp.sqrt(x)
    positive = x > 0
    # At x = 0, RMSE = |e|-like has subgradients [−1, 1]; 0 is the minimal-norm one, where the
    # textbook 1/(2√x) times a zero dx gives NaN and stalls training on an exact fit.
    slope = jnp.where(positive, 0.5 / jnp.where(positive, y, jnp.ones_like(y)), 0.0)
    return y, slope * dx


@_documented
def rmse(
    predictions: ArrayLike,
    targets: ArrayLike,
    *,
    weights: ArrayLike | None = None,
    where: ArrayLike | None = None,
    axis: Axis = None,
    reduction: Reduction = "mean",
) -> jax.Array:
    """Root mean squared error: the square root of :func:`mse` with the same arguments.

    .. math::
      \\mathrm{RMSE} = \\sqrt{Σ_i w_i (p_i − t_i)^2 / Σ_i w_i}

    Reported in the targets' units. Its gradient at zero residual is 0 (the minimal-norm
    subgradient), never NaN. ``reduction="sum"`` gives ``√(Σ w·e²)``, the weighted L2 norm of
    the residuals; ``"none"`` is refused, since a square root of one element is ``|e|``
    (use :func:`mae` or ``mse(..., reduction="none")``). With ``axis=0`` on ``(N, K)`` data it
    gives one RMSE per output, as ``sklearn.metrics.root_mean_squared_error`` with
    ``multioutput="raw_values"``.

    Args:
      predictions: predicted values, any shape, real dtype.
      targets: target values, the same shape as ``predictions`` (never broadcast).
      {contract_args}

    Returns:
      {returns}

    Example:
      >>> import jax, jax.numpy as jnp
      >>> import jaxloss
      >>> print(jaxloss.rmse(jnp.array([1.0, 2.0]), jnp.array([1.0, 4.0])))
      1.4142135
      >>> print(jax.grad(jaxloss.rmse)(jnp.array([3.0]), jnp.array([3.0])))
      [0.]
    """
    if reduction == "none":
        raise ValueError(
            "jaxloss.rmse: reduction='none' is not supported: the square root of one squared "
            "error is |e|. Use jaxloss.mae(..., reduction='none') or "
            "jaxloss.mse(..., reduction='none'), or reduction='mean' / 'sum'."
        )
    mean_or_sum = _contract.elementwise_loss(
        "rmse",
        _squared_error,
        predictions,
        targets,
        weights=weights,
        where=where,
        axis=axis,
        reduction=reduction,
        reductions=("mean", "sum"),
    )
    return _sqrt_zero_grad_at_zero(mean_or_sum)


@_documented
def mae(
    predictions: ArrayLike,
    targets: ArrayLike,
    *,
    weights: ArrayLike | None = None,
    where: ArrayLike | None = None,
    axis: Axis = None,
    reduction: Reduction = "mean",
) -> jax.Array:
    """Mean absolute error.

    .. math::
      ℓ(p, t) = |p − t|

    The same as ``sklearn.metrics.mean_absolute_error``. Robust to outliers: each residual
    pulls with the same force, so the minimiser is a (weighted) median. The gradient is
    ``sign(e)``, and 0 at ``p = t`` (the minimal-norm subgradient).

    Args:
      predictions: predicted values, any shape, real dtype.
      targets: target values, the same shape as ``predictions`` (never broadcast).
      {contract_args}

    Returns:
      {returns}

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxloss
      >>> print(jaxloss.mae(jnp.array([1.0, 2.0, 4.0, 0.0]), jnp.array([1.0, 3.0, 1.0, 0.0])))
      1.0
    """
    return _contract.elementwise_loss(
        "mae",
        _absolute_error,
        predictions,
        targets,
        weights=weights,
        where=where,
        axis=axis,
        reduction=reduction,
    )


@_documented
def huber(
    predictions: ArrayLike,
    targets: ArrayLike,
    *,
    delta: ArrayLike = 1.0,
    weights: ArrayLike | None = None,
    where: ArrayLike | None = None,
    axis: Axis = None,
    reduction: Reduction = "mean",
) -> jax.Array:
    """Huber loss: quadratic for small residuals, linear for large ones.

    .. math::
      ℓ(p, t) = \\begin{cases} ½ e^2 & |e| ≤ δ \\\\ δ (|e| − ½ δ) & |e| > δ \\end{cases},
      \\qquad e = p − t

    The ½e² convention of ``optax.losses.huber_loss`` and ``torch.nn.functional.huber_loss``
    (so ``δ → ∞`` gives ``½·mse``; ``smooth_l1`` is ``huber / δ``). Value and gradient are
    continuous at ``|e| = δ``, where the gradient is ``δ·sign(e)``.

    Args:
      predictions: predicted values, any shape, real dtype.
      targets: target values, the same shape as ``predictions`` (never broadcast).
      delta: the residual size where the loss turns linear, ``> 0``; ``inf`` is allowed. A
        scalar or a same-rank broadcastable array (``(1, K)``: one per output); may be traced.
      {contract_args}

    Returns:
      {returns}

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxloss
      >>> print(jaxloss.huber(jnp.array([0.5, 3.0]), jnp.zeros(2), reduction="none"))
      [0.125 2.5  ]
    """
    return _contract.elementwise_loss(
        "huber",
        _huber,
        predictions,
        targets,
        weights=weights,
        where=where,
        axis=axis,
        reduction=reduction,
        params={"delta": delta},
        domains={"delta": _contract.POSITIVE},
    )


@_documented
def pseudo_huber(
    predictions: ArrayLike,
    targets: ArrayLike,
    *,
    delta: ArrayLike = 1.0,
    weights: ArrayLike | None = None,
    where: ArrayLike | None = None,
    axis: Axis = None,
    reduction: Reduction = "mean",
) -> jax.Array:
    """Pseudo-Huber loss: a smooth (infinitely differentiable) Huber.

    .. math::
      ℓ(p, t) = δ^2 \\left(\\sqrt{1 + (e/δ)^2} − 1\\right), \\qquad e = p − t

    ``≈ ½e²`` for ``|e| ≪ δ`` and ``≈ δ|e|`` for ``|e| ≫ δ``, the same asymptotes as
    :func:`huber`. Computed as ``e² / (1 + √(1 + (e/δ)²))``, which neither cancels for small
    residuals nor overflows for large ones.

    Args:
      predictions: predicted values, any shape, real dtype.
      targets: target values, the same shape as ``predictions`` (never broadcast).
      delta: the transition scale, ``> 0`` (scalar or same-rank array; may be traced).
      {contract_args}

    Returns:
      {returns}

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxloss
      >>> loss = jaxloss.pseudo_huber(jnp.array([0.0, 1.0]), jnp.zeros(2), reduction="sum")
      >>> print(f"{float(loss):.6f}")  # √2 − 1
      0.414214
    """
    return _contract.elementwise_loss(
        "pseudo_huber",
        _pseudo_huber,
        predictions,
        targets,
        weights=weights,
        where=where,
        axis=axis,
        reduction=reduction,
        params={"delta": delta},
        domains={"delta": _contract.POSITIVE},
    )


@_documented
def log_cosh(
    predictions: ArrayLike,
    targets: ArrayLike,
    *,
    weights: ArrayLike | None = None,
    where: ArrayLike | None = None,
    axis: Axis = None,
    reduction: Reduction = "mean",
) -> jax.Array:
    """Log-cosh loss.

    .. math::
      ℓ(p, t) = \\log\\cosh(p − t)

    ``≈ ½e²`` for small residuals and ``≈ |e| − log 2`` for large ones; its gradient is
    ``tanh(e)``. Stable everywhere: no overflow at ``|e| = 10⁴`` (where ``cosh`` overflows),
    and no cancellation to 0 for tiny residuals.

    Args:
      predictions: predicted values, any shape, real dtype.
      targets: target values, the same shape as ``predictions`` (never broadcast).
      {contract_args}

    Returns:
      {returns}

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxloss
      >>> print(f"{float(jaxloss.log_cosh(jnp.array([1e4]), jnp.array([0.0]))):.2f}")
      9999.31
    """
    return _contract.elementwise_loss(
        "log_cosh",
        _log_cosh,
        predictions,
        targets,
        weights=weights,
        where=where,
        axis=axis,
        reduction=reduction,
    )


@_documented
def pinball(
    predictions: ArrayLike,
    targets: ArrayLike,
    *,
    quantile: ArrayLike = 0.5,
    weights: ArrayLike | None = None,
    where: ArrayLike | None = None,
    axis: Axis = None,
    reduction: Reduction = "mean",
) -> jax.Array:
    """Pinball (quantile) loss, minimised by the ``quantile``-th conditional quantile.

    .. math::
      ℓ(p, t) = \\max(q\\,(t − p),\\; (q − 1)(t − p))

    Under-prediction costs ``q`` per unit, over-prediction ``1 − q``. The same loss as
    ``sklearn.metrics.mean_pinball_loss(alpha=quantile)``; ``quantile=0.5`` is ``½·mae``.

    Args:
      predictions: predicted quantiles, any shape, real dtype.
      targets: target values, the same shape as ``predictions`` (never broadcast).
      quantile: the target quantile ``q`` in ``[0, 1]``: a scalar, or a same-rank array such
        as ``(1, K)`` to fit K quantiles at once; may be traced.
      {contract_args}

    Returns:
      {returns}

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxloss
      >>> t = jnp.array([1.0, 1.0])
      >>> print(jaxloss.pinball(jnp.array([0.0, 2.0]), t, quantile=0.75, reduction="none"))
      [0.75 0.25]
    """
    return _contract.elementwise_loss(
        "pinball",
        _pinball,
        predictions,
        targets,
        weights=weights,
        where=where,
        axis=axis,
        reduction=reduction,
        params={"quantile": quantile},
        domains={"quantile": _contract.UNIT_INTERVAL},
    )


@_documented
def msle(
    predictions: ArrayLike,
    targets: ArrayLike,
    *,
    eps: float = 1e-7,
    weights: ArrayLike | None = None,
    where: ArrayLike | None = None,
    axis: Axis = None,
    reduction: Reduction = "mean",
) -> jax.Array:
    """Mean squared logarithmic error.

    .. math::
      ℓ(p, t) = (\\log(1 + p) − \\log(1 + t))^2

    The same as ``sklearn.metrics.mean_squared_log_error``. Defined for ``p, t > −1``:
    out-of-domain values known at trace time raise ``ValueError`` (as scikit-learn does);
    under ``jax.jit`` they cannot be seen, and both inputs are clamped to ``≥ −1 + eps``
    (``eps = 1e-7``) so the loss stays finite; :func:`jaxloss.checked` turns them into errors.

    Args:
      predictions: predicted values ``> −1``, any shape, real dtype.
      targets: target values ``> −1``, the same shape as ``predictions``.
      eps: the clamp margin above −1 used under ``jit``, ``> 0``.
      {contract_args}

    Returns:
      {returns}

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxloss
      >>> print(jaxloss.msle(jnp.array([0.0, jnp.e - 1]), jnp.zeros(2)))
      0.5
    """
    above_minus_one = _contract.ABOVE_MINUS_ONE
    return _contract.elementwise_loss(
        "msle",
        _squared_log_error,
        predictions,
        targets,
        weights=weights,
        where=where,
        axis=axis,
        reduction=reduction,
        params={"eps": eps},
        domains={
            "predictions": above_minus_one,
            "targets": above_minus_one,
            "eps": _contract.POSITIVE,
        },
    )


# scikit-learn's choice: float64 machine epsilon, which float32 still represents (as a normal).
_MAPE_EPS = 2.220446049250313e-16


@_documented
def mape(
    predictions: ArrayLike,
    targets: ArrayLike,
    *,
    eps: float = _MAPE_EPS,
    weights: ArrayLike | None = None,
    where: ArrayLike | None = None,
    axis: Axis = None,
    reduction: Reduction = "mean",
) -> jax.Array:
    """Mean absolute percentage error, as a fraction (0.1 means 10%).

    .. math::
      ℓ(p, t) = |p − t| / \\max(|t|, ε)

    The same as ``sklearn.metrics.mean_absolute_percentage_error``, including its
    ``ε = 2.220446049250313e-16`` (float64 machine epsilon): a zero target gives a huge but
    finite loss, not Inf. Exclude such targets with ``where`` if they are expected.

    Args:
      predictions: predicted values, any shape, real dtype.
      targets: target values, the same shape as ``predictions`` (never broadcast).
      eps: the floor on ``|t|`` in the denominator, ``> 0``.
      {contract_args}

    Returns:
      {returns}

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxloss
      >>> print(jaxloss.mape(jnp.array([110.0, 45.0]), jnp.array([100.0, 50.0])))
      0.1
    """
    return _contract.elementwise_loss(
        "mape",
        _absolute_percentage_error,
        predictions,
        targets,
        weights=weights,
        where=where,
        axis=axis,
        reduction=reduction,
        params={"eps": eps},
        domains={"eps": _contract.POSITIVE},
    )


def _check_flag(name: str, arg: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(
            f"jaxloss.{name}: {arg} must be a Python bool (it selects the formula); "
            f"got {value!r} of type {type(value).__name__}."
        )
    return value


@_documented
def gaussian_nll(
    predictions: ArrayLike,
    targets: ArrayLike,
    variance: ArrayLike,
    *,
    full: bool = False,
    eps: float = 1e-6,
    weights: ArrayLike | None = None,
    where: ArrayLike | None = None,
    axis: Axis = None,
    reduction: Reduction = "mean",
) -> jax.Array:
    """Gaussian negative log-likelihood with a predicted variance (heteroscedastic regression).

    .. math::
      ℓ(μ, t, σ^2) = ½\\left(\\log \\max(σ^2, ε) + \\frac{(μ − t)^2}{\\max(σ^2, ε)}\\right)
        \\;[+\\; ½ \\log 2π \\text{ if full}]

    PyTorch's ``gaussian_nll_loss`` convention: ``variance`` is the variance (not the standard
    deviation or its log), clamped below at ``eps`` for the value while the gradient passes
    through the clamp unchanged, and the constant ``½ log 2π`` is added only with
    ``full=True``.

    Args:
      predictions: predicted means ``μ``, any shape, real dtype.
      targets: target values, the same shape as ``predictions`` (never broadcast).
      variance: predicted variances ``σ² >= 0``: the shape of ``predictions``, a scalar
        (homoscedastic), or a same-rank broadcastable array such as ``(N, 1)``.
      full: whether to include the constant ``½ log 2π`` (a Python bool).
      eps: the floor on the variance, ``> 0``.
      {contract_args}

    Returns:
      {returns}

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxloss
      >>> print(jaxloss.gaussian_nll(jnp.array([0.0]), jnp.array([2.0]), jnp.array([4.0])))
      1.1931472
    """
    full = _check_flag("gaussian_nll", "full", full)
    return _contract.elementwise_loss(
        "gaussian_nll",
        lambda p, t, **kw: _gaussian_nll(p, t, **kw, full=full),
        predictions,
        targets,
        weights=weights,
        where=where,
        axis=axis,
        reduction=reduction,
        params={"variance": variance, "eps": eps},
        domains={"variance": _contract.NONNEGATIVE, "eps": _contract.POSITIVE},
    )


@_documented
def poisson_nll(
    predictions: ArrayLike,
    targets: ArrayLike,
    *,
    log_input: bool = True,
    full: bool = False,
    eps: float = 1e-8,
    weights: ArrayLike | None = None,
    where: ArrayLike | None = None,
    axis: Axis = None,
    reduction: Reduction = "mean",
) -> jax.Array:
    """Poisson negative log-likelihood for count targets.

    .. math::
      ℓ(p, t) = \\begin{cases} e^{p} − t\\,p & \\text{log\\_input} \\\\
    p − t \\log(p + ε) & \\text{otherwise} \\end{cases}
    \\;[+\\; t \\log t − t + ½ \\log(2π t) \\text{ for } t > 1 \\text{ if full}]

    PyTorch's ``poisson_nll_loss`` convention: with ``log_input=True`` the prediction is the
    log-rate; otherwise it is the rate ``λ >= 0`` and ``ε = 1e-8`` keeps ``log λ`` finite at
    ``λ = 0``. ``full=True`` adds Stirling's approximation of ``log(t!)`` (for ``t > 1``), so
    the loss is the full negative log-likelihood up to that approximation. ``log(t!)``
    does not depend on the prediction, so gradients are the same either way.

    Targets must be ``>= 0`` (and rates too, with ``log_input=False``): violations known at
    trace time raise ``ValueError``; under ``jit`` use :func:`jaxloss.checked` to catch them.

    Args:
      predictions: log-rates (``log_input=True``) or rates ``>= 0``, any shape, real dtype.
      targets: counts ``>= 0``, the same shape as ``predictions`` (never broadcast).
      log_input: whether ``predictions`` are log-rates (a Python bool).
      full: whether to add the Stirling term (a Python bool).
      eps: added to the rate inside the log when ``log_input=False``, ``> 0``.
      {contract_args}

    Returns:
      {returns}

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxloss
      >>> print(jaxloss.poisson_nll(jnp.array([0.0]), jnp.array([3.0])))
      1.0
    """
    log_input = _check_flag("poisson_nll", "log_input", log_input)
    full = _check_flag("poisson_nll", "full", full)
    domains = {"targets": _contract.NONNEGATIVE, "eps": _contract.POSITIVE}
    if not log_input:
        domains["predictions"] = _contract.NONNEGATIVE
    return _contract.elementwise_loss(
        "poisson_nll",
        lambda p, t, eps: _poisson_nll(p, t, eps, log_input=log_input, full=full),
        predictions,
        targets,
        weights=weights,
        where=where,
        axis=axis,
        reduction=reduction,
        params={"eps": eps},
        domains=domains,
    )


@_documented
def robust(
    predictions: ArrayLike,
    targets: ArrayLike,
    *,
    alpha: ArrayLike,
    scale: ArrayLike = 1.0,
    weights: ArrayLike | None = None,
    where: ArrayLike | None = None,
    axis: Axis = None,
    reduction: Reduction = "mean",
) -> jax.Array:
    """Barron's general and adaptive robust loss.

    .. math::
      ρ(e, α, c) = \\frac{|α − 2|}{α} \\left(\\left(\\frac{(e/c)^2}{|α − 2|} + 1
        \\right)^{α/2} − 1\\right), \\qquad e = p − t

    with its limits at the singular shapes. ``α`` sets robustness, ``c`` the size of the
    quadratic bowl near 0; ``ρ ≈ ½(e/c)²`` for small residuals, for every ``α``.

    ====== ====================================== =========================
    α      ρ(e, α, c), x = e/c                    name
    ====== ====================================== =========================
    2      ½ x²                                   L2 (½·mse)
    1      √(x² + 1) − 1                          Charbonnier / pseudo-Huber
    0      log(½ x² + 1)                          Cauchy / Lorentzian
    −2     2x² / (x² + 4)                         Geman-McClure
    −∞     1 − exp(−½ x²)                         Welsch / Leclerc
    ====== ====================================== =========================

    ``+∞`` gives ``exp(½ x²) − 1``. The loss is differentiable in ``alpha`` and ``scale``,
    so both can be learned jointly with the model ("adaptive"): keep ``scale > 0`` (e.g.
    ``softplus``) and ``alpha`` in a range such as ``(0, 2)``. It is evaluated as
    ``½|α−2|·L·(e^{αL/2} − 1)/(αL/2)`` with ``L = log1p(x²/|α−2|)``: accurate for tiny
    residuals (``x = 1e-4`` gives ``x²/2``, not 0) and smooth through ``α = 0``. At
    ``α = 2`` the value is ``½x²`` exactly; there the true ``∂ρ/∂α`` grows without bound
    (like ``log(1/|α−2|)``), and the gradient returned is the finite, positive value of the
    formula at ``|α − 2| = eps`` (ρ increases with α everywhere).

    Reference:
      J. T. Barron, "A General and Adaptive Robust Loss Function", CVPR 2019,
      https://arxiv.org/abs/1701.03077

    Args:
      predictions: predicted values, any shape, real dtype.
      targets: target values, the same shape as ``predictions`` (never broadcast).
      alpha: the shape, any real number including ``±inf`` (scalar or same-rank array; may
        be traced and differentiated).
      scale: the scale ``c > 0`` (scalar or same-rank array; may be traced and
        differentiated).
      {contract_args}

    Returns:
      {returns}

    Example:
      >>> import jax, jax.numpy as jnp
      >>> import jaxloss
      >>> e = jnp.array([0.0, 1.0, 10.0])
      >>> print(jnp.round(jaxloss.robust(e, jnp.zeros(3), alpha=0.0, reduction="none"), 4))
      [0.     0.4055 3.9318]
      >>> # d/dalpha, e.g. to learn the shape jointly with the model:
      >>> print(f"{jax.grad(lambda a: jaxloss.robust(e, jnp.zeros(3), alpha=a))(1.0):.4f}")
      3.3605
    """
    return _contract.elementwise_loss(
        "robust",
        _robust,
        predictions,
        targets,
        weights=weights,
        where=where,
        axis=axis,
        reduction=reduction,
        params={"alpha": alpha, "scale": scale},
        domains={"scale": _contract.POSITIVE},
    )


@_documented
def expectile(
    predictions: ArrayLike,
    targets: ArrayLike,
    *,
    tau: ArrayLike = 0.5,
    weights: ArrayLike | None = None,
    where: ArrayLike | None = None,
    axis: Axis = None,
    reduction: Reduction = "mean",
) -> jax.Array:
    """Expectile (asymmetric squared) loss, minimised by the ``tau``-expectile.

    .. math::
      ℓ(p, t) = |τ − \\mathbb{1}(t < p)|\\,(t − p)^2

    Under-prediction costs ``τ`` per squared unit, over-prediction ``1 − τ``; its minimiser
    over a constant is the τ-expectile of the targets (``scipy.stats.expectile``), and
    ``tau=0.5`` is ``½·mse``, whose minimiser is the mean.

    Args:
      predictions: predicted expectiles, any shape, real dtype.
      targets: target values, the same shape as ``predictions`` (never broadcast).
      tau: the expectile level ``τ`` in ``[0, 1]``: a scalar or a same-rank array; may be
        traced.
      {contract_args}

    Returns:
      {returns}

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxloss
      >>> t = jnp.array([1.0, 1.0])
      >>> print(jaxloss.expectile(jnp.array([0.0, 3.0]), t, tau=0.75, reduction="none"))
      [0.75 1.  ]
    """
    return _contract.elementwise_loss(
        "expectile",
        _expectile,
        predictions,
        targets,
        weights=weights,
        where=where,
        axis=axis,
        reduction=reduction,
        params={"tau": tau},
        domains={"tau": _contract.UNIT_INTERVAL},
    )


@_documented
def laplace_nll(
    predictions: ArrayLike,
    targets: ArrayLike,
    *,
    scale: ArrayLike,
    weights: ArrayLike | None = None,
    where: ArrayLike | None = None,
    axis: Axis = None,
    reduction: Reduction = "mean",
) -> jax.Array:
    """Negative log-likelihood of a Laplace distribution centred on the predictions.

    .. math::
      ℓ(p, t) = \\frac{|t − p|}{b} + \\log(2b)

    the full negative log density, ``-scipy.stats.laplace.logpdf(t, loc=p, scale=b)``;
    differentiable in ``scale``, so a network can predict its own spread (its minimiser over
    ``b`` is the mean absolute error).

    Args:
      predictions: predicted locations (medians), any shape, real dtype.
      targets: target values, the same shape as ``predictions`` (never broadcast).
      scale: the scale ``b > 0``: a scalar, or a same-rank array (e.g. a per-sample scale
        head of the predictions' shape); may be traced and differentiated.
      {contract_args}

    Returns:
      {returns}

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxloss
      >>> float(jaxloss.laplace_nll(jnp.zeros(1), jnp.ones(1), scale=0.5))  # 2 + log 1
      2.0
    """
    return _contract.elementwise_loss(
        "laplace_nll",
        _laplace_nll,
        predictions,
        targets,
        weights=weights,
        where=where,
        axis=axis,
        reduction=reduction,
        params={"scale": scale},
        domains={"scale": _contract.POSITIVE},
    )


@_documented
def student_t_nll(
    predictions: ArrayLike,
    targets: ArrayLike,
    *,
    scale: ArrayLike,
    df: ArrayLike,
    weights: ArrayLike | None = None,
    where: ArrayLike | None = None,
    axis: Axis = None,
    reduction: Reduction = "mean",
) -> jax.Array:
    """Negative log-likelihood of a Student-t distribution centred on the predictions.

    .. math::
      ℓ(p, t) = \\frac{ν + 1}{2}\\log\\!\\left(1 + \\frac{z^2}{ν}\\right) + \\log σ
        − \\log\\frac{Γ(\\frac{ν+1}{2})}{Γ(\\frac{ν}{2})\\sqrt{νπ}},
      \\qquad z = \\frac{t − p}{σ}

    the full negative log density, ``-scipy.stats.t.logpdf(t, df, loc=p, scale=σ)``: a
    heavy-tailed likelihood whose outliers cost only logarithmically. Differentiable in
    ``scale`` and ``df``; the normalising constant uses its asymptotic series for ``ν >= 20``,
    so large ``df`` stays accurate and tends to the Gaussian NLL (``log1p`` keeps the
    ``z²/ν`` term exact too).

    Args:
      predictions: predicted locations, any shape, real dtype.
      targets: target values, the same shape as ``predictions`` (never broadcast).
      scale: the scale ``σ > 0``: a scalar or a same-rank array; may be traced.
      df: the degrees of freedom ``ν > 0``: a scalar or a same-rank array; may be traced.
      {contract_args}

    Returns:
      {returns}

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxloss
      >>> round(float(jaxloss.student_t_nll(jnp.zeros(1), jnp.zeros(1), scale=1.0, df=1.0)), 4)
      1.1447
    """
    return _contract.elementwise_loss(
        "student_t_nll",
        _student_t_nll,
        predictions,
        targets,
        weights=weights,
        where=where,
        axis=axis,
        reduction=reduction,
        params={"scale": scale, "df": df},
        domains={"scale": _contract.POSITIVE, "df": _contract.POSITIVE},
    )


@_documented
def beta_nll(
    predictions: ArrayLike,
    targets: ArrayLike,
    *,
    variance: ArrayLike,
    beta: ArrayLike = 0.5,
    full: bool = False,
    eps: float = 1e-6,
    weights: ArrayLike | None = None,
    where: ArrayLike | None = None,
    axis: Axis = None,
    reduction: Reduction = "mean",
) -> jax.Array:
    """β-NLL (Seitzer et al., ICLR 2022): the Gaussian NLL weighted by the variance to the β.

    .. math::
      ℓ(μ, t, σ^2) = \\lfloor \\max(σ^2, ε)^{β} \\rfloor \\cdot
        ½\\left(\\log \\max(σ^2, ε) + \\frac{(μ − t)^2}{\\max(σ^2, ε)}\\right)
        \\;[+\\; ½ \\log 2π \\text{ if full}]

    where ``⌊·⌋`` stops the gradient: the weight scales each element's gradient without
    being trained itself. The plain Gaussian NLL (``beta=0``, equal to
    :func:`gaussian_nll`) lets points of high predicted variance barely move the mean, so a
    heteroscedastic network can settle on a poor mean fit; ``beta=1`` gives the mean the
    gradient of the MSE, ``beta=0.5`` (the paper's default) interpolates. Conventions of
    :func:`gaussian_nll` (variance, not its log; ``eps`` clamp with the gradient passed
    through; ``full``).

    Args:
      predictions: predicted means ``μ``, any shape, real dtype.
      targets: target values, the same shape as ``predictions`` (never broadcast).
      variance: predicted variances ``σ² >= 0``: the shape of ``predictions``, a scalar,
        or a same-rank broadcastable array.
      beta: the exponent ``β >= 0`` (0: the Gaussian NLL; 1: the MSE's mean-gradient).
      full: whether to include the constant ``½ log 2π`` (a Python bool).
      eps: the floor on the variance, ``> 0``.
      {contract_args}

    Returns:
      {returns}

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxloss
      >>> p, t, v = jnp.zeros(1), jnp.full(1, 2.0), jnp.full(1, 4.0)
      >>> float(jaxloss.beta_nll(p, t, variance=v, beta=0.5))  # 4^0.5 · ½(log 4 + 1)
      2.386294364929199
    """
    full = _check_flag("beta_nll", "full", full)
    return _contract.elementwise_loss(
        "beta_nll",
        lambda p, t, **kw: _beta_nll(p, t, **kw, full=full),
        predictions,
        targets,
        weights=weights,
        where=where,
        axis=axis,
        reduction=reduction,
        params={"variance": variance, "eps": eps, "beta": beta},
        domains={
            "variance": _contract.NONNEGATIVE,
            "eps": _contract.POSITIVE,
            "beta": _contract.NONNEGATIVE,
        },
    )


@_documented
def crps_normal(
    predictions: ArrayLike,
    targets: ArrayLike,
    *,
    scale: ArrayLike,
    weights: ArrayLike | None = None,
    where: ArrayLike | None = None,
    axis: Axis = None,
    reduction: Reduction = "mean",
) -> jax.Array:
    """Continuous ranked probability score of a normal forecast N(predictions, scale²).

    .. math::
      ℓ(μ, t) = \\int (F(x) − 1\\{x ≥ t\\})^2 dx
        = σ\\left[z(2Φ(z) − 1) + 2φ(z) − \\frac{1}{\\sqrt{π}}\\right],
      \\qquad z = \\frac{t − μ}{σ}

    (Gneiting et al., 2005): a proper scoring rule in the target's units that rewards
    sharp, calibrated forecasts; it tends to ``|t − μ|`` as ``σ → 0``. Computed as
    ``|e|·(1 − erfc(|z|/√2)) + σ·(2φ(z) − 1/√π)``: no cancellation for large ``|z|``, exact
    for tiny ``σ``; finite gradients in the predictions and the scale
    (``∂ℓ/∂σ = 2φ(z) − 1/√π``).

    Args:
      predictions: forecast means ``μ``, any shape, real dtype.
      targets: observations, the same shape as ``predictions`` (never broadcast).
      scale: the forecast standard deviation ``σ > 0``: a scalar or a same-rank array
        (e.g. a scale head); may be traced and differentiated.
      {contract_args}

    Returns:
      {returns}

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxloss
      >>> round(float(jaxloss.crps_normal(jnp.zeros(1), jnp.zeros(1), scale=1.0)), 6)
      0.233695
    """
    return _contract.elementwise_loss(
        "crps_normal",
        _crps_normal,
        predictions,
        targets,
        weights=weights,
        where=where,
        axis=axis,
        reduction=reduction,
        params={"scale": scale},
        domains={"scale": _contract.POSITIVE},
    )


def check_power(power: object, name: str = "tweedie_deviance") -> float:
    if isinstance(power, bool) or not isinstance(power, int | float) or not math.isfinite(power):
        raise TypeError(
            f"jaxloss.{name}: power must be a finite Python number (it selects the "
            f"distribution and its domain, so it cannot be traced); got {power!r}."
        )
    if 0 < power < 1:
        raise ValueError(
            f"jaxloss.{name}: power must be <= 0 or >= 1 (no Tweedie distribution "
            f"has 0 < power < 1); got power={power!r}."
        )
    return float(power)


@_documented
def tweedie_deviance(
    predictions: ArrayLike,
    targets: ArrayLike,
    *,
    power: float,
    log_input: bool = False,
    weights: ArrayLike | None = None,
    where: ArrayLike | None = None,
    axis: Axis = None,
    reduction: Reduction = "mean",
) -> jax.Array:
    """The unit deviance of a Tweedie distribution with mean ``predictions``.

    .. math::
      d(t, μ) = 2\\left(\\frac{\\max(t, 0)^{2−p}}{(1−p)(2−p)} − \\frac{t μ^{1−p}}{1−p}
        + \\frac{μ^{2−p}}{2−p}\\right)

    with its limits ``(t − μ)²`` at ``p = 0`` (normal), ``2(t \\log(t/μ) − t + μ)`` at
    ``p = 1`` (Poisson) and ``2(\\log(μ/t) + t/μ − 1)`` at ``p = 2`` (Gamma); ``1 < p < 2``
    is the compound Poisson–Gamma (zeros and positive amounts), ``p > 2`` e.g. inverse
    Gaussian (``p = 3``). The mean with ``reduction="mean"`` equals scikit-learn's
    ``mean_tweedie_deviance`` (``mean_poisson_deviance``, ``mean_gamma_deviance``), with its
    domain: ``μ > 0`` unless ``p = 0``; ``t >= 0`` for ``1 <= p < 2``; ``t > 0`` for
    ``p >= 2``; ``p`` in ``(0, 1)`` is refused. Out-of-domain values known at trace time
    are errors; traced ones give NaN (checked with :func:`jaxloss.value_checks`).

    With ``log_input=True`` the predictions are log-means ``η = log μ`` (a network's log
    link; any real value), and ``μ^{1−p}``, ``μ^{2−p}`` are computed as ``e^{(1−p)η}``,
    ``e^{(2−p)η}``: no ``log(exp(η))`` round trip, exact for large ``η``.

    Args:
      predictions: predicted means ``μ`` (or log-means with ``log_input``), any shape.
      targets: observations, the same shape as ``predictions`` (never broadcast).
      power: the Tweedie power ``p <= 0`` or ``p >= 1``: a Python number (it selects the
        family and its domain).
      log_input: whether ``predictions`` are log-means (a Python bool).
      {contract_args}

    Returns:
      {returns}

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxloss
      >>> t, mu = jnp.array([1.0, 2.0]), jnp.array([2.0, 2.0])
      >>> round(float(jaxloss.tweedie_deviance(mu, t, power=1)), 6)  # mean_poisson_deviance
      0.306853
    """
    power = check_power(power)
    log_input = _check_flag("tweedie_deviance", "log_input", log_input)
    return _contract.elementwise_loss(
        "tweedie_deviance",
        lambda p, t: _tweedie_deviance(p, t, power=power, log_input=log_input),
        predictions,
        targets,
        weights=weights,
        where=where,
        axis=axis,
        reduction=reduction,
        domains=tweedie_domains(power, log_input=log_input),
    )


@_documented
def crps_ensemble(
    predictions: ArrayLike,
    targets: ArrayLike,
    *,
    member_axis: int = 0,
    estimator: str = "fair",
    weights: ArrayLike | None = None,
    where: ArrayLike | None = None,
    axis: Axis = None,
    reduction: Reduction = "mean",
) -> jax.Array:
    """Continuous ranked probability score of an ensemble forecast of ``M`` members.

    .. math::
      ℓ(x, t) = \\frac{1}{M}\\sum_i |x_i − t| − \\frac{1}{2 M^2} \\sum_{i,j} |x_i − x_j|
      \\quad\\text{("ecdf")}, \\qquad
      ℓ(x, t) = \\frac{1}{M}\\sum_i |x_i − t| − \\frac{1}{2 M (M − 1)} \\sum_{i,j} |x_i − x_j|
      \\quad\\text{("fair")}

    ``"ecdf"`` is the CRPS of the ensemble's empirical distribution (``properscoring``'s
    ``crps_ensemble``); ``"fair"`` (Ferro, 2014) is unbiased for the CRPS of the distribution
    the members are drawn from, so a small ensemble is not penalised for its size. Computed
    in ``O(M log M)`` by sorting the members (``Σ_ij |x_i − x_j| = 2 Σ_i (2i − M − 1)
    x_(i)``), not over the ``M²`` pairs (up to 16 members, where the pairs are cheaper, it
    sums them); differentiable in every member.

    Args:
      predictions: the ensemble: the targets' shape with one extra axis of ``M`` members.
      targets: observations.
      member_axis: the members' axis of ``predictions`` (an int; default 0). Removing it
        must leave exactly the targets' shape.
      estimator: ``"fair"`` (needs ``M >= 2``) or ``"ecdf"``.
      {contract_args}

    Returns:
      {returns}

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxloss
      >>> members = jnp.array([[0.0], [1.0], [2.0]])  # 3 members of one forecast
      >>> round(float(jaxloss.crps_ensemble(members, jnp.array([0.3]), estimator="ecdf")), 6)
      0.455556
    """
    name = "crps_ensemble"
    if estimator not in ("fair", "ecdf"):
        raise ValueError(f"jaxloss.{name}: estimator must be 'fair' or 'ecdf'; got {estimator!r}.")
    checked_reduction = _contract.check_reduction(name, reduction)
    inputs = _contract.prepare_ensemble(name, predictions, targets, member_axis,
                                        weights=weights, where=where)  # fmt: skip
    members = inputs.predictions.shape[-1]
    if estimator == "fair" and members < 2:
        raise ValueError(
            f"jaxloss.{name}: the fair estimator needs at least 2 members; got {members}. "
            "Use estimator='ecdf' for a single forecast (then the CRPS is |x − t|)."
        )
    axes = _contract.normalize_axis(name, axis, inputs.targets.ndim, checked_reduction)
    elementwise = _crps_ensemble(inputs.predictions, inputs.targets, fair=estimator == "fair")
    return _contract.reduce(elementwise, inputs.weights, inputs.mask, axes, checked_reduction)


_ALPHA_DOMAIN = _contract.Domain(lambda x: (x <= 0) | (x > 1), "in (0, 1]")


@_documented
def interval_score(
    lower: ArrayLike,
    upper: ArrayLike,
    targets: ArrayLike,
    *,
    alpha: ArrayLike,
    weights: ArrayLike | None = None,
    where: ArrayLike | None = None,
    axis: Axis = None,
    reduction: Reduction = "mean",
) -> jax.Array:
    """The interval (Winkler) score of a central ``(1 − α)`` prediction interval.

    .. math::
      ℓ(l, u, t) = (u − l) + \\frac{2}{α}(l − t)\\,1\\{t < l\\}
        + \\frac{2}{α}(t − u)\\,1\\{t > u\\}

    (Gneiting & Raftery, 2007): the width of the interval plus ``2/α`` times how far the
    target falls outside it; a proper score for the ``α/2`` and ``1 − α/2`` quantiles, so a
    network can train both bounds at once. ``lower <= upper`` is expected (a crossed
    interval scores a negative width).

    Args:
      lower: the lower bounds, any shape, real dtype.
      upper: the upper bounds, the shape of ``lower``.
      targets: observations, the shape of ``lower`` (nothing is broadcast).
      alpha: the miscoverage ``α`` in ``(0, 1]`` (``0.1`` for a 90% interval): a scalar or
        a same-rank array; may be traced.
      {contract_args}

    Returns:
      {returns}

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxloss
      >>> l, u, t = jnp.array([0.0, 0.0]), jnp.array([1.0, 1.0]), jnp.array([0.5, 1.5])
      >>> float(jaxloss.interval_score(l, u, t, alpha=0.1, reduction="none")[1])  # 1 + 20·0.5
      11.0
    """
    name = "interval_score"
    shapes = [jnp.shape(a) for a in (lower, upper, targets)]
    if len(set(shapes)) != 1:
        raise ValueError(
            f"jaxloss.{name}: lower {shapes[0]}, upper {shapes[1]} and targets {shapes[2]} "
            "must share one shape; jaxloss never broadcasts them."
        )
    return _contract.elementwise_loss(
        name,
        lambda lo, t, upper, alpha: _interval_score(lo, t, upper, alpha),
        lower,
        targets,
        weights=weights,
        where=where,
        axis=axis,
        reduction=reduction,
        params={"upper": upper, "alpha": alpha},
        domains={"alpha": _ALPHA_DOMAIN},
    )


_FINITE_NONNEGATIVE = _contract.Domain(lambda x: ~(x >= 0) | ~jnp.isfinite(x), ">= 0 and finite")


@_documented
def robust_nll(
    predictions: ArrayLike,
    targets: ArrayLike,
    *,
    alpha: ArrayLike,
    scale: ArrayLike,
    weights: ArrayLike | None = None,
    where: ArrayLike | None = None,
    axis: Axis = None,
    reduction: Reduction = "mean",
) -> jax.Array:
    """Barron's adaptive loss as a negative log-likelihood, so its shape can be learned.

    .. math::
      ℓ(p, t) = ρ(p − t, α, c) + \\log c + \\log Z(α), \\qquad
      Z(α) = \\int_{-∞}^{∞} e^{−ρ(x, α, 1)}\\,dx

    with ``ρ`` the loss of :func:`robust`: the negative log density of Barron's
    distribution (2019, section 2), defined for ``α >= 0`` (``Z(α)`` diverges below). Minimising
    the plain loss over ``α`` just drives ``α`` down (a flatter loss is always smaller); the
    normaliser ``log Z(α)`` grows as the tails get heavier, so ``α`` and ``c`` can be learned
    with the model. ``Z`` is computed by 128-point Gauss–Legendre quadrature after
    ``x = √2·tan θ`` (log Z within 5e-7 of float64 quadrature on ``[0, 10]``; exactly
    ``π√2`` at ``α = 0``, the Cauchy, and ``√(2π)`` at ``α = 2``, the Gaussian) and is
    differentiable in ``α``. As for :func:`robust`, the true ``∂ℓ/∂α`` diverges like
    ``log(1/|α − 2|)`` at ``α = 2``; the gradient there is its finite value at
    ``|α − 2| = ε``.

    Args:
      predictions: predicted locations, any shape, real dtype.
      targets: target values, the same shape as ``predictions`` (never broadcast).
      alpha: the shape ``α >= 0`` (finite): a scalar or a same-rank array; may be traced and
        differentiated (each distinct value costs one 128-point quadrature).
      scale: the scale ``c > 0``: a scalar or a same-rank array; may be traced.
      {contract_args}

    Returns:
      {returns}

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxloss
      >>> nll = jaxloss.robust_nll(jnp.zeros(1), jnp.zeros(1), alpha=2.0, scale=1.0)
      >>> round(float(nll), 5)  # log √(2π): the Gaussian's
      0.91894
    """
    return _contract.elementwise_loss(
        "robust_nll",
        _robust_nll,
        predictions,
        targets,
        weights=weights,
        where=where,
        axis=axis,
        reduction=reduction,
        params={"alpha": alpha, "scale": scale},
        domains={"alpha": _FINITE_NONNEGATIVE, "scale": _contract.POSITIVE},
    )


# Every loss, by public name: the one list the package, the command line and the tests share.
NAMES: tuple[str, ...] = (
    "beta_nll",
    "crps_ensemble",
    "crps_normal",
    "expectile",
    "gaussian_nll",
    "huber",
    "laplace_nll",
    "log_cosh",
    "mae",
    "mape",
    "mse",
    "msle",
    "pinball",
    "poisson_nll",
    "pseudo_huber",
    "rmse",
    "robust",
    "robust_nll",
    "student_t_nll",
    "tweedie_deviance",
)
