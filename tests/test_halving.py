"""Successive halving: scikit-learn's schedule, survivors equal to a loop of single runs,
no pruning equals sweep.run, continued rather than retrained, sharded, resumable, audited."""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import time
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from jaxloss import sweep

from .multidevice import run_with_devices
from .sweep_problem import TRAINER, advance, evaluate, init

ROOT = pathlib.Path(__file__).resolve().parent.parent
SPACE = sweep.Random(
    9,
    range(2),
    sample_seed=1,
    learning_rate=sweep.LogUniform(1e-3, 0.5),
    delta=sweep.Uniform(0.3, 3.0),
)  # fmt: skip  (18 runs)


@pytest.mark.parametrize(
    ("n", "low", "high", "eta"),
    [(27, 4, 108, 3), (10, 4, 100, 2), (50, 8, 64, 4), (9, 5, 5, 3), (100, 4, 1000, 2.5),
     (30, 4, 1000, 3), (7, 4, 36, 2)],
)  # fmt: skip
def test_the_schedule_equals_scikit_learns_halving_random_search(n, low, high, eta):
    from sklearn.dummy import DummyRegressor
    from sklearn.experimental import enable_halving_search_cv  # noqa: F401
    from sklearn.model_selection import HalvingRandomSearchCV

    x = np.random.default_rng(0).normal(size=(high, 1))
    search = HalvingRandomSearchCV(
        DummyRegressor(strategy="quantile"), {"quantile": stats.uniform(0, 1)},
        n_candidates=n, factor=eta, min_resources=low, max_resources=high, cv=2, random_state=0,
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn's own notes on tiny folds
        search.fit(x, x[:, 0])
    expected = list(zip(search.n_candidates_, search.n_resources_, strict=True))
    assert sweep.schedule(n, low, high, eta) == expected


def test_the_schedule_takes_exact_logarithms_where_floating_point_rounds_down():
    # log(243)/log(3) = 4.999999999999999 in floating point; 3**5 = 243 exactly.
    assert sweep.schedule(243, 1, 3**5, 3)[-1] == (1, 243)


_init = jax.jit(lambda hp: init(**hp))
_advance = jax.jit(lambda state, hp, steps: advance(state, steps, **hp), static_argnums=2)
_score = jax.jit(lambda state, hp: evaluate(state, **hp)["mse"])


def _single(point, steps_per_rung):
    """One run, trained rung by rung with single jitted calls: the reference."""
    hp = {k: jnp.asarray(v) for k, v in point.items()}
    state = _init(hp)
    scores = []
    for steps in steps_per_rung:
        state = _advance(state, hp, steps)
        scores.append(float(_score(state, hp)))
    return scores


def test_each_rungs_survivors_equal_a_python_loop_of_single_jitted_runs():
    result = sweep.halving(TRAINER, SPACE, metric="mse", min_steps=4, max_steps=36, eta=3)
    assert result.schedule == [(18, 4), (6, 12), (2, 36)]
    candidates = np.arange(SPACE.size)
    previous = 0
    for rung in result.rungs:
        np.testing.assert_array_equal(rung.candidates, candidates)
        reference = np.array([_single(SPACE.point(int(c)), [rung.steps])[0]
                              if previous == 0 else np.nan for c in candidates])  # fmt: skip
        if previous == 0:
            np.testing.assert_allclose(rung.scores("mse", candidates), reference, rtol=1e-5,
                                       atol=1e-6)  # fmt: skip
        keep = -(-len(candidates) // 3)
        order = np.argsort(rung.scores("mse", candidates), kind="stable")
        candidates = np.sort(candidates[order[:keep]])
        if rung is not result.rungs[-1]:
            np.testing.assert_array_equal(rung.kept, candidates)
        previous = rung.steps
    # The survivors' final scores equal single runs trained rung by rung from their states.
    budgets = [4, 8, 24]
    for run in result.rungs[-1].candidates:
        expected = _single(SPACE.point(int(run)), budgets)[-1]
        np.testing.assert_allclose(result.rungs[-1].scores("mse", np.array([run])), expected,
                                   rtol=1e-5, atol=1e-6)  # fmt: skip
    assert result.best["index"] in result.rungs[-1].candidates
    assert result.member_steps == 18 * 4 + 6 * 8 + 2 * 24


def test_survivors_continue_from_their_state_equal_to_one_uninterrupted_run():
    result = sweep.halving(TRAINER, SPACE, metric="mse", min_steps=4, max_steps=36, eta=3)
    uninterrupted = sweep.run(
        lambda learning_rate, delta, seed: evaluate(
            advance(init(learning_rate, delta, seed), 36, learning_rate, delta, seed),
            learning_rate, delta, seed),
        SPACE,
    )  # fmt: skip
    last = result.rungs[-1]
    np.testing.assert_allclose(last.scores("mse", last.candidates),
                               uninterrupted["mse"].reshape(-1)[last.candidates], rtol=1e-5,
                               atol=1e-6)  # fmt: skip


def test_without_pruning_halving_equals_sweep_run():
    result = sweep.halving(TRAINER, SPACE, metric="mae", min_steps=20, max_steps=20)
    assert result.schedule == [(18, 20)] and len(result.rungs) == 1
    expected = sweep.run(
        lambda learning_rate, delta, seed: evaluate(
            advance(init(learning_rate, delta, seed), 20, learning_rate, delta, seed),
            learning_rate, delta, seed),
        SPACE,
    )  # fmt: skip
    for key in ("mse", "mae"):
        np.testing.assert_allclose(result.rungs[0].metrics[key], expected[key].reshape(-1),
                                   rtol=1e-6, atol=1e-7)  # fmt: skip
    assert result.best["index"] == int(np.nanargmin(expected["mae"].reshape(-1)))
    assert result.best["config"] == SPACE.point(result.best["index"])


def test_chunks_and_a_diverged_run_do_not_change_the_survivors():
    whole = sweep.halving(TRAINER, SPACE, metric="mse", min_steps=4, max_steps=36)
    chunked = sweep.halving(TRAINER, SPACE, metric="mse", min_steps=4, max_steps=36, chunk_size=4)
    for a, b in zip(whole.rungs, chunked.rungs, strict=True):
        np.testing.assert_array_equal(a.kept, b.kept)
        np.testing.assert_allclose(a.metrics["mse"], b.metrics["mse"], rtol=1e-6, atol=1e-7)
    wild = sweep.Grid(learning_rate=[0.05, 1e30, 0.1], delta=[1.0], seed=[0])
    result = sweep.halving(TRAINER, wild, metric="mse", min_steps=4, max_steps=8, eta=2)
    assert not np.isfinite(result.rungs[0].metrics["mse"][1])
    assert 1 not in result.rungs[0].kept  # a diverged run ranks last


def test_the_audit_reports_rank_correlations_and_warns_when_low():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = sweep.halving(TRAINER, SPACE, metric="mse", min_steps=4, max_steps=36,
                               audit=6, audit_seed=3, warn_below=-1.0)  # fmt: skip
    assert len(result.audited) == 6
    for rung in result.rungs:
        assert set(result.audited) <= set(rung.runs.tolist())
    final = result.rungs[-1].scores("mse", result.audited)
    for rung, rho in zip(result.rungs, result.fidelity, strict=True):
        expected = stats.spearmanr(rung.scores("mse", result.audited), final).statistic
        np.testing.assert_allclose(rho, expected, rtol=1e-12)
    assert result.fidelity[-1] == pytest.approx(1.0)
    extra = len(set(result.audited) - set(result.rungs[1].candidates.tolist()))
    assert result.member_steps >= 18 * 4 + (6 + extra) * 8
    with pytest.warns(UserWarning, match=r"early scores rank the 6 audited runs unlike"):
        sweep.halving(TRAINER, SPACE, metric="mse", min_steps=4, max_steps=36, audit=6,
                      audit_seed=3, warn_below=1.01)  # fmt: skip


def test_a_rerun_loads_finished_rungs_and_other_searches_are_refused(tmp_path):
    first = sweep.halving(TRAINER, SPACE, metric="mse", min_steps=4, max_steps=36,
                          checkpoint_dir=tmp_path)  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "halving.json", "rung-0000.npz", "rung-0001.npz", "rung-0002.npz"]  # fmt: skip
    (tmp_path / "rung-0002.npz").unlink()
    again = sweep.halving(TRAINER, SPACE, metric="mse", min_steps=4, max_steps=36,
                          checkpoint_dir=tmp_path)  # fmt: skip
    assert (again.rungs_loaded, again.rungs_computed) == (2, 1)
    for a, b in zip(first.rungs, again.rungs, strict=True):
        np.testing.assert_array_equal(a.runs, b.runs)
        np.testing.assert_allclose(a.metrics["mse"], b.metrics["mse"], rtol=1e-6, atol=1e-7)
    for a, b in zip(jax.tree.leaves(first.states), jax.tree.leaves(again.states), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match=r"holds a different search; what differs: eta"):
        sweep.halving(TRAINER, SPACE, metric="mse", min_steps=4, max_steps=36, eta=2,
                      checkpoint_dir=tmp_path)  # fmt: skip
    other = sweep.Trainer(init, advance, lambda s, **h: {"mse": 2.0 * evaluate(s, **h)["mse"]})
    with pytest.raises(ValueError, match=r"what differs: the compiled programs"):
        sweep.halving(other, SPACE, metric="mse", min_steps=4, max_steps=36,
                      checkpoint_dir=tmp_path)  # fmt: skip


RESUMABLE = """
import json, os, sys, time
import jax
from jaxloss import sweep
from tests.sweep_problem import advance, evaluate, init

def pause(step):  # with JAXLOSS_TEST_PAUSE set, each run's evaluation takes 50 ms longer
    if os.environ.get("JAXLOSS_TEST_PAUSE"):
        time.sleep(0.05)

def evaluate_paused(state, **hp):  # the same program with or without the pause
    jax.debug.callback(pause, state.step)
    return evaluate(state, **hp)

trainer = sweep.Trainer(init, advance, evaluate_paused)
space = sweep.Random(27, [0], sample_seed=2, learning_rate=sweep.LogUniform(1e-3, 0.5),
                     delta=sweep.Uniform(0.3, 3.0))
result = sweep.halving(trainer, space, metric="mse", min_steps=30, max_steps=270,
                       checkpoint_dir=sys.argv[1], chunk_size=int(sys.argv[2]))
print(json.dumps({"loaded": result.rungs_loaded, "best": result.best["index"],
                  "scores": [r.metrics["mse"].tolist() for r in result.rungs]}))
"""


@pytest.mark.slow
def test_a_killed_search_resumes_and_equals_an_uninterrupted_one(tmp_path):
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    directory = tmp_path / "killed"
    log = tmp_path / "first.log"
    with log.open("wb") as stderr:
        first = subprocess.Popen(
            [sys.executable, "-c", RESUMABLE, str(directory), "9"],
            cwd=ROOT,
            # Rungs 1 and 2 then take >= 0.45 s and 0.15 s more: the kill lands before.
            env=env | {"JAXLOSS_TEST_PAUSE": "1"},
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    deadline = time.monotonic() + 180
    while not (directory / "rung-0000.npz").exists():
        assert first.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, "no rung was written"
        time.sleep(0.02)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    assert not (directory / "rung-0002.npz").exists()

    def finish(folder):
        out = subprocess.run([sys.executable, "-c", RESUMABLE, str(folder), "9"], cwd=ROOT,
                             env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
        assert out.returncode == 0, out.stderr[-3000:]
        return json.loads(out.stdout.strip().splitlines()[-1])

    resumed, fresh = finish(directory), finish(tmp_path / "fresh")
    assert resumed["loaded"] >= 1 and fresh["loaded"] == 0
    assert resumed["best"] == fresh["best"]
    for a, b in zip(resumed["scores"], fresh["scores"], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


@pytest.mark.slow
def test_four_devices_equal_one_device():
    script = """
import json
import jax, numpy as np
from jaxloss import sweep
from tests.sweep_problem import TRAINER
from tests.test_halving import SPACE
out = {}
for name, devices in (("one", jax.devices()[:1]), ("four", jax.devices())):
    r = sweep.halving(TRAINER, SPACE, metric="mse", min_steps=4, max_steps=36, audit=3,
                      devices=devices)
    out[name] = {"kept": [r_.kept.tolist() for r_ in r.rungs],
                 "mse": [r_.metrics["mse"].tolist() for r_ in r.rungs], "best": r.best["index"]}
print(json.dumps(out))
"""
    out = json.loads(run_with_devices(f"import sys; sys.path.insert(0, {str(ROOT)!r})\n" + script)
                     .strip().splitlines()[-1])  # fmt: skip
    assert out["one"]["kept"] == out["four"]["kept"] and out["one"]["best"] == out["four"]["best"]
    for a, b in zip(out["one"]["mse"], out["four"]["mse"], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"min_steps": 50, "max_steps": 10}, ValueError, r"min_steps=50 does not fit max_steps=10"),
        ({"eta": 1.5}, ValueError, r"eta must be a number >= 2 .*got 1.5"),
        ({"min_steps": 0}, ValueError, r"min_steps must be an int >= 1; got 0"),
        ({"metric": "rmse"}, ValueError, r"metric='rmse' is not returned by trainer.evaluate, "
                                          r"which returns \['mae', 'mse'\]"),
        ({"mode": "best"}, ValueError, r"mode must be 'min' or 'max'"),
        ({"audit": 19}, ValueError, r"audit must be an int in \[0, 18\]"),
        ({"chunk_size": 0}, ValueError, r"chunk_size must be >= 1"),
    ],
)  # fmt: skip
def test_bad_settings_are_refused_before_any_compute(kwargs, error, message):
    settings = {"metric": "mse", "min_steps": 4, "max_steps": 36} | kwargs
    with pytest.raises(error, match=message):
        sweep.halving(TRAINER, SPACE, **settings)


def test_a_space_axis_the_trainer_does_not_take_is_refused():
    space = sweep.Random(4, learning_rate=sweep.LogUniform(1e-3, 0.5), momentum=sweep.Uniform(0, 1))
    with pytest.raises(ValueError, match=r"the space has \['momentum'\], which trainer.init"):
        sweep.halving(TRAINER, space, metric="mse", min_steps=4, max_steps=36)
    with pytest.raises(TypeError, match=r"trainer must be a sweep.Trainer"):
        sweep.halving(lambda **h: {}, space, metric="mse", min_steps=4, max_steps=36)


def test_hyperband_brackets_follow_li_et_al_and_each_is_a_halving_run():
    space = sweep.Random(1, [0], sample_seed=5, learning_rate=sweep.LogUniform(1e-3, 0.5),
                         delta=sweep.Uniform(0.3, 3.0))  # fmt: skip
    result = sweep.hyperband(TRAINER, space, metric="mse", min_steps=4, max_steps=36, eta=3)
    s_max = 2  # log_3(36 / 4)
    assert len(result.brackets) == s_max + 1
    for bracket, s in zip(result.brackets, range(s_max, -1, -1), strict=True):
        n = int(np.ceil((s_max + 1) * 3.0**s / (s + 1)))
        assert bracket.schedule[0] == (n, 36 // 3**s)
        assert bracket.space == space.resampled(n, 5 + s)
        expected = sweep.halving(TRAINER, space.resampled(n, 5 + s), metric="mse",
                                 min_steps=36 // 3**s, max_steps=36, eta=3)  # fmt: skip
        assert bracket.best == expected.best
    scores = [b.best["score"] for b in result.brackets]
    assert result.best["score"] == min(scores) and result.best["steps"] == 36
    assert result.member_steps == sum(b.member_steps for b in result.brackets)
    with pytest.raises(TypeError, match=r"hyperband: the space must be a sweep.Random"):
        sweep.hyperband(TRAINER, sweep.Grid(learning_rate=[0.1], delta=[1.0], seed=[0]),
                        metric="mse", min_steps=4, max_steps=36)  # fmt: skip
