"""Search spaces: samples in bounds, distributed as stated, equal to scipy's Sobol, crossed,
reproducible, and run, checkpointed, ranked and plotted like a grid."""

from __future__ import annotations

import math
import warnings

import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats
from scipy.stats import qmc

from jaxloss import sweep

from .sweep_problem import run_fn

AXES = {
    "learning_rate": sweep.LogUniform(1e-4, 1.0),
    "delta": sweep.Uniform(0.1, 3.0),
    "width": sweep.IntUniform(2, 5),
    "batch": sweep.Choice([16, 32, 64]),
}


@pytest.mark.parametrize("cls", [sweep.Random, sweep.Sobol])
def test_samples_lie_in_their_bounds_with_the_stated_dtypes(cls):
    points = cls(512, seed=3, **AXES).points()
    lr, delta = points["learning_rate"], points["delta"]
    assert lr.dtype == np.float32 and points["width"].dtype == np.int32
    assert np.all((lr >= np.float32(1e-4)) & (lr <= np.float32(1.0)))
    assert np.all((delta >= np.float32(0.1)) & (delta <= np.float32(3.0)))
    assert set(points["width"].tolist()) == {2, 3, 4, 5}  # both ends included
    assert set(points["batch"].tolist()) == {16, 32, 64}


@pytest.mark.parametrize("cls", [sweep.Random, sweep.Sobol])
def test_a_log_uniform_axis_is_uniform_in_log_and_a_uniform_axis_uniform(cls):
    points = cls(2000, seed=1, lr=sweep.LogUniform(1e-5, 10.0), d=sweep.Uniform(-2.0, 3.0))
    logs = np.log(points.points()["lr"].astype(np.float64))
    low, high = math.log(1e-5), math.log(10.0)
    assert stats.kstest(logs, stats.uniform(low, high - low).cdf).pvalue > 0.01
    d = points.points()["d"].astype(np.float64)
    assert stats.kstest(d, stats.uniform(-2.0, 5.0).cdf).pvalue > 0.01
    # ... and not uniform in the values themselves
    lr = np.exp(logs)
    assert stats.kstest(lr, stats.uniform(1e-5, 10.0).cdf).pvalue < 1e-6


