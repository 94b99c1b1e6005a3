"""Population-based training: decisions equal a host-side reference loop with the same keys,
an unperturbed member equals a plain train.fit run, resume equals uninterrupted, sharded."""

from __future__ import annotations

import json
import pathlib

import jax
import numpy as np
import optax
import pytest

import jaxloss
from jaxloss import models, sweep, train

from .multidevice import run_with_devices
from .sweep_problem import TRAINER, X, Y

ROOT = pathlib.Path(__file__).resolve().parent.parent
SPACE = sweep.Random(
    8,
    [0, 1],
    sample_seed=3,
    learning_rate=sweep.LogUniform(1e-3, 0.3),
    delta=sweep.Uniform(0.3, 3.0),
)  # fmt: skip  (16 members)
SETTINGS = {"metric": "mse", "interval": 6, "generations": 5, "fraction": 0.25,
            "resample_probability": 0.3, "seed": 7}  # fmt: skip


# One worker runs the tests that share the module's search, so it is computed once.
pytestmark = pytest.mark.xdist_group("pbt")


@pytest.fixture(scope="module")
def result():
    return sweep.pbt(TRAINER, SPACE, **SETTINGS)


def _reference_decisions(result, settings, space):
    """Each generation's parents and hyperparameters, from the previous scores, in NumPy."""
    members = space.size
    q = max(1, int(settings["fraction"] * members))
    hp = {k: v.copy() for k, v in space.points().items()}
    parents, schedule = [np.arange(members)], [hp]
    for g in range(1, settings["generations"]):
        key = jax.random.fold_in(jax.random.key(settings["seed"]), g)
        k_exploit, k_explore = jax.random.split(key)
        scores = result.scores["mse"][g - 1].astype(np.float64)
        order = np.argsort(np.where(np.isnan(scores), np.inf, scores), kind="stable")
        top, bottom = order[:q], order[members - q :]
        picks = np.asarray(jax.random.randint(k_exploit, (q,), 0, q))
        sources = np.arange(members)
        sources[bottom] = top[picks]
        exploited = np.zeros(members, bool)
        exploited[bottom] = True
        new = {k: v[sources] if k in space.distributions else v.copy() for k, v in hp.items()}
        for j, (name, dist) in enumerate(space.distributions.items()):
            k_r, k_d, k_u = jax.random.split(jax.random.fold_in(k_explore, j), 3)
            resample = np.asarray(jax.random.uniform(k_r, (members,))) < settings[
                "resample_probability"]  # fmt: skip
            up = np.asarray(jax.random.bernoulli(k_d, 0.5, (members,)))
            unit = np.asarray(jax.random.uniform(k_u, (members,)), np.float64)
            fresh = np.asarray(dist.from_unit(unit), np.float32)
            factor = np.where(up, np.float32(1.25), np.float32(0.8))
            perturbed = np.clip(new[name] * factor, np.float32(dist.low), np.float32(dist.high))
            new[name] = np.where(exploited, np.where(resample, fresh, perturbed), new[name])
        hp = new
        parents.append(sources)
        schedule.append(hp)
    return np.stack(parents), {k: np.stack([h[k] for h in schedule]) for k in hp}


def test_exploit_and_explore_equal_a_host_side_reference_loop(result):
    parents, hp = _reference_decisions(result, SETTINGS, SPACE)
    np.testing.assert_array_equal(result.parents, parents)
    assert (result.parents != np.arange(SPACE.size)).sum() == 4 * 4  # 4 copies per generation
    for name in ("learning_rate", "delta"):
        np.testing.assert_allclose(result.hyperparameters[name], hp[name], rtol=1e-6)
    np.testing.assert_array_equal(result.hyperparameters["seed"], hp["seed"])
    assert result.scores["mse"].shape == (5, 16) and result.member_steps == 16 * 6 * 5


def test_a_member_never_perturbed_follows_a_plain_train_fit_run(result):
    untouched = [i for i in range(SPACE.size) if np.all(result.parents[:, i] == i)]
    assert untouched, "every member was exploited at least once; change the seed"
    for member in untouched[:3]:
        point = SPACE.point(member)
        assert np.all(result.hyperparameters["learning_rate"][:, member]
                      == np.float32(point["learning_rate"]))  # fmt: skip

        def objective(params, batch, delta=point["delta"]):
            return jaxloss.huber(models.linear_apply(params, batch[0]), batch[1], delta=delta)

        start = {"w": 0.1 * jax.random.normal(jax.random.key(point["seed"]), (3,)),
                 "b": np.float32(0.0)}  # fmt: skip
        plain = train.fit(objective, start, optax.sgd(point["learning_rate"]), (X, Y),
                          num_steps=30, batch_size=16, key=jax.random.key(point["seed"]),
                          progress=False)  # fmt: skip
        final = jax.tree.leaves(result.states.params)
        for leaf, expected in zip(final, jax.tree.leaves(plain.params), strict=True):
            leaf = leaf[member]
            np.testing.assert_allclose(leaf, expected, rtol=1e-5, atol=1e-6)
        assert int(result.states.step[member]) == 30


