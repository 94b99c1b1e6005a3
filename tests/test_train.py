"""Training: the step, fit's convergence, sampling, early stopping under vmap, bad input."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxloss
from jaxloss import baselines, models, train


def _linear_data(n=200, features=4, seed=0, noise=0.1):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype(np.float32)
    w = rng.normal(size=features).astype(np.float32)
    y = (x @ w + 0.7 + noise * rng.normal(size=n)).astype(np.float32)
    return x, y


def _mse_objective(params, batch):
    x, y = batch
    return jaxloss.mse(models.linear_apply(params, x), y)


# --------------------------------------------------------------------------------------------
# Baselines and models.
# --------------------------------------------------------------------------------------------


def test_lstsq_matches_float64_numpy_and_ridge_formula():
    x, y = _linear_data(n=100, features=5, seed=1)
    w, b = baselines.lstsq(x, y)
    x1 = np.c_[x.astype(np.float64), np.ones(100)]
    expected = np.linalg.lstsq(x1, y.astype(np.float64), rcond=None)[0]
    np.testing.assert_allclose(np.r_[w, b], expected, rtol=1e-4, atol=1e-5)

    ridge = 3.0
    xc, yc = x - x.mean(0), y - y.mean()
    w_ridge = np.linalg.solve(xc.T.astype(np.float64) @ xc + ridge * np.eye(5), xc.T @ yc)
    got_w, got_b = baselines.lstsq(x, y, ridge=ridge)
    np.testing.assert_allclose(got_w, w_ridge, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(got_b, y.mean() - x.mean(0) @ w_ridge, rtol=1e-4, atol=1e-5)

    w0, b0 = baselines.lstsq(x, y, fit_intercept=False)
    np.testing.assert_allclose(
        w0, np.linalg.lstsq(x.astype(np.float64), y, rcond=None)[0], rtol=1e-4
    )
    assert float(b0) == 0.0


def test_lstsq_is_sound_on_ill_conditioned_data():
    # Nearly collinear columns: cond(X) ~ 1e4, so cond(XᵀX) ~ 1e8 > 1/eps(float32).
    rng = np.random.default_rng(2)
    a = rng.normal(size=500)
    x = np.c_[a, a + 1e-4 * rng.normal(size=500)].astype(np.float32)
    y = (x @ np.array([1.0, 1.0]) + 0.5).astype(np.float32)
    w, b = baselines.lstsq(x, y)
    prediction = x.astype(np.float64) @ np.asarray(w, np.float64) + float(b)
    assert np.sqrt(np.mean((prediction - y) ** 2)) < 1e-3
    # the float32 normal equations lose the fit entirely
    xc = x - x.mean(0)
    normal = np.linalg.solve((xc.T @ xc).astype(np.float32), (xc.T @ (y - y.mean())))
    residual = xc.astype(np.float64) @ normal - (y - y.mean())
    assert np.sqrt(np.mean(residual**2)) > 10 * np.sqrt(np.mean((prediction - y) ** 2))


def test_lstsq_multi_output_and_errors():
    x, y = _linear_data(n=50, features=3, seed=3)
    w, b = baselines.lstsq(x, np.stack([y, -y], axis=1))
    assert w.shape == (3, 2) and b.shape == (2,)
    np.testing.assert_allclose(w[:, 0], -w[:, 1], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"y has shape \(49,\) for x of shape \(50, 3\)"):
        baselines.lstsq(x, y[:-1])
    with pytest.raises(ValueError, match=r"x has shape \(50,\)"):
        baselines.lstsq(x[:, 0], y)


def test_models_shapes_and_errors():
    key = jax.random.key(0)
    p = models.mlp_init(key, 3, hidden=(8, 8), out_features=2)
    assert models.mlp_apply(p, jnp.ones((5, 3))).shape == (5, 2)
    assert models.linear_apply(models.linear_init(key, 3, 2), jnp.ones((5, 3))).shape == (5, 2)
    with pytest.raises(ValueError, match=r"inputs have shape \(5, 4\); expected \(\.\.\., 3\)"):
        models.mlp_apply(p, jnp.ones((5, 4)))


# --------------------------------------------------------------------------------------------
# The step.
# --------------------------------------------------------------------------------------------


def test_step_matches_a_hand_written_sgd_update():
    x, y = _linear_data(n=16, features=2, seed=4)
    params = {"w": jnp.array([0.3, -0.2]), "b": jnp.array(0.1)}
    step = train.make_step(_mse_objective, optax.sgd(0.05))
    state, metrics = step(train.TrainState.create(params, optax.sgd(0.05)), (x, y))
    residual = x.astype(np.float64) @ np.array([0.3, -0.2]) + 0.1 - y
    grad_w = 2 * x.T @ residual / 16
    grad_b = 2 * residual.mean()
    np.testing.assert_allclose(state.params["w"], [0.3, -0.2] - 0.05 * grad_w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(state.params["b"], 0.1 - 0.05 * grad_b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(metrics["loss"], np.mean(residual**2), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        metrics["grad_norm"], np.sqrt(grad_w @ grad_w + grad_b**2), rtol=1e-5
    )
    assert int(state.step) == 1


def test_donated_step_is_traced_once_across_many_calls():
    x, y = _linear_data(n=32, features=3, seed=5)
    optimizer = optax.adam(1e-2)

    @chex.assert_max_traces(n=1)
    def step(state, batch):
        return train.make_step(_mse_objective, optimizer)(state, batch)

    jitted = jax.jit(step, donate_argnums=0)
    state = train.TrainState.create(models.linear_init(None, 3), optimizer)
    old_w = state.params["w"]
    for _ in range(50):
        state, _ = jitted(state, (x, y))
    assert int(state.step) == 50
    assert old_w.is_deleted()  # the buffer was donated and reused


def test_step_with_aux_returns_it():
    def objective(params, batch):
        predictions = models.linear_apply(params, batch[0])
        return jaxloss.mse(predictions, batch[1]), {"predictions": predictions}

    x, y = _linear_data(n=8, features=2, seed=6)
    step = train.make_step(objective, optax.sgd(0.1), has_aux=True)
    _, metrics = step(train.TrainState.create(models.linear_init(None, 2), optax.sgd(0.1)), (x, y))
    assert metrics["aux"]["predictions"].shape == (8,)


def test_step_refuses_a_non_scalar_objective():
    def per_example(params, batch):
        return jaxloss.mse(models.linear_apply(params, batch[0]), batch[1], reduction="none")

    step = train.make_step(per_example, optax.sgd(0.1))
    state = train.TrainState.create(models.linear_init(None, 2), optax.sgd(0.1))
    x, y = _linear_data(n=8, features=2)
    with pytest.raises(ValueError, match=r"must return a scalar float loss.*shape \(8,\)"):
        step(state, (x, y))
    with pytest.raises(ValueError, match=r"has_aux=True.*must return \(loss, aux\)"):
        train.make_step(_mse_objective, optax.sgd(0.1), has_aux=True)(state, (x, y))


# --------------------------------------------------------------------------------------------
# fit.
# --------------------------------------------------------------------------------------------


def test_fit_gradient_descent_reaches_lstsq():
    x, y = _linear_data(n=200, features=4, seed=7)
    w_star, b_star = baselines.lstsq(x, y)
    result = train.fit(
        _mse_objective,
        models.linear_init(None, 4),
        optax.sgd(0.3),
        (x, y),
        num_steps=400,
        log_every=50,
    )
    gap = np.sqrt(np.sum((result.params["w"] - w_star) ** 2) + (result.params["b"] - b_star) ** 2)
    assert gap < 1e-4
    assert result.history["step"].tolist() == list(range(50, 401, 50))
    assert np.all(np.diff(np.asarray(result.history["loss"])) <= 0)  # monotone for convex GD
    assert int(result.stopped_at) == -1


def test_fit_with_and_without_jit_agree():
    x, y = _linear_data(n=64, features=3, seed=8)
    kwargs = dict(num_steps=10, batch_size=16, key=jax.random.key(3), log_every=5)
    jitted = train.fit(
        _mse_objective, models.linear_init(None, 3), optax.adam(0.05), (x, y), **kwargs
    )
    with jax.disable_jit():
        eager = train.fit(
            _mse_objective, models.linear_init(None, 3), optax.adam(0.05), (x, y), **kwargs
        )
    # to rounding: XLA fuses and reorders float32 arithmetic that op-by-op execution does not
    chex.assert_trees_all_close(jitted.params, eager.params, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(jitted.history["loss"], eager.history["loss"], rtol=1e-4, atol=1e-6)


# Divisible, not divisible, one batch per epoch.
@pytest.mark.parametrize(("n", "batch_size"), [(12, 4), (10, 4), (7, 7)])
def test_minibatches_cover_each_example_once_per_epoch(n, batch_size):
    # params[i] counts the visits of example i: the gradient of −Σ params[batch] is −1 per
    # visit, and sgd(1.0) adds it back.
    ids = np.arange(n, dtype=np.int32)

    def objective(counts, batch):
        return -jnp.sum(jnp.take(counts, batch))

    def visits(num_steps):
        result = train.fit(
            objective,
            jnp.zeros(n),
            optax.sgd(1.0),
            ids,
            num_steps=num_steps,
            batch_size=batch_size,
            key=jax.random.key(n),
            log_every=num_steps,
        )
        return np.asarray(result.params).round().astype(int)

    cycle = np.lcm(n, batch_size) // batch_size  # steps after which every epoch is complete
    for num_steps in sorted({1, 2, 3, cycle, 2 * cycle + 1}):
        drawn = num_steps * batch_size
        counts = visits(num_steps)
        assert counts.sum() == drawn
        # within every epoch no example repeats, so counts differ by at most one ...
        assert counts.min() == drawn // n and counts.max() == -(-drawn // n)
    # ... and complete epochs visit every example exactly once each
    np.testing.assert_array_equal(visits(cycle), np.full(n, cycle * batch_size // n))


def test_fit_evaluates_with_metrics():
    x, y = _linear_data(n=128, features=3, seed=9, noise=0.0)
    result = train.fit(
        _mse_objective,
        models.linear_init(None, 3),
        optax.adam(0.1),
        (x, y),
        num_steps=300,
        log_every=100,
        eval_data=(x, y),
        predict=models.linear_apply,
    )
    assert set(result.history) >= {"eval_mse", "eval_r2", "eval_mae", "loss", "grad_norm"}
    final = (
        jaxloss.metrics.Regression.empty()
        .update(models.linear_apply(result.params, x), y)
        .compute()
    )
    np.testing.assert_allclose(result.history["eval_mse"][-1], final["mse"], rtol=1e-5, atol=1e-6)
    assert float(result.history["eval_r2"][-1]) > 0.999


def _early_stopping_problem():
    # Training data with noise; the eval set says when to stop (it stops improving).
    x, y = _linear_data(n=64, features=8, seed=10, noise=2.0)
    x_eval, y_eval = _linear_data(n=64, features=8, seed=10, noise=0.0)
    return (x, y), (x_eval, y_eval)


def test_early_stopping_triggers_and_restores_the_best_parameters():
    data, eval_data = _early_stopping_problem()
    stopping = train.EarlyStopping(patience=3, monitor="eval_mse")
    result = train.fit(
        _mse_objective,
        models.linear_init(None, 8),
        optax.adam(0.05),
        data,
        num_steps=5000,
        log_every=10,
        eval_data=eval_data,
        predict=models.linear_apply,
        early_stopping=stopping,
    )
    stopped_at, best_step = int(result.stopped_at), int(result.best_step)
    assert 0 < best_step < stopped_at < 5000
    assert stopped_at == best_step + 3 * 10  # three chunks without improvement
    history = {k: np.asarray(v) for k, v in result.history.items()}
    ran = history["step"] > 0
    assert history["step"][ran][-1] == stopped_at and np.all(history["step"][~ran] == -1)
    best_row = np.nanargmin(history["eval_mse"])
    assert history["step"][best_row] == best_step
    restored = jaxloss.mse(models.linear_apply(result.params, eval_data[0]), eval_data[1])
    np.testing.assert_allclose(restored, history["eval_mse"][best_row], rtol=1e-5, atol=1e-6)
    assert int(result.state.step) == stopped_at  # the last state is kept too


def test_early_stopping_inside_vmap_stops_each_member_at_its_own_step():
    data, eval_data = _early_stopping_problem()
    # min_delta keeps the stop decision away from float32 rounding, which vmap's batched
    # arithmetic changes; with 0, a 1e-7 plateau wobble may decide the step.
    stopping = train.EarlyStopping(patience=3, min_delta=1e-3, monitor="eval_mse")

    def run(learning_rate):
        return train.fit(
            _mse_objective,
            models.linear_init(None, 8),
            optax.adam(learning_rate),
            data,
            num_steps=5000,
            log_every=10,
            eval_data=eval_data,
            predict=models.linear_apply,
            early_stopping=stopping,
        )

    rates = jnp.array([0.05, 0.01])
    together = jax.jit(jax.vmap(run))(rates)
    stops = [int(s) for s in together.stopped_at]
    assert stops[0] != stops[1] and all(0 < s < 5000 for s in stops)
    for i, rate in enumerate([0.05, 0.01]):
        alone = run(rate)
        assert int(alone.stopped_at) == stops[i]
        chex.assert_trees_all_close(
            jax.tree.map(lambda a, i=i: a[i], together.params),
            alone.params,
            rtol=1e-4,
            atol=1e-5,
        )


def test_early_stopping_on_training_loss_with_max_mode_and_min_delta():
    x, y = _linear_data(n=64, features=2, seed=11, noise=0.0)
    stopping = train.EarlyStopping(patience=2, min_delta=1e-3, monitor="eval_r2", mode="max")
    result = train.fit(
        _mse_objective,
        models.linear_init(None, 2),
        optax.adam(0.1),
        (x, y),
        num_steps=10_000,
        log_every=20,
        eval_data=(x, y),
        predict=models.linear_apply,
        early_stopping=stopping,
    )
    assert 0 < int(result.stopped_at) < 10_000
    assert float(np.nanmax(result.history["eval_r2"])) > 0.99


def test_progress_bar_is_fed_once_per_chunk(capsys):
    x, y = _linear_data(n=32, features=2, seed=12)
    train.fit(
        _mse_objective,
        models.linear_init(None, 2),
        optax.sgd(0.1),
        (x, y),
        num_steps=50,
        log_every=10,
        progress=True,
    )
    err = capsys.readouterr().err
    assert "50/50" in err and "loss=" in err


def test_fit_bad_input_is_a_clear_error():
    x, y = _linear_data(n=20, features=2)
    params = models.linear_init(None, 2)
    opt = optax.sgd(0.1)
    with pytest.raises(
        ValueError,
        match=r"share its leading \(examples\) axis; got shapes "
        r"\[\(20, 2\), \(19,\)\]",
    ):
        train.fit(_mse_objective, params, opt, (x, y[:-1]), num_steps=5)
    with pytest.raises(ValueError, match=r"batch_size=64 is larger than the data, which has 20"):
        train.fit(
            _mse_objective, params, opt, (x, y), num_steps=5, batch_size=64, key=jax.random.key(0)
        )
    with pytest.raises(ValueError, match=r"needs key=jax.random.key"):
        train.fit(_mse_objective, params, opt, (x, y), num_steps=5, batch_size=4)
    with pytest.raises(ValueError, match=r"num_steps must be an int >= 1; got 0"):
        train.fit(_mse_objective, params, opt, (x, y), num_steps=0)

    def per_example(params, batch):
        return (models.linear_apply(params, batch[0]) - batch[1]) ** 2

    with pytest.raises(ValueError, match=r"must return a scalar float loss"):
        train.fit(per_example, params, opt, (x, y), num_steps=5)
    with pytest.raises(ValueError, match=r"monitor='eval_mse'\) is not available.*eval_data"):
        train.fit(
            _mse_objective,
            params,
            opt,
            (x, y),
            num_steps=5,
            early_stopping=train.EarlyStopping(monitor="eval_mse"),
        )
    with pytest.raises(ValueError, match=r"eval_data needs predict"):
        train.fit(_mse_objective, params, opt, (x, y), num_steps=5, eval_data=(x, y))
    with pytest.raises(ValueError, match=r"patience must be an int >= 1"):
        train.EarlyStopping(patience=0)


def test_sampler_reshuffles_every_epoch():
    from jaxloss.train._sampler import Sampler as _Sampler

    sampler = _Sampler(size=8, batch_size=8)
    state = sampler.init(jax.random.key(0))
    orders = []
    for _ in range(4):
        indices, state = sampler.draw(state)
        orders.append(tuple(np.asarray(indices).tolist()))
    assert all(sorted(order) == list(range(8)) for order in orders)
    assert len(set(orders)) == 4


def test_divergence_is_recorded_and_isolated_under_vmap():
    x, y = _linear_data(n=64, features=3, seed=13)

    def run(learning_rate):
        return train.fit(_mse_objective, models.linear_init(None, 3), optax.sgd(learning_rate),
                         (x, y), num_steps=300, log_every=50)  # fmt: skip

    together = jax.jit(jax.vmap(run))(jnp.array([0.05, 50.0, 0.1]))
    diverged_at = together.diverged_at.tolist()
    assert diverged_at[0] == diverged_at[2] == -1 and 0 < diverged_at[1] < 300
    assert all(np.all(np.isfinite(leaf)) for leaf in jax.tree.leaves(together.params))
    for i, rate in ((0, 0.05), (2, 0.1)):
        alone = jax.jit(run)(rate)
        chex.assert_trees_all_equal(jax.tree.map(lambda a, i=i: a[i], together.params),
                                    alone.params)  # fmt: skip
    # the diverged run halted: its rows after divergence are empty
    steps = np.asarray(together.history["step"][1])
    assert steps[-1] == -1


# --------------------------------------------------------------------------------------------
# Named pieces: continuing a run, the evaluate hook, contracts, caches that let go.
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("batch_size", "first"), [(None, 40), (16, 37), (7, 1)])
def test_continuing_from_a_train_state_equals_one_uninterrupted_run(batch_size, first):
    x, y = _linear_data(n=50, features=3, seed=14)
    kwargs = dict(batch_size=batch_size, key=jax.random.key(5), log_every=10)
    optimizer = optax.adam(0.05)
    start = models.linear_init(None, 3)
    whole = train.fit(_mse_objective, start, optimizer, (x, y), num_steps=100, **kwargs)
    part = train.fit(_mse_objective, start, optimizer, (x, y), num_steps=first, **kwargs)
    rest = train.fit(_mse_objective, part.state, optimizer, (x, y), num_steps=100 - first,
                     **kwargs)  # fmt: skip
    assert int(rest.state.step) == 100
    chex.assert_trees_all_close(rest.params, whole.params, rtol=1e-5, atol=1e-6)
    chex.assert_trees_all_close(rest.state.opt_state, whole.state.opt_state, rtol=1e-5,
                                atol=1e-6)  # fmt: skip
    ran = np.asarray(rest.history["step"])
    assert ran[0] == min(first + 10, 100) and ran[ran > 0][-1] == 100


def test_continuing_refuses_a_state_of_another_optimizer():
    x, y = _linear_data(n=20, features=2)
    state = train.TrainState.create(models.linear_init(None, 2), optax.sgd(0.1))
    with pytest.raises(ValueError, match=r"optimizer state that does not match this optimizer"):
        train.fit(_mse_objective, state, optax.adam(0.1), (x, y), num_steps=5)


def test_the_sampler_started_at_a_step_draws_what_the_running_sampler_draws():
    from jaxloss.train._sampler import Sampler

    sampler = Sampler(size=11, batch_size=4)
    state = sampler.init(jax.random.key(2))
    drawn = []
    for _ in range(9):
        indices, state = sampler.draw(state)
        drawn.append(np.asarray(indices))
    for step in range(9):
        indices, _ = sampler.draw(sampler.init(jax.random.key(2), step))
        np.testing.assert_array_equal(indices, drawn[step])
    # positions past int32 (2e9 steps × 4096 examples) still land on the right batch
    big = Sampler(size=1_000_003, batch_size=4096)
    state = big.init(jax.random.key(0), 2_000_000_000)
    epoch, start = divmod(2_000_000_000 * 4096, 1_000_003)
    assert (int(state.epoch), int(state.start)) == (epoch, start)


def test_an_evaluate_hook_adds_history_columns_that_early_stopping_can_monitor():
    data, (x_eval, y_eval) = _early_stopping_problem()

    def evaluate(params):
        error = models.linear_apply(params, x_eval) - y_eval
        return {"eval_l4": jnp.mean(error**4), "eval_w_norm": jnp.linalg.norm(params["w"])}

    stopping = train.EarlyStopping(patience=3, monitor="eval_l4")
    result = train.fit(_mse_objective, models.linear_init(None, 8), optax.adam(0.05), data,
                       num_steps=3000, log_every=10, evaluate=evaluate,
                       early_stopping=stopping)  # fmt: skip
    history = {k: np.asarray(v) for k, v in result.history.items()}
    assert set(history) == {"step", "loss", "grad_norm", "eval_l4", "eval_w_norm"}
    best_row = np.nanargmin(history["eval_l4"])
    assert history["step"][best_row] == int(result.best_step) > 0
    error = np.asarray(models.linear_apply(result.params, x_eval), np.float64) - y_eval
    np.testing.assert_allclose(
        np.mean(error**4), history["eval_l4"][best_row], rtol=1e-4, atol=1e-6
    )
    # the eval_data shorthand is the evaluate_regression hook
    hook = train.evaluate_regression(models.linear_apply, x_eval, y_eval)
    a = train.fit(_mse_objective, models.linear_init(None, 8), optax.adam(0.05), data,
                  num_steps=50, log_every=10, evaluate=hook)  # fmt: skip
    b = train.fit(_mse_objective, models.linear_init(None, 8), optax.adam(0.05), data,
                  num_steps=50, log_every=10, eval_data=(x_eval, y_eval),
                  predict=models.linear_apply)  # fmt: skip
    for key in ("eval_mse", "eval_r2", "eval_bias"):
        np.testing.assert_allclose(a.history[key], b.history[key], rtol=1e-6, atol=1e-7)


def test_evaluate_and_optimizer_contracts_are_clear_errors():
    x, y = _linear_data(n=20, features=2)
    params = models.linear_init(None, 2)
    opt = optax.sgd(0.1)
    with pytest.raises(ValueError, match=r"evaluate\(params\)\['w'\] must be a scalar.*\(2,\)"):
        train.fit(_mse_objective, params, opt, (x, y), num_steps=5,
                  evaluate=lambda p: {"w": p["w"]})  # fmt: skip
    with pytest.raises(ValueError, match=r"returned the key 'loss'"):
        train.fit(_mse_objective, params, opt, (x, y), num_steps=5,
                  evaluate=lambda p: {"loss": p["b"]})  # fmt: skip
    with pytest.raises(ValueError, match=r"monitor='eval_l4'\) is not available; choose one of "
                       r"\['loss', 'grad_norm', 'eval_w'\]"):  # fmt: skip
        train.fit(_mse_objective, params, opt, (x, y), num_steps=5,
                  evaluate=lambda p: {"eval_w": p["b"]},
                  early_stopping=train.EarlyStopping(monitor="eval_l4"))  # fmt: skip
    with pytest.raises(ValueError, match=r"either evaluate= or eval_data="):
        train.fit(_mse_objective, params, opt, (x, y), num_steps=5, eval_data=(x, y),
                  predict=models.linear_apply, evaluate=lambda p: {})  # fmt: skip

    def broadcasting_update(updates, state, params=None):
        return jax.tree.map(lambda u: jnp.stack([u, u]), updates), state

    bad = optax.GradientTransformation(lambda p: optax.EmptyState(), broadcasting_update)
    with pytest.raises(ValueError, match=r"optimizer's updates do not match the parameters"):
        train.fit(_mse_objective, params, bad, (x, y), num_steps=5)


def test_fit_keeps_no_objective_or_captured_array_alive():
    import gc
    import weakref

    def make():
        x, y = (jnp.asarray(a) for a in _linear_data(n=32, features=2, seed=15))

        def objective(params, batch):
            return jaxloss.mse(models.linear_apply(params, x), y)

        return objective, weakref.ref(x)

    objective, x_ref = make()
    first = train.fit(objective, models.linear_init(None, 2), optax.sgd(0.1), jnp.zeros((4, 1)),
                      num_steps=5)  # fmt: skip
    again = train.fit(objective, models.linear_init(None, 2), optax.sgd(0.1), jnp.zeros((4, 1)),
                      num_steps=5)  # the cached program, same objective  # fmt: skip
    chex.assert_trees_all_equal(first.params, again.params)
    objective_ref = weakref.ref(objective)
    del objective, first, again
    gc.collect()
    assert objective_ref() is None and x_ref() is None
