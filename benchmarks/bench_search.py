"""Hyperparameter search: the best held-out MSE against wall-clock time and member-steps.

One regression problem with outliers (a synthetic one: 8 features, a smooth target, 5% of
the training targets shifted by +5; the held-out rows are clean), an MLP (8 → 64 → 64 → 1)
trained with adam on the Huber loss in minibatches of 128, two hyperparameters (learning
rate in [1e-4, 1e-1] and Huber delta in [0.1, 3], both log-uniform) and a budget of up to
``--max-steps`` steps per configuration. In one run:

- ``grid``: ``sweep.run`` over a 9 × 9 log-spaced grid, every run to the full budget;
- ``random``: ``sweep.run`` over ``sweep.Random(81)``, every run to the full budget;
- ``halving``: ``sweep.halving`` over the same 81 random configurations (η = 3, first rung
  ``max_steps / 27``), with a fidelity audit of 8 runs trained through every rung;
- ``pbt``: ``sweep.pbt`` over a population of 32 (15 generations);
- ``optuna``: Optuna's TPE sampler with its successive-halving pruner (same η, same first
  rung), 81 trials, each a jitted ``train.fit`` continued rung by rung (a peer run in the
  usual way: one trial at a time, the host deciding between rungs).

Each row reports the wall-clock time (compilation included: a search runs once), the
member-steps (optimisation steps over all configurations) and the best held-out MSE reached
among every evaluated model (the selection score). Optuna's row adds its curve; the summary
gives how much sooner each jaxloss search reached Optuna's final best MSE, and how close
halving came to the full grid's best with how many of its member-steps.

Run: ``pip install -e ".[bench]" optuna && python benchmarks/bench_search.py``.
"""

from __future__ import annotations

import time
from typing import Any

import jax
import numpy as np
import optax
from _common import argument_parser, machine, machine_line, publish

import jaxloss
from jaxloss import models, sweep, train

N_TRAIN, N_HELD_OUT, FEATURES, BATCH, HIDDEN = 2048, 512, 8, 128, (64, 64)
LR, DELTA = (1e-4, 1e-1), (0.1, 3.0)


def _data() -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(0)
    w = rng.normal(size=FEATURES)
    x = rng.normal(size=(N_TRAIN + N_HELD_OUT, FEATURES)).astype(np.float32)
    y = np.sin(x @ w) + 0.5 * np.tanh(x[:, 0] * x[:, 1]) + 0.1 * rng.normal(size=len(x))
    y = y.astype(np.float32)
    y_train = y[:N_TRAIN].copy()
    y_train[::20] += 5.0  # outliers in the training targets only
    return x[:N_TRAIN], y_train, x[N_TRAIN:], y[N_TRAIN:]


X, Y, X_HELD_OUT, Y_HELD_OUT = _data()


def init(learning_rate, delta, seed):
    params = models.mlp_init(jax.random.key(seed), FEATURES, hidden=HIDDEN)
    return train.TrainState.create(params, optax.adam(learning_rate))


def advance(state, num_steps, learning_rate, delta, seed):
    def objective(params, batch):
        return jaxloss.huber(models.mlp_apply(params, batch[0]), batch[1], delta=delta)

    key = jax.random.fold_in(jax.random.key(seed), 1)
    result = train.fit(objective, state, optax.adam(learning_rate), (X, Y), num_steps=num_steps,
                       batch_size=BATCH, key=key, log_every=num_steps, progress=False)  # fmt: skip
    return result.state


def evaluate(state, learning_rate, delta, seed):
    return {"mse": jaxloss.mse(models.mlp_apply(state.params, X_HELD_OUT), Y_HELD_OUT)}


TRAINER = sweep.Trainer(init, advance, evaluate)
# Optuna's trials call these one configuration at a time (compiled once per step count).
start_fn = jax.jit(init)
step_fn = jax.jit(advance, static_argnums=1)
score_fn = jax.jit(lambda s, lr, d, k: evaluate(s, lr, d, k)["mse"])


def _space(n: int, seed: int) -> sweep.Random:
    return sweep.Random(n, [0], sample_seed=seed, learning_rate=sweep.LogUniform(*LR),
                        delta=sweep.LogUniform(*DELTA))  # fmt: skip


