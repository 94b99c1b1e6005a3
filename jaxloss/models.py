"""Small pure models: ``init(key, ...) -> params`` and ``apply(params, x) -> predictions``.

Enough for the examples and the command line. Parameters are plain dicts of arrays, so any
optax optimizer, ``jax.vmap`` over seeds and ``jaxloss.train.fit`` work on them directly; a
Flax or Equinox model plugs in the same way through its own ``init``/``apply``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp

Params = dict[str, jax.Array]


def _check_features(name: str, x: jax.Array, expected: int) -> None:
    if x.ndim < 1 or x.shape[-1] != expected:
        raise ValueError(
            f"jaxloss.models.{name}: inputs have shape {x.shape}; expected (..., {expected}) "
            f"features, as the parameters were initialised with."
        )


def _add_bias(h: jax.Array, b: jax.Array) -> jax.Array:
    # Explicit leading unit axes: no implicit rank promotion (users may run with it raising).
    return h + jnp.reshape(b, (1,) * (h.ndim - b.ndim) + b.shape)


def linear_init(key: jax.Array, in_features: int, out_features: int | None = None) -> Params:
    """Parameters of ``y = x·w + b``, all zeros (a convex model needs no random start).

    Args:
      key: unused (kept so every model has the same ``init(key, ...)`` signature).
      in_features: the number of input features ``F``.
      out_features: ``None`` for a scalar output per sample, or the number of outputs ``K``.

    Returns:
      ``{"w": (F,) or (F, K), "b": () or (K,)}``, float32.

    Example:
      >>> import jax
      >>> from jaxloss import models
      >>> params = models.linear_init(jax.random.key(0), 3)
      >>> models.linear_apply(params, jax.numpy.ones((5, 3))).shape
      (5,)
    """
    del key
    w_shape = (in_features,) if out_features is None else (in_features, out_features)
    b_shape = () if out_features is None else (out_features,)
    return {"w": jnp.zeros(w_shape, jnp.float32), "b": jnp.zeros(b_shape, jnp.float32)}


def linear_apply(params: Params, x: jax.Array) -> jax.Array:
    """``x·w + b``.

    Args:
      params: from :func:`linear_init`.
      x: inputs of shape ``(..., F)``.

    Returns:
      Predictions of shape ``(...)`` or ``(..., K)``.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxloss import models
      >>> print(models.linear_apply({"w": jnp.array([1.0, 2.0]), "b": jnp.array(0.5)},
      ...                           jnp.array([[1.0, 1.0]])))
      [3.5]
    """
    _check_features("linear_apply", x, params["w"].shape[0])
    return _add_bias(x @ params["w"], params["b"])


def mlp_init(
    key: jax.Array,
    in_features: int,
    hidden: Sequence[int] = (64, 64),
    out_features: int | None = None,
) -> Params:
    """Parameters of a multilayer perceptron, He-initialised for its ReLU-family activations.

    Args:
      key: the PRNG key.
      in_features: the number of input features.
      hidden: the widths of the hidden layers.
      out_features: ``None`` for a scalar output per sample, or the number of outputs.

    Returns:
      ``{"w0", "b0", ..., "wL", "bL"}``: one weight matrix and bias per layer, float32.

    Example:
      >>> import jax
      >>> from jaxloss import models
      >>> params = models.mlp_init(jax.random.key(0), 4, hidden=(8,))
      >>> sorted(params), models.mlp_apply(params, jax.numpy.ones((2, 4))).shape
      (['b0', 'b1', 'w0', 'w1'], (2,))
    """
    widths = [in_features, *hidden, 1 if out_features is None else out_features]
    params: Params = {}
    keys = jax.random.split(key, len(widths) - 1)
    for i, (k, fan_in, fan_out) in enumerate(zip(keys, widths[:-1], widths[1:], strict=True)):
        scale = jnp.sqrt(2.0 / fan_in)
        params[f"w{i}"] = scale * jax.random.normal(k, (fan_in, fan_out), jnp.float32)
        params[f"b{i}"] = jnp.zeros((fan_out,), jnp.float32)
    if out_features is None:
        last = len(widths) - 2
        params[f"w{last}"] = params[f"w{last}"][:, 0]
        params[f"b{last}"] = params[f"b{last}"][0]
    return params


def mlp_apply(
    params: Params, x: jax.Array, *, activation: Callable[[jax.Array], jax.Array] = jax.nn.gelu
) -> jax.Array:
    """The MLP's forward pass: ``activation`` after every layer but the last.

    Args:
      params: from :func:`mlp_init`.
      x: inputs of shape ``(..., F)``.
      activation: the hidden activation (default GELU).

    Returns:
      Predictions of shape ``(...)`` or ``(..., K)``.

    Example:
      >>> import jax
      >>> from jaxloss import models
      >>> params = models.mlp_init(jax.random.key(1), 3, hidden=(16, 16), out_features=2)
      >>> models.mlp_apply(params, jax.numpy.zeros((7, 3))).shape
      (7, 2)
    """
    layers = len(params) // 2
    _check_features("mlp_apply", x, params["w0"].shape[0])
    h = x
    for i in range(layers):
        h = _add_bias(h @ params[f"w{i}"], params[f"b{i}"])
        if i < layers - 1:
            h = activation(h)
    return h
