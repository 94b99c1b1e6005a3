"""Closed-form baselines to check what gradient descent converges to."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike


def lstsq(
    x: ArrayLike, y: ArrayLike, *, fit_intercept: bool = True, ridge: ArrayLike = 0.0
) -> tuple[jax.Array, jax.Array]:
    """Least-squares (optionally ridge) regression in closed form, solved by SVD.

    .. math::
      \\hat w, \\hat b = \\arg\\min_{w, b} \\lVert X w + b − y \\rVert^2 + λ \\lVert w \\rVert^2

    The intercept is handled by centring ``X`` and ``y`` (it is not penalised), and the
    system is solved through the SVD of the centred ``X``: ``w = V diag(s/(s² + λ)) Uᵀ y``,
    which never forms ``XᵀX`` (whose float32 condition number is the square of X's, the
    reason the normal equations fail on ill-conditioned data). Rank-deficient ``X`` gets the
    minimum-norm solution (singular values below ``max(N, F)·eps·s_max`` are dropped).

    Args:
      x: inputs of shape ``(N, F)``.
      y: targets of shape ``(N,)`` or ``(N, K)``.
      fit_intercept: whether to fit ``b``; if False, ``b`` is 0.
      ridge: the L2 penalty ``λ >= 0``.

    Returns:
      ``(w, b)`` with ``w`` of shape ``(F,)`` or ``(F, K)`` and ``b`` of shape ``()`` or
      ``(K,)``, in the inputs' float dtype (at least float32).

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxloss import baselines
      >>> x = jnp.array([[0.0], [1.0], [2.0]])
      >>> w, b = baselines.lstsq(x, 3.0 * x[:, 0] + 1.0)
      >>> print(jnp.round(w, 4), jnp.round(b, 4))
      [3.] 1.0
    """
    x = jnp.asarray(x)
    y = jnp.asarray(y)
    if x.ndim != 2:
        raise ValueError(f"jaxloss.baselines.lstsq: x has shape {x.shape}; expected (N, F).")
    if y.ndim not in (1, 2) or y.shape[0] != x.shape[0]:
        raise ValueError(
            f"jaxloss.baselines.lstsq: y has shape {y.shape} for x of shape {x.shape}; "
            f"expected ({x.shape[0]},) or ({x.shape[0]}, K)."
        )
    with jax.numpy_dtype_promotion("standard"):
        dtype = jnp.promote_types(jnp.result_type(x, y, float), jnp.float32)
    x, y = x.astype(dtype), y.astype(dtype)
    if fit_intercept:
        x_mean, y_mean = jnp.mean(x, axis=0), jnp.mean(y, axis=0)
        x, y = x - x_mean[None], y - y_mean[None]
    u, s, vt = jnp.linalg.svd(x, full_matrices=False)
    ridge = jnp.asarray(ridge, dtype)
    cutoff = max(x.shape) * jnp.finfo(dtype).eps * jnp.max(s, initial=0.0)
    keep = s > cutoff
    inverse = jnp.where(keep, s / jnp.where(keep, s * s + ridge, 1.0), 0.0)
    uty = u.T @ y
    w = vt.T @ (inverse[:, None] * uty if y.ndim == 2 else inverse * uty)
    b = y_mean - x_mean @ w if fit_intercept else jnp.zeros(y.shape[1:], dtype)
    return w, b