_RUN_FNS: dict[int, Any] = {}  # one run function per budget: a second call reuses its program


def _run_fn(steps: int) -> Any:
    def run_fn(learning_rate, delta, seed):
        state = advance(init(learning_rate, delta, seed), steps, learning_rate, delta, seed)
        return evaluate(state, learning_rate, delta, seed)

    return _RUN_FNS.setdefault(steps, run_fn)


def full_runs(space: sweep.Space, steps: int) -> dict[str, Any]:
    run_fn = _run_fn(steps)
    start = time.perf_counter()
    result = sweep.run(run_fn, space)
    seconds = time.perf_counter() - start
    best = result.best("mse", over=("seed",))
    return {"seconds": seconds, "member_steps": space.size * steps, "best_mse": best["mean"],
            "config": best["config"]}  # fmt: skip


def halving(steps: int, seed: int) -> dict[str, Any]:
    start = time.perf_counter()
    result = sweep.halving(TRAINER, _space(81, seed), metric="mse", min_steps=steps // 27,
                           max_steps=steps, eta=3, audit=8, warn_below=-1.0)  # fmt: skip
    seconds = time.perf_counter() - start
    best = min(float(np.nanmin(r.metrics["mse"])) for r in result.rungs)
    return {"seconds": seconds, "member_steps": result.member_steps, "best_mse": best,
            "config": result.best["config"], "final_mse": result.best["score"],
            "schedule": result.schedule, "fidelity": result.fidelity}  # fmt: skip


def pbt(steps: int, seed: int) -> dict[str, Any]:
    generations = 15
    start = time.perf_counter()
    result = sweep.pbt(TRAINER, _space(32, seed), metric="mse", interval=steps // generations,
                       generations=generations, seed=seed)  # fmt: skip
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "member_steps": result.member_steps,
            "best_mse": float(np.nanmin(result.scores["mse"])),
            "config": result.best["config"], "final_mse": result.best["score"]}  # fmt: skip


