"""Fit one linear regression with every robust-ish jaxloss loss and compare them.

The data are y = X·w + b + noise, with a fraction of the targets replaced by gross outliers.
Each loss fits the same model with the same optimizer (optax adam, full batch, the whole run
one compiled ``jaxloss.train.fit``); the table reports how far each fit lands from the true
parameters and how well it predicts clean held-out data. Barron's robust loss appears twice:
with a fixed shape (α = 0, Cauchy) and adaptive: ``robust_nll``, his distribution's negative
log-likelihood, with α and the scale learned jointly with the model (the normaliser log Z(α)
is what keeps α from simply sliding down); the table reports the learned α.

Runs unchanged on CPU, GPU or TPU:

    python examples/compare_losses.py [--steps 2000] [--outliers 0.05] [--plot fits.png]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax

import jaxloss


def make_data(key: jax.Array, n: int, features: int, outlier_fraction: float):
    """Linear data, with a fraction of the training targets shifted by gross errors."""
    k_w, k_x, k_noise, k_which, k_size, k_test = jax.random.split(key, 6)
    true_w = jax.random.normal(k_w, (features,))
    true_b = jnp.float32(0.5)
    x = jax.random.normal(k_x, (n, features))
    y = x @ true_w + true_b + 0.1 * jax.random.normal(k_noise, (n,))
    is_outlier = jax.random.uniform(k_which, (n,)) < outlier_fraction
    y = jnp.where(is_outlier, y + 20.0 + 10.0 * jax.random.uniform(k_size, (n,)), y)
    x_test = jax.random.normal(k_test, (n, features))
    y_test = x_test @ true_w + true_b
    return (x, y), (x_test, y_test), (true_w, true_b)


def predict(params: dict, x: jax.Array) -> jax.Array:
    return x @ params["w"] + params["b"]


# Each entry: the loss of (params, x, y), and the extra parameters the loss itself learns.
LOSSES: dict[str, tuple[Callable, dict]] = {
    "mse": (lambda prm, x, y: jaxloss.mse(predict(prm, x), y), {}),
    "mae": (lambda prm, x, y: jaxloss.mae(predict(prm, x), y), {}),
    "huber δ=1": (lambda prm, x, y: jaxloss.huber(predict(prm, x), y, delta=1.0), {}),
    "pseudo_huber δ=1": (lambda prm, x, y: jaxloss.pseudo_huber(predict(prm, x), y), {}),
    "log_cosh": (lambda prm, x, y: jaxloss.log_cosh(predict(prm, x), y), {}),
    "robust α=0 (Cauchy)": (
        lambda prm, x, y: jaxloss.robust(predict(prm, x), y, alpha=0.0, scale=0.2),
        {},
    ),
    # α = softplus(a) >= 0 and c = softplus(s) > 0, learned with the model through the
    # negative log-likelihood of Barron's distribution (robust_nll: the loss + log c +
    # log Z(α)). Without log Z(α), gradient descent on α just makes the loss flatter.
    "robust adaptive (NLL)": (
        lambda prm, x, y: jaxloss.robust_nll(
            predict(prm, x),
            y,
            alpha=jax.nn.softplus(prm["alpha_raw"]),
            scale=jax.nn.softplus(prm["scale_raw"]) + 1e-3,
        ),
        {"alpha_raw": jnp.float32(1.0), "scale_raw": jnp.float32(0.0)},
    ),
}


def plot(path: str, rows: list[dict], fits: dict, test) -> None:
    """Predicted against true held-out targets for each loss: the diagonal is a perfect fit."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x_test, y_test = test
    order = jnp.argsort(y_test)[::10]
    fig, ax = plt.subplots(figsize=(7, 5), dpi=120)
    ax.plot(y_test[order], y_test[order], color="black", lw=1, label="perfect fit")
    for row in rows:
        predictions = predict(fits[row["loss"]], x_test)[order]
        ax.plot(y_test[order], predictions, lw=1.2,
                label=f"{row['loss']} (‖θ−θ*‖ = {row['param_error']:.3f})")  # fmt: skip
    ax.set_xlabel("true held-out target")
    ax.set_ylabel("prediction")
    ax.set_title("Linear fits with 5% gross outliers in the training targets")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="training samples")
    parser.add_argument("--features", type=int, default=5)
    parser.add_argument("--outliers", type=float, default=0.05, help="fraction of outliers")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--learning-rate", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plot", metavar="PNG", help="also plot the fits (needs matplotlib)")
    args = parser.parse_args(argv)

    train, test, (true_w, true_b) = make_data(
        jax.random.key(args.seed), args.n, args.features, args.outliers
    )
    print(f"device: {jax.devices()[0].platform} ({jax.devices()[0].device_kind})")
    print(
        f"{args.n} samples, {args.features} features, {args.outliers:.0%} gross outliers, "
        f"adam lr={args.learning_rate}, {args.steps} full-batch steps\n"
    )

    rows, fits = [], {}
    optimizer = optax.adam(args.learning_rate)
    for name, (objective, extra) in LOSSES.items():
        init = {"w": jnp.zeros(args.features), "b": jnp.float32(0.0), **extra}

        def batch_objective(params, batch, objective=objective):
            return objective(params, *batch)

        def run(init, batch_objective=batch_objective):
            result = jaxloss.train.fit(
                batch_objective, init, optimizer, train, num_steps=args.steps,
                log_every=args.steps, progress=False,
            )  # fmt: skip
            return result.params

        jax.block_until_ready(run(init))  # compile outside the timing
        start = time.perf_counter()
        params = jax.block_until_ready(run(init))
        seconds = time.perf_counter() - start
        fits[name] = params
        error = jnp.sqrt(jnp.sum((params["w"] - true_w) ** 2) + (params["b"] - true_b) ** 2)
        row = {
            "loss": name,
            "param_error": float(error),
            "test_rmse": float(jaxloss.rmse(predict(params, test[0]), test[1])),
            "test_mae": float(jaxloss.mae(predict(params, test[0]), test[1])),
            "ms": 1e3 * seconds,
        }
        if "alpha_raw" in params:
            row["note"] = (
                f"learned α={jax.nn.softplus(params['alpha_raw']):.2f}, "
                f"c={jax.nn.softplus(params['scale_raw']) + 1e-3:.3f}"
            )
        rows.append(row)

    header = f"{'loss':<22}{'‖θ−θ*‖':>10}{'test RMSE':>11}{'test MAE':>10}{'fit ms':>9}"
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['loss']:<22}{r['param_error']:>10.4f}{r['test_rmse']:>11.4f}"
            f"{r['test_mae']:>10.4f}{r['ms']:>9.1f}  {r.get('note', '')}"
        )
    if args.plot:
        plot(args.plot, rows, fits, test)
        print(f"\nplot written to {args.plot}")
    return rows


if __name__ == "__main__":
    main()
