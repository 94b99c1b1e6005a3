"""Hyperparameter search on the bundled diabetes data: random search, halving and PBT.

A small MLP learns disease progression from the 10 standardised features, with 5% of the
training targets corrupted (shifted by +5 standard deviations), trained with adam on the
Huber loss. The learning rate and the Huber delta are searched three ways, each inside one
compiled program per stage on every device:

- random search: ``--trials`` log-uniform samples, every one trained ``--steps`` steps;
- successive halving on the same samples, survivors continued from their states, with a
  fidelity audit that says how far the early scores could be trusted;
- population-based training, the learning rate and delta changing mid-run.

The run protocol is a :class:`jaxloss.sweep.Trainer`: ``init`` builds a
:class:`jaxloss.train.TrainState`, ``advance`` continues it with ``train.fit`` (which
resumes the minibatch order from the state's step), ``evaluate`` scores it on validation
rows. Runs unchanged on CPU, GPU or TPU:

    python examples/search.py [--steps 600] [--trials 27]
"""

from __future__ import annotations

import argparse
import time

import jax
import numpy as np
import optax

import jaxloss
from jaxloss import models, sweep, train
from jaxloss.data import load_diabetes


def problem(seed: int) -> tuple[np.ndarray, ...]:
    """Standardised train / validation / test splits; outliers in the training targets."""
    features, targets, _ = load_diabetes()
    x, y = np.asarray(features, np.float32), np.asarray(targets, np.float32)
    order = np.random.default_rng(seed).permutation(len(y))
    train_rows, validation_rows, test_rows = order[:266], order[266:354], order[354:]
    mean, std = x[train_rows].mean(0), x[train_rows].std(0)
    x = (x - mean) / std
    y = (y - y[train_rows].mean()) / y[train_rows].std()
    y_train = y[train_rows].copy()
    y_train[::20] += 5.0
    return (x[train_rows], y_train, x[validation_rows], y[validation_rows], x[test_rows],
            y[test_rows])  # fmt: skip


X, Y, X_VALIDATION, Y_VALIDATION, X_TEST, Y_TEST = problem(0)


def init(learning_rate, delta, seed):
    params = models.mlp_init(jax.random.key(seed), X.shape[1], hidden=(32,))
    return train.TrainState.create(params, optax.adam(learning_rate))


def advance(state, num_steps, learning_rate, delta, seed):
    def objective(params, batch):
        return jaxloss.huber(models.mlp_apply(params, batch[0]), batch[1], delta=delta)

    # The learning rate arrives traced: a new value mid-run (PBT) needs no recompilation.
    result = train.fit(objective, state, optax.adam(learning_rate), (X, Y), num_steps=num_steps,
                       batch_size=32, key=jax.random.fold_in(jax.random.key(seed), 1),
                       log_every=num_steps, progress=False)  # fmt: skip
    return result.state


def evaluate(state, learning_rate, delta, seed):
    validation = models.mlp_apply(state.params, X_VALIDATION)
    test = models.mlp_apply(state.params, X_TEST)
    return {"mse": jaxloss.mse(validation, Y_VALIDATION), "test_mse": jaxloss.mse(test, Y_TEST)}


TRAINER = sweep.Trainer(init, advance, evaluate)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--trials", type=int, default=27)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(f"device: {jax.devices()[0].platform} ({jax.device_count()} device(s))")
    space = sweep.Random(args.trials, [args.seed], sample_seed=args.seed,
                         learning_rate=sweep.LogUniform(1e-4, 0.3),
                         delta=sweep.LogUniform(0.1, 3.0))  # fmt: skip
    outcome = {}

    def run_fn(learning_rate, delta, seed):
        state = advance(init(learning_rate, delta, seed), args.steps, learning_rate, delta, seed)
        return evaluate(state, learning_rate, delta, seed)

    start = time.perf_counter()
    random = sweep.run(run_fn, space)
    best = random.best("mse", over=("seed",))
    outcome["random search"] = (time.perf_counter() - start, space.size * args.steps,
                                best["mean"], float(random["test_mse"][best["index"]][0]),
                                best["config"])  # fmt: skip

    start = time.perf_counter()
    halving = sweep.halving(
        TRAINER,
        space,
        metric="mse",
        min_steps=max(1, args.steps // 9),
        max_steps=args.steps,
        audit=min(8, space.size),
        warn_below=-1.0,
    )  # fmt: skip  (the audit is printed below)
    last = halving.rungs[-1]
    test = float(last.scores("test_mse", np.array([halving.best["index"]]))[0])
    seconds = time.perf_counter() - start
    outcome["successive halving"] = (seconds, halving.member_steps, halving.best["score"], test,
                                     halving.best["config"])  # fmt: skip

    start = time.perf_counter()
    generations = 10
    population = sweep.pbt(TRAINER, space, metric="mse", interval=max(1, args.steps // generations),
                           generations=generations, seed=args.seed)  # fmt: skip
    member = population.best["member"]
    outcome["population-based"] = (time.perf_counter() - start, population.member_steps,
                                   population.best["score"],
                                   float(population.scores["test_mse"][-1, member]),
                                   population.best["config"])  # fmt: skip

    print(f"\n{'search':<20}{'seconds':>9}{'member-steps':>14}{'val MSE':>9}{'test MSE':>10}"
          "  chosen")  # fmt: skip
    for name, (seconds, steps, validation, test, config) in outcome.items():
        chosen = ", ".join(f"{k}={v:.3g}" for k, v in config.items() if k != "seed")
        print(f"{name:<20}{seconds:>9.2f}{steps:>14,}{validation:>9.4f}{test:>10.4f}  {chosen}")
    print("\nhalving schedule (runs, steps):", halving.schedule)
    print("fidelity audit, Spearman rho of each rung with the last:",
          ", ".join(f"{rho:.2f}" for rho in halving.fidelity))  # fmt: skip
    schedule = [f"{step['learning_rate']:.3g}" for step in population.lineage(member)]
    print("PBT: the chosen member's learning rate, generation by generation:",
          ", ".join(schedule))  # fmt: skip
    return outcome


if __name__ == "__main__":
    main()
