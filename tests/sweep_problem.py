"""The small sweep the sweep tests share, importable from their subprocesses."""

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxloss
from jaxloss import models, sweep, train

_rng = np.random.default_rng(0)
X = _rng.normal(size=(48, 3)).astype(np.float32)
Y = (X @ np.array([1.0, -2.0, 0.5]) + 0.3 + 0.2 * _rng.normal(size=48)).astype(np.float32)
Y[::8] += 15.0  # outliers, so delta matters


def run_fn(learning_rate, delta, seed):
    """Huber regression from a seeded start; per-run scalars plus the final weights."""

    def objective(params, batch):
        return jaxloss.huber(models.linear_apply(params, batch[0]), batch[1], delta=delta)

    start = {"w": 0.1 * jax.random.normal(jax.random.key(seed), (3,)), "b": jnp.float32(0.0)}
    result = train.fit(objective, start, optax.sgd(learning_rate), (X, Y), num_steps=60,
                       log_every=20, progress=False)  # fmt: skip
    error = jaxloss.mse(models.linear_apply(result.params, X), Y)
    return {"mse": error, "diverged_at": result.diverged_at, "w": result.params["w"]}


GRID = sweep.Grid(learning_rate=[0.01, 0.1, 0.3], delta=[0.5, 2.0], seed=[0])  # 6 runs


# The same problem as a continuable run (sweep.Trainer): minibatch SGD on the Huber loss,
# each run seeded, continued through train.fit's TrainState.
X_EVAL = _rng.normal(size=(32, 3)).astype(np.float32)
Y_EVAL = (X_EVAL @ np.array([1.0, -2.0, 0.5]) + 0.3).astype(np.float32)


def init(learning_rate, delta, seed):
    start = {"w": 0.1 * jax.random.normal(jax.random.key(seed), (3,)), "b": jnp.float32(0.0)}
    return train.TrainState.create(start, optax.sgd(learning_rate))


def advance(state, num_steps, learning_rate, delta, seed):
    def objective(params, batch):
        return jaxloss.huber(models.linear_apply(params, batch[0]), batch[1], delta=delta)

    result = train.fit(objective, state, optax.sgd(learning_rate), (X, Y), num_steps=num_steps,
                       batch_size=16, key=jax.random.key(seed), log_every=num_steps,
                       progress=False)  # fmt: skip
    return result.state


def evaluate(state, learning_rate, delta, seed):
    predictions = models.linear_apply(state.params, X_EVAL)
    return {"mse": jaxloss.mse(predictions, Y_EVAL), "mae": jaxloss.mae(predictions, Y_EVAL)}


TRAINER = sweep.Trainer(init, advance, evaluate)
