"""A custom model plugged into ``jaxloss.train``: heteroscedastic regression with ``has_aux``.

Any function ``apply(params, x)`` works as a model; a Flax or Equinox module plugs in the
same way through its own ``init``/``apply`` (``model.apply`` for Flax, ``eqx.partition`` /
``eqx.combine`` around ``fit`` for Equinox). Here a plain function predicts both a mean and
a log-variance, trained with ``jaxloss.gaussian_nll``; the objective returns
``(loss, aux)`` so the training loop also reports the predicted noise level. The noise of
the data grows with |x|, and the model learns it. Runs unchanged on CPU, GPU or TPU:

    python examples/custom_model.py [--steps 3000]
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import optax

import jaxloss
from jaxloss import models, train


def init(key: jax.Array) -> dict:
    """A shared MLP body with two heads: the mean and the log-variance."""
    k_body, k_mean, k_var = jax.random.split(key, 3)
    return {
        "body": models.mlp_init(k_body, 1, hidden=(32,), out_features=32),
        "mean": models.linear_init(k_mean, 32),
        "log_var": models.linear_init(k_var, 32),
    }


def apply(params: dict, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    h = jax.nn.gelu(models.mlp_apply(params["body"], x))
    return models.linear_apply(params["mean"], h), models.linear_apply(params["log_var"], h)


def objective(params: dict, batch: tuple) -> tuple[jax.Array, dict]:
    x, y = batch
    mean, log_var = apply(params, x)
    loss = jaxloss.gaussian_nll(mean, y, jnp.exp(log_var))
    return loss, {"predicted_std": jnp.mean(jnp.exp(0.5 * log_var)), "mse": jaxloss.mse(mean, y)}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(f"device: {jax.devices()[0].platform} ({jax.devices()[0].device_kind})")

    k_x, k_noise, k_init, k_fit = jax.random.split(jax.random.key(args.seed), 4)
    x = jax.random.uniform(k_x, (args.n, 1), minval=-3.0, maxval=3.0)
    true_std = 0.1 + 0.3 * jnp.abs(x[:, 0])
    y = jnp.sin(x[:, 0]) + true_std * jax.random.normal(k_noise, (args.n,))

    result = train.fit(objective, init(k_init), optax.adam(3e-3), (x, y),
                       num_steps=args.steps, batch_size=128, key=k_fit,
                       log_every=max(args.steps // 5, 1), has_aux=True)  # fmt: skip
    grid = jnp.array([[-2.5], [-1.0], [0.0], [1.0], [2.5]])
    mean, log_var = apply(result.params, grid)
    print(f"final aux: {jax.tree.map(lambda a: round(float(a), 4), result.aux)}")
    print(f"\n{'x':>6}{'sin x':>9}{'mean':>9}{'true std':>10}{'pred std':>10}")
    rows = []
    for xi, m, lv in zip(grid[:, 0].tolist(), mean.tolist(), log_var.tolist(), strict=True):
        true, pred = 0.1 + 0.3 * abs(xi), float(jnp.exp(0.5 * lv))
        rows.append((xi, true, pred))
        print(f"{xi:>6.1f}{float(jnp.sin(xi)):>9.3f}{m:>9.3f}{true:>10.3f}{pred:>10.3f}")
    return {"rows": rows, "aux": result.aux}


if __name__ == "__main__":
    main()