def optuna_search(steps: int, seed: int, trials: int) -> dict[str, Any] | None:
    try:
        import optuna
    except ImportError:
        return None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rungs = [steps // 27 * 3**i for i in range(4)]
    curve: list[tuple[float, int, float]] = []
    done = {"steps": 0, "best": np.inf}
    start = time.perf_counter()

    def objective(trial: Any) -> float:
        lr = trial.suggest_float("learning_rate", *LR, log=True)
        delta = trial.suggest_float("delta", *DELTA, log=True)
        state, trained, score = start_fn(lr, delta, 0), 0, np.inf
        for budget in rungs:
            state = step_fn(state, budget - trained, lr, delta, 0)
            done["steps"] += budget - trained
            trained = budget
            score = float(score_fn(state, lr, delta, 0))
            done["best"] = min(done["best"], score) if np.isfinite(score) else done["best"]
            curve.append((time.perf_counter() - start, done["steps"], done["best"]))
            trial.report(score, budget)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return score

    study = optuna.create_study(
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.SuccessiveHalvingPruner(min_resource=rungs[0], reduction_factor=3),
    )
    study.optimize(objective, n_trials=trials)
    seconds = time.perf_counter() - start
    reached = next(t for t, _, best in curve if best <= done["best"])
    return {"seconds": seconds, "member_steps": done["steps"], "best_mse": done["best"],
            "config": study.best_params, "seconds_to_final_best": reached,
            "curve": curve, "version": optuna.__version__}  # fmt: skip


def run(steps: int, seed: int, trials: int) -> dict[str, Any]:
    grid = sweep.Grid(learning_rate=np.geomspace(*LR, 9), delta=np.geomspace(*DELTA, 9), seed=[0])
    searches = {
        "grid": lambda: full_runs(grid, steps),
        "random": lambda: full_runs(_space(81, seed), steps),
        "halving": lambda: halving(steps, seed),
        "pbt": lambda: pbt(steps, seed),
        "optuna": lambda: optuna_search(steps, seed, trials),
    }
    rows = {}
    for name, search in searches.items():
        first = search()
        if first is None:  # Optuna is not installed
            continue
        # Again, with every program compiled: the cost of a search whose compilation is
        # amortised (a larger search, or a second one with the same functions).
        again = search()
        first["seconds_compiled"] = again["seconds"]
        if "seconds_to_final_best" in again:
            first["seconds_to_final_best_compiled"] = again["seconds_to_final_best"]
        rows[name] = first
    return {"machine": machine(), "max_steps": steps, "seed": seed, "rows": rows}


def to_markdown(results: dict) -> str:
    rows, steps = results["rows"], results["max_steps"]
    lines = [
        "# Search benchmark",
        "",
        machine_line(results["machine"]),
        "",
        f"MLP {FEATURES}→64→64→1, Huber loss, adam, minibatches of {BATCH} from {N_TRAIN} rows "
        f"(5% outliers), held-out MSE on {N_HELD_OUT} clean rows; learning rate and delta "
        f"log-uniform; up to {steps} steps per configuration. `wall clock` includes "
        "compilation (a search runs once); `again, compiled` repeats the search with every "
        "program already compiled. `best MSE` is the best held-out MSE among every model "
        "evaluated.",
        "",
        "| search | wall clock | again, compiled | member-steps | best held-out MSE | "
        "chosen configuration |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for name, row in rows.items():
        config = ", ".join(f"{k}={v:.3g}" for k, v in row["config"].items())
        lines.append(f"| {name} | {row['seconds']:.2f} s | {row['seconds_compiled']:.2f} s | "
                     f"{row['member_steps']:,} | {row['best_mse']:.4f} | {config} |")  # fmt: skip
    grid, halving_row = rows["grid"], rows["halving"]
    gap = halving_row["best_mse"] / grid["best_mse"] - 1
    final_gap = halving_row["final_mse"] / grid["best_mse"] - 1
    share = halving_row["member_steps"] / grid["member_steps"]
    lines += [
        "",
        f"Successive halving: schedule {halving_row['schedule']}, {share:.0%} of the full "
        f"grid's member-steps. Its final winner (trained to {steps} steps) scores "
        f"{halving_row['final_mse']:.4f}, {final_gap:+.1%} from the full grid's best; the best "
        f"model it evaluated on the way (any rung) {gap:+.1%}. Fidelity audit (Spearman "
        "correlation of each rung's scores with the last rung's, 8 runs): "
        + ", ".join(f"{rho:.2f}" for rho in halving_row["fidelity"])
        + ": where the early rungs do not rank runs like the last one, pruning on them "
        "drops the configurations that end best.",
    ]
    optuna_row = rows.get("optuna")
    if optuna_row is not None:
        target, reached = optuna_row["best_mse"], optuna_row["seconds_to_final_best"]
        compiled = optuna_row["seconds_to_final_best_compiled"]
        lines += [
            "",
            f"Optuna {optuna_row['version']} (TPE + successive-halving pruner) reached its "
            f"final best {target:.4f} after {reached:.2f} s ({compiled:.2f} s compiled). Time "
            "for each jaxloss search to reach it (its whole run, when its best is as good), "
            "and how many times sooner, first call and compiled:",
            "",
        ]
        for name in ("grid", "random", "halving", "pbt"):
            row = rows[name]
            if row["best_mse"] <= target:
                lines.append(f"- {name}: {row['seconds']:.2f} s, {reached / row['seconds']:.1f}× "
                             f"sooner; compiled {row['seconds_compiled']:.2f} s, "
                             f"{compiled / row['seconds_compiled']:.1f}× sooner")  # fmt: skip
            else:
                lines.append(f"- {name}: not reached (best {row['best_mse']:.4f})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argument_parser(__doc__)
    parser.add_argument("--max-steps", type=int, default=2430)
    parser.add_argument("--trials", type=int, default=81, help="Optuna trials")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.max_steps < 27:
        parser.error("--max-steps must be >= 27 (four rungs of η = 3)")
    results = run(args.max_steps, args.seed, args.trials)
    return publish("search", results, to_markdown, args.out)


if __name__ == "__main__":
    main()