@pytest.mark.parametrize("n", [8, 13])
def test_sobol_points_match_scipy_with_the_same_seed_after_scaling(n):
    space = sweep.Sobol(n, seed=7, a=sweep.Uniform(-1.0, 3.0), lr=sweep.LogUniform(1e-3, 1e1))
    sampler = qmc.Sobol(2, scramble=True, rng=np.random.default_rng(7))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # scipy warns when n is not a power of 2
        unit = sampler.random(n)
    a = -1.0 + 4.0 * unit[:, 0]
    lr = np.exp(math.log(1e-3) + unit[:, 1] * (math.log(1e1) - math.log(1e-3)))
    np.testing.assert_allclose(space.points()["a"], a, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(space.points()["lr"], lr, rtol=1e-6)


def test_random_samples_are_numpy_pcg64_uniforms_through_each_quantile_function():
    space = sweep.Random(50, seed=11, a=sweep.Uniform(2.0, 4.0), k=sweep.IntUniform(0, 9))
    unit = np.random.default_rng(11).random((50, 2))
    np.testing.assert_allclose(space.points()["a"], 2.0 + 2.0 * unit[:, 0], rtol=1e-6)
    np.testing.assert_array_equal(space.points()["k"], np.floor(unit[:, 1] * 10).astype(int))


def test_lists_are_crossed_with_every_sample_and_the_seed_has_two_roles():
    space = sweep.Random(3, range(4), sample_seed=5, lr=sweep.LogUniform(1e-3, 1.0),
                         width=[8, 16])  # fmt: skip
    assert space.dims == ("trial", "seed", "width") and space.shape == (3, 4, 2)
    points = space.points()
    assert len(points["lr"]) == 24
    # Every trial's configuration appears with every (seed, width) pair.
    for trial in range(3):
        runs = [space.point(i) for i in range(24) if i // 8 == trial]
        assert len({r["lr"] for r in runs}) == 1
        assert {(r["seed"], r["width"]) for r in runs} == {
            (s, w) for s in range(4) for w in (8, 16)
        }
    # seed as an int is the sampling seed; as a sequence it is an axis, sampled with sample_seed.
    np.testing.assert_array_equal(
        sweep.Random(3, 5, lr=sweep.LogUniform(1e-3, 1.0)).columns("trial")["lr"],
        space.columns("trial")["lr"],
    )


def test_same_seed_same_samples_other_seed_other_samples():
    a = sweep.Random(16, seed=2, **AXES)
    assert a == sweep.Random(16, seed=2, **AXES)
    assert a.describe() == sweep.Random(16, seed=2, **AXES).describe()
    assert a != sweep.Random(16, seed=3, **AXES)
    assert sweep.Sobol(16, seed=2, **AXES) != a


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda: sweep.Uniform(1.0, 1.0), ValueError, r"low must be < high; got low=1.0, high=1.0"),
        (lambda: sweep.Uniform(2.0, 1.0), ValueError, r"low must be < high"),
        (lambda: sweep.Uniform(0.0, math.inf), ValueError, r"high must be finite"),
        (lambda: sweep.LogUniform(0.0, 1.0), ValueError, r"low must be > 0 \(a log axis\); got"),
        (lambda: sweep.LogUniform(-1.0, 1.0), ValueError, r"low=-1.0"),
        (lambda: sweep.IntUniform(1.5, 3), TypeError, r"IntUniform: low must be an int"),
        (lambda: sweep.IntUniform(3, 3), ValueError, r"low must be < high"),
        (lambda: sweep.Choice([]), ValueError, r"non-empty"),
        (lambda: sweep.Choice(["a", "b"]), TypeError, r"expected ints or floats"),
        (lambda: sweep.Random(0, lr=sweep.Uniform(0, 1)), ValueError, r"n must be an int >= 1"),
        (lambda: sweep.Sobol(-2, lr=sweep.Uniform(0, 1)), ValueError, r"Sobol: n must be"),
        (lambda: sweep.Random(4, seed=[0, 1]), ValueError, r"at least one distribution axis"),
        (lambda: sweep.Random(4, 1, sample_seed=2, lr=sweep.Uniform(0, 1)), ValueError,
         r"already the sampling seed"),
        (lambda: sweep.Random(4, trial=[1], lr=sweep.Uniform(0, 1)), ValueError,
         r"'trial' names the dimension"),
    ],
)  # fmt: skip
def test_bad_spaces_are_refused_naming_the_argument(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_an_axis_the_run_function_does_not_take_is_refused_before_any_compute():
    def fn(learning_rate, seed):
        raise AssertionError("must not be called")

    space = sweep.Random(4, range(2), learning_rate=sweep.LogUniform(1e-3, 1.0),
                         delta=sweep.Uniform(0.1, 3.0))  # fmt: skip
    with pytest.raises(ValueError, match=r"the space has \['delta'\], which run_fn does not take"):
        sweep.run(fn, space)
    with pytest.raises(ValueError, match=r"run_fn needs \['delta'\], which the space does not"):
        sweep.run(lambda learning_rate, delta, seed: {}, sweep.Grid(learning_rate=[1.0], seed=[0]))
    with pytest.raises(TypeError, match=r"must be a sweep.Grid, sweep.Random or sweep.Sobol"):
        sweep.run(fn, {"learning_rate": [1.0]})


SPACE = sweep.Random(5, range(2), sample_seed=4, learning_rate=sweep.LogUniform(1e-3, 0.3),
                     delta=sweep.Uniform(0.3, 3.0))  # fmt: skip


def test_a_random_space_runs_like_a_grid_equal_to_a_loop_of_runs():
    result = sweep.run(run_fn, SPACE, chunk_size=4)
    assert result["mse"].shape == (5, 2) and result["w"].shape == (5, 2, 3)
    for i in (0, 3, 9):
        expected = run_fn(
            **{k: jnp.asarray(v) for k, v in zip(SPACE.names, _values(i), strict=True)}
        )
        np.testing.assert_allclose(
            result["mse"].reshape(-1)[i], expected["mse"], rtol=1e-5, atol=1e-6
        )
    best = result.best("mse", over=("seed",))
    trial = best["index"][0]
    assert best["config"] == {k: float(str(v[trial])) for k, v in SPACE.columns("trial").items()}
    np.testing.assert_allclose(best["mean"], np.nanmin(result["mse"].mean(axis=1)), rtol=1e-6)
    table = result.table("mse", over=("seed",)).splitlines()
    assert table[0] == "| rank | learning_rate | delta | mse (mean ± std over seed) |"
    assert len(table) == 2 + 5
    records = result.records()
    assert len(records) == 10 and set(records[0]) == {"learning_rate", "delta", "seed", "mse",
                                                      "diverged_at"}  # fmt: skip


def _values(i):
    point = SPACE.point(i)
    return [point[n] for n in SPACE.names]


def test_a_sampled_space_checkpoints_resumes_and_loads(tmp_path):
    first = sweep.run(run_fn, SPACE, chunk_size=4, checkpoint_dir=tmp_path)
    again = sweep.run(run_fn, SPACE, chunk_size=4, checkpoint_dir=tmp_path)
    assert again.chunks_loaded == 3 and again.chunks_computed == 0
    loaded = sweep.load(tmp_path)
    assert loaded.grid == SPACE and isinstance(loaded.grid, sweep.Random)
    np.testing.assert_array_equal(loaded["mse"], first["mse"])
    other = sweep.Random(5, range(2), sample_seed=5, learning_rate=sweep.LogUniform(1e-3, 0.3),
                         delta=sweep.Uniform(0.3, 3.0))  # fmt: skip
    with pytest.raises(ValueError, match=r"holds a different sweep; what differs: the grid"):
        sweep.run(run_fn, other, chunk_size=4, checkpoint_dir=tmp_path)


def test_plots_of_a_sampled_space_are_scatters_log_scaled_on_log_axes(tmp_path):
    result = sweep.run(run_fn, SPACE)
    figure = result.plot("mse", x="learning_rate", over=("seed",), path=str(tmp_path / "a.png"))
    ax = figure.axes[0]
    assert ax.get_xscale() == "log" and len(ax.collections) == 1
    np.testing.assert_allclose(ax.collections[0].get_offsets()[:, 1],
                               result["mse"].mean(axis=1), rtol=1e-6)  # fmt: skip
    coloured = result.plot("mse", x="delta", y="learning_rate", over=("seed",))
    assert coloured.axes[0].get_xscale() == "linear" and coloured.axes[0].get_yscale() == "log"
    with pytest.raises(ValueError, match=r"dimensions \['trial', 'seed'\] remain"):
        result.plot("mse", x="learning_rate")
    with pytest.raises(ValueError, match=r"both be sampled hyperparameters .* or both grid axes"):
        result.plot("mse", x="learning_rate", y="seed")