def test_lineage_follows_the_parents_and_the_best_improves_on_the_start(result):
    best = result.best["member"]
    lineage = result.lineage(best)
    assert [step["generation"] for step in lineage] == list(range(5))
    assert lineage[-1]["member"] == best
    for g in range(4, 0, -1):
        assert lineage[g - 1]["member"] == result.parents[g, lineage[g]["member"]]
        assert lineage[g]["learning_rate"] == pytest.approx(
            float(result.hyperparameters["learning_rate"][g, lineage[g]["member"]]))  # fmt: skip
    assert result.best["score"] == pytest.approx(np.nanmin(result.scores["mse"][-1]))
    assert result.best["score"] <= np.nanmin(result.scores["mse"][0])
    table = result.table().splitlines()
    assert table[0] == "| rank | member | learning_rate | delta | seed | copies | mse |"
    assert table[2].startswith(f"| 1 | {best} |")


def test_resume_equals_uninterrupted_and_other_searches_are_refused(tmp_path, result):
    first = sweep.pbt(TRAINER, SPACE, checkpoint_dir=tmp_path, **SETTINGS)
    np.testing.assert_array_equal(first.parents, result.parents)
    for name in ("generation-0003.npz", "generation-0004.npz"):
        (tmp_path / name).unlink()
    again = sweep.pbt(TRAINER, SPACE, checkpoint_dir=tmp_path, **SETTINGS)
    assert (again.generations_loaded, again.generations_computed) == (3, 2)
    np.testing.assert_array_equal(again.parents, result.parents)
    np.testing.assert_allclose(again.scores["mse"], result.scores["mse"], rtol=1e-6, atol=1e-7)
    for a, b in zip(jax.tree.leaves(again.states), jax.tree.leaves(result.states), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    loaded = sweep.pbt(TRAINER, SPACE, checkpoint_dir=tmp_path, **SETTINGS)
    assert loaded.generations_computed == 0
    np.testing.assert_allclose(loaded.scores["mse"], result.scores["mse"], rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match=r"what differs: fraction \(stored 0.25, now 0.5\)"):
        sweep.pbt(TRAINER, SPACE, checkpoint_dir=tmp_path, **(SETTINGS | {"fraction": 0.5}))


@pytest.mark.slow
def test_four_devices_equal_one_device_with_a_padded_population():
    script = f"""
import json, sys
sys.path.insert(0, {str(ROOT)!r})
import jax
from jaxloss import sweep
from tests.sweep_problem import TRAINER
from tests.test_pbt import SETTINGS
space = sweep.Random(6, [0], sample_seed=3, learning_rate=sweep.LogUniform(1e-3, 0.3),
                     delta=sweep.Uniform(0.3, 3.0))
out = {{}}
for name, devices in (("one", jax.devices()[:1]), ("four", jax.devices())):
    r = sweep.pbt(TRAINER, space, devices=devices, **SETTINGS)
    out[name] = {{"parents": r.parents.tolist(), "mse": r.scores["mse"].tolist(),
                  "lr": r.hyperparameters["learning_rate"].tolist()}}
print(json.dumps(out))
"""
    out = json.loads(run_with_devices(script).strip().splitlines()[-1])
    assert out["one"]["parents"] == out["four"]["parents"]
    np.testing.assert_allclose(out["one"]["lr"], out["four"]["lr"], rtol=1e-6)
    np.testing.assert_allclose(out["one"]["mse"], out["four"]["mse"], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"fraction": 0.0}, ValueError, r"fraction must be in \(0, 0.5\] .*got 0.0"),
        ({"fraction": 0.6}, ValueError, r"fraction must be in \(0, 0.5\] .*got 0.6"),
        ({"interval": 0}, ValueError, r"interval must be an int >= 1; got 0"),
        ({"generations": 2.5}, ValueError, r"generations must be an int >= 1"),
        ({"resample_probability": 1.5}, ValueError, r"resample_probability must be in \[0, 1\]"),
        ({"perturb": (0.8, -1.0)}, ValueError, r"perturb must be two positive factors"),
        ({"metric": "r2"}, ValueError, r"metric='r2' is not returned by trainer.evaluate"),
        ({"mode": "lowest"}, ValueError, r"mode must be 'min' or 'max'"),
    ],
)  # fmt: skip
def test_bad_settings_are_refused_before_any_compute(change, error, message):
    with pytest.raises(error, match=message):
        sweep.pbt(TRAINER, SPACE, **(SETTINGS | change))


def test_a_grid_or_a_population_of_one_is_refused():
    grid = sweep.Grid(learning_rate=[0.1, 0.2], delta=[1.0], seed=[0])
    with pytest.raises(TypeError, match=r"must be a sweep.Random or sweep.Sobol"):
        sweep.pbt(TRAINER, grid, **SETTINGS)
    one = sweep.Random(1, [0], learning_rate=sweep.LogUniform(1e-3, 0.3), delta=sweep.Uniform(1, 2))
    with pytest.raises(ValueError, match=r"population needs >= 2 members; got 1"):
        sweep.pbt(TRAINER, one, **SETTINGS)
