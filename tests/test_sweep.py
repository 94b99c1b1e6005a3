"""Sweeps: equal to a Python loop, on 1 or 4 devices or 2 processes, isolated, resumable."""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import textwrap
import time

import chex
import jax
import numpy as np
import pytest

from jaxloss import sweep

from .multidevice import free_port, run_with_devices
from .sweep_problem import GRID, run_fn

X_EVAL = np.linspace(-1, 1, 30, dtype=np.float32).reshape(10, 3)
Y_EVAL = X_EVAL @ np.array([1.0, -2.0, 0.5], np.float32)

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _loop_reference(grid):
    jitted = jax.jit(run_fn)
    out = [jitted(**grid.point(i)) for i in range(grid.size)]
    return {k: np.stack([np.asarray(o[k]) for o in out]).reshape(grid.shape + np.shape(out[0][k]))
            for k in out[0]}  # fmt: skip


def test_sweep_equals_a_python_loop_of_runs():
    result = sweep.run(run_fn, GRID)
    expected = _loop_reference(GRID)
    for key in ("mse", "w", "diverged_at"):
        np.testing.assert_allclose(result[key], expected[key], rtol=1e-5, atol=1e-6, err_msg=key)
    assert result["w"].shape == (*GRID.shape, 3)
    assert result.chunks_computed == 1 and result.chunks_loaded == 0


@pytest.mark.parametrize("chunk_size", [1, 4, 5])
def test_chunks_give_the_same_result_and_compile_once_per_chunk_shape(chunk_size):
    chex.clear_trace_counter()
    traced = chex.assert_max_traces(run_fn, n=1)
    chunked = sweep.run(traced, GRID, chunk_size=chunk_size)
    whole = sweep.run(run_fn, GRID)
    for key in ("mse", "w"):
        np.testing.assert_allclose(chunked[key], whole[key], rtol=1e-6, atol=1e-6, err_msg=key)
    assert chunked.chunks_computed == -(-GRID.size // chunk_size)


def test_diverging_learning_rate_leaves_other_runs_bit_for_bit_unchanged():
    calm = sweep.Grid(learning_rate=[0.01, 0.02, 0.1], delta=[0.5, 2.0], seed=[0])
    wild = sweep.Grid(learning_rate=[0.01, 1e38, 0.1], delta=[0.5, 2.0], seed=[0])
    a, b = sweep.run(run_fn, calm), sweep.run(run_fn, wild)
    assert not a.diverged.any() and b.diverged[1].all() and not b.diverged[[0, 2]].any()
    for key in ("mse", "w"):
        np.testing.assert_array_equal(a[key][[0, 2]], b[key][[0, 2]])
    assert "diverged" in b.table("mse")
    assert b.best("mse")["config"]["learning_rate"] != 1e38


def test_best_table_and_exports(tmp_path):
    result = sweep.run(run_fn, sweep.Grid(learning_rate=[0.01, 0.1], delta=[0.5, 2.0],
                                          seed=[0, 1, 2]))  # fmt: skip
    mse = np.asarray(result["mse"], np.float64)
    best = result.best("mse", over=("seed",))
    mean = mse.mean(axis=2)
    i, j = np.unravel_index(np.argmin(mean), mean.shape)
    assert best["config"] == {"learning_rate": [0.01, 0.1][i], "delta": [0.5, 2.0][j]}
    np.testing.assert_allclose(best["mean"], mean[i, j], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(best["std"], mse.std(axis=2)[i, j], rtol=1e-5, atol=1e-6)
    table = result.table("mse", over=("seed",))
    assert table.splitlines()[2].startswith(f"| 1 | {[0.01, 0.1][i]:g} | {[0.5, 2.0][j]:g} |")
    assert len(table.splitlines()) == 2 + 4

    result.to_csv(tmp_path / "r.csv")
    rows = (tmp_path / "r.csv").read_text().splitlines()
    assert rows[0] == "learning_rate,delta,seed,diverged_at,mse" and len(rows) == 1 + 12
    assert rows[1].startswith("0.01,0.5,0,")
    result.to_json(tmp_path / "r.json")
    document = json.loads((tmp_path / "r.json").read_text())
    assert document["grid"]["learning_rate"] == [0.01, 0.1] and len(document["runs"]) == 12
    np.testing.assert_allclose(document["runs"][5]["mse"], mse.reshape(-1)[5], rtol=1e-6, atol=1e-6)

    figure = result.plot("mse", x="learning_rate", y="delta", over=("seed",),
                         path=str(tmp_path / "heat.png"))  # fmt: skip
    assert (tmp_path / "heat.png").read_bytes().startswith(b"\x89PNG")
    assert figure.axes[0].get_ylabel() == "delta"
    with pytest.raises(ValueError, match=r"plot needs exactly \['delta', 'learning_rate'\]"):
        result.plot("mse", x="learning_rate", y="delta")


def test_grid_and_run_errors(tmp_path):
    with pytest.raises(ValueError, match=r"axis 'lr' must be a non-empty 1-D sequence"):
        sweep.Grid(lr=[])
    with pytest.raises(TypeError, match=r"axis 'loss' holds <U3 values"):
        sweep.Grid(loss=["mse", "mae"])
    with pytest.raises(ValueError, match=r"chunk_size must be >= 1"):
        sweep.run(run_fn, GRID, chunk_size=0)
    result = sweep.run(run_fn, GRID)
    with pytest.raises(KeyError, match=r"no result named 'loss'"):
        result["loss"]
    with pytest.raises(ValueError, match=r"over=\['sed'\] are not dimensions"):
        result.best("mse", over=("sed",))


FOUR_DEVICES = textwrap.dedent(
    """
    import jax, numpy as np
    from jaxloss import sweep
    from tests.sweep_problem import GRID, run_fn
    assert jax.device_count() == 4
    one = sweep.run(run_fn, GRID, devices=jax.devices()[:1])
    four = sweep.run(run_fn, GRID)  # 6 runs on 4 devices: padded to 8, padding dropped
    three = sweep.run(run_fn, GRID, chunk_size=3)  # chunks of 4, the last one padded
    for key in ("mse", "w", "diverged_at"):
        np.testing.assert_allclose(four[key], one[key], rtol=1e-6, atol=1e-6, err_msg=key)
        np.testing.assert_allclose(three[key], one[key], rtol=1e-6, atol=1e-6, err_msg=key)
    # Each device trains its own runs: no cross-device collective anywhere in the program
    # (a plain jit of the vmapped runs put an all-reduce in every training loop).
    import re
    from jaxloss.sweep import _run
    program = _run._program(run_fn, GRID, 8, jax.devices(), "diverged_at", False)
    text = program.compiled.as_text()
    assert "while" in text
    found = re.findall(r"all-reduce|all-gather|collective-permute|all-to-all|reduce-scatter",
                       text)
    assert not found, sorted(set(found))
    print("ok")
    """
)


@pytest.mark.slow
def test_one_and_four_devices_agree_with_padding():
    assert run_with_devices(FOUR_DEVICES, devices=4).strip().endswith("ok")


MULTI_PROCESS = textwrap.dedent(
    """
    import json, os, sys
    import jax
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address=f"127.0.0.1:{sys.argv[1]}",
                               num_processes=2, process_id=int(sys.argv[2]),
                               initialization_timeout=60)
    from jaxloss import sweep
    from tests.sweep_problem import GRID, run_fn
    assert jax.device_count() == 4 and jax.local_device_count() == 2
    result = sweep.run(run_fn, GRID)
    print(json.dumps({k: v.tolist() for k, v in result.values.items()}))
    jax.distributed.shutdown()
    """
)


@pytest.mark.slow
def test_two_processes_over_loopback_equal_one_process():
    port = free_port()
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2",
               JAX_PLATFORMS="cpu")  # fmt: skip
    procs = [
        subprocess.Popen([sys.executable, "-c", MULTI_PROCESS, str(port), str(i)], cwd=ROOT,
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for i in range(2)
    ]  # fmt: skip
    try:
        outputs = [p.communicate(timeout=240) for p in procs]
    finally:
        for p in procs:
            p.kill()
    for p, (_, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err[-3000:]
    expected = sweep.run(run_fn, GRID)
    for out, _ in outputs:  # every process receives the full result
        got = json.loads(out.strip().splitlines()[-1])
        for key in ("mse", "w", "diverged_at"):
            np.testing.assert_allclose(got[key], expected[key], rtol=1e-6, atol=1e-6, err_msg=key)


RESUMABLE = textwrap.dedent(
    """
    import sys, time, json
    import jax
    from jaxloss import sweep
    from tests.sweep_problem import GRID, run_fn

    def slow(**hp):
        jax.debug.callback(lambda: time.sleep(0.4))
        return run_fn(**hp)

    result = sweep.run(slow, GRID, chunk_size=1, checkpoint_dir=sys.argv[1])
    print(json.dumps({"computed": result.chunks_computed, "loaded": result.chunks_loaded,
                      "mse": result["mse"].tolist(), "w": result["w"].tolist()}))
    """
)


@pytest.mark.slow
def test_killed_sweep_resumes_and_recomputes_only_the_rest(tmp_path):
    directory = tmp_path / "ckpt"
    command = [sys.executable, "-c", RESUMABLE, str(directory)]
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    log = tmp_path / "first.log"
    with log.open("wb") as stderr:
        first = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                 stderr=stderr)  # fmt: skip
    deadline = time.monotonic() + 120
    while len(list(directory.glob("chunk-*.npz"))) < 2:
        assert first.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, "the sweep wrote no chunks"
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    done = len(list(directory.glob("chunk-*.npz")))
    assert 2 <= done < GRID.size

    second = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=240, check=False)  # fmt: skip
    assert second.returncode == 0, second.stderr[-3000:]
    resumed = json.loads(second.stdout.strip().splitlines()[-1])
    assert resumed["loaded"] >= done and resumed["loaded"] + resumed["computed"] == GRID.size
    expected = sweep.run(run_fn, GRID)
    np.testing.assert_allclose(resumed["mse"], expected["mse"], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(resumed["w"], expected["w"], rtol=1e-6, atol=1e-6)

    other = sweep.Grid(learning_rate=[0.01], delta=[0.5], seed=[0])
    with pytest.raises(ValueError, match=r"holds a different sweep"):
        sweep.run(run_fn, other, chunk_size=1, checkpoint_dir=directory)
    with pytest.raises(ValueError, match=r"holds a different sweep"):
        sweep.run(run_fn, GRID, chunk_size=2, checkpoint_dir=directory)


def test_bias_variance_over_seeds_matches_numpy():
    def predictions(learning_rate, delta, seed):
        out = run_fn(learning_rate, delta, seed)
        return {"predictions": jax.numpy.asarray(X_EVAL) @ out["w"]}

    grid = sweep.Grid(learning_rate=[0.01, 0.1], delta=[0.5], seed=[0, 1, 2, 3])
    result = sweep.run(predictions, grid)
    parts = result.bias_variance("predictions", Y_EVAL)
    members = np.asarray(result["predictions"], np.float64)  # (2, 1, 4, N)
    ensemble = members.mean(axis=2)
    bias2 = ((ensemble - Y_EVAL) ** 2).mean(axis=-1)
    variance = ((members - ensemble[:, :, None]) ** 2).mean(axis=(-1, -2))
    np.testing.assert_allclose(parts["bias_squared"], bias2, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(parts["variance"], variance, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(parts["mse"], bias2 + variance, rtol=1e-5, atol=1e-7)
    assert parts["mse"].shape == (2, 1)


# --------------------------------------------------------------------------------------------
# Regressions: no process state changed, no user data kept alive, explicit result contracts.
# --------------------------------------------------------------------------------------------


def test_plot_leaves_the_matplotlib_backend_and_pyplot_alone(tmp_path):
    import matplotlib
    import matplotlib.pyplot as plt

    backend, figures = matplotlib.get_backend(), plt.get_fignums()
    result = sweep.run(lambda a, b: {"y": a * b}, sweep.Grid(a=[1.0, 2.0], b=[1.0, 3.0]))
    figure = result.plot("y", x="a", y="b", path=str(tmp_path / "y.png"))
    assert matplotlib.get_backend() == backend and plt.get_fignums() == figures
    assert (tmp_path / "y.png").read_bytes().startswith(b"\x89PNG")
    assert figure.axes[0].get_xlabel() == "a"


def test_the_program_cache_keeps_no_run_function_or_captured_array_alive():
    import gc
    import weakref

    traces = []

    def make():
        data = jax.numpy.arange(5.0)

        def run_fn(a):
            traces.append(a)  # runs only while tracing
            return {"y": a * jax.numpy.sum(data)}

        return run_fn, weakref.ref(data)

    run_fn, data_ref = make()
    first = sweep.run(run_fn, sweep.Grid(a=[1.0, 2.0]))
    again = sweep.run(run_fn, sweep.Grid(a=[3.0, 4.0]))
    np.testing.assert_allclose(again["y"], [30.0, 40.0])
    assert len(traces) == 1  # the second sweep reused the cached program
    run_ref = weakref.ref(run_fn)
    del run_fn, first, again
    gc.collect()
    assert run_ref() is None and data_ref() is None


def test_best_returns_the_grid_index_and_diverged_key_is_explicit():
    grid = sweep.Grid(a=[0.0, 1.0, 3.0], seed=[0, 1])

    def run_fn(a, seed):
        loss = (a - 1.0) ** 2 + 0.0 * seed.astype(a.dtype)
        return {"loss": loss, "halted": jax.numpy.where(a > 2, 7, -1)}

    result = sweep.run(run_fn, grid, diverged_key="halted")
    best = result.best("loss", over=("seed",))
    assert best["index"] == (1,) and best["config"] == {"a": 1.0}
    np.testing.assert_array_equal(result["loss"][best["index"]], [0.0, 0.0])
    np.testing.assert_array_equal(result.diverged, [[False] * 2, [False] * 2, [True] * 2])
    assert "diverged" in result.table("loss", over=("seed",)).splitlines()[-1]
    plain = sweep.run(run_fn, grid, diverged_key=None)
    assert not plain.diverged.any() and "diverged" not in plain.table("loss", over=("seed",))

    def float_divergence(a, seed):
        return {"loss": a, "diverged_at": a}

    with pytest.raises(ValueError, match=r"'diverged_at' must be one integer per run"):
        sweep.run(float_divergence, grid)
    with pytest.raises(ValueError, match=r"'diverged_at' must be one integer per run"):
        sweep.run(lambda a, seed: {"loss": a, "diverged_at": jax.numpy.zeros(2, "int32")}, grid)


# --------------------------------------------------------------------------------------------
# Checkpoints identify the computation; shards fill one folder with no coordinator.
# --------------------------------------------------------------------------------------------


def _variant(steps=60, delta_scale=1.0, model="linear", data_scale=1.0):
    """sweep_problem's run function with one thing changed."""
    import optax

    import jaxloss
    from jaxloss import models, train

    from .sweep_problem import X, Y

    x = X * np.float32(data_scale)

    def run_fn(learning_rate, delta, seed):
        def apply(params, inputs):
            out = models.linear_apply(params, inputs)
            return out if model == "linear" else jax.numpy.tanh(out)

        def objective(params, batch):
            return jaxloss.huber(apply(params, batch[0]), batch[1], delta=delta * delta_scale)

        start = {"w": 0.1 * jax.random.normal(jax.random.key(seed), (3,)),
                 "b": jax.numpy.float32(0.0)}  # fmt: skip
        result = train.fit(objective, start, optax.sgd(learning_rate), (x, Y),
                           num_steps=steps, log_every=20, progress=False)  # fmt: skip
        error = jaxloss.mse(apply(result.params, x), Y)
        return {"mse": error, "diverged_at": result.diverged_at, "w": result.params["w"]}

    return run_fn


@pytest.mark.parametrize(
    ("change", "call", "message"),
    [
        ("steps", lambda d: sweep.run(_variant(steps=80), GRID, checkpoint_dir=d), "program"),
        (
            "loss argument",
            lambda d: sweep.run(_variant(delta_scale=2.0), GRID, checkpoint_dir=d),
            "program",
        ),
        ("model", lambda d: sweep.run(_variant(model="tanh"), GRID, checkpoint_dir=d), "program"),
        (
            "captured data",
            lambda d: sweep.run(_variant(data_scale=1.001), GRID, checkpoint_dir=d),
            "program",
        ),
        (
            "grid",
            lambda d: sweep.run(
                _variant(),
                sweep.Grid(learning_rate=[0.01, 0.1, 0.2], delta=[0.5, 2.0], seed=[0]),
                checkpoint_dir=d,
            ),
            r"the grid \(stored",
        ),
        (
            "chunk size",
            lambda d: sweep.run(_variant(), GRID, chunk_size=4, checkpoint_dir=d),
            r"the chunk size",
        ),
    ],
)
def test_a_checkpoint_is_refused_for_any_other_computation(tmp_path, change, call, message):
    first = sweep.run(_variant(), GRID, checkpoint_dir=tmp_path)
    before = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    with pytest.raises(ValueError, match=rf"holds a different sweep; what differs: .*{message}"):
        call(tmp_path)
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()} == before  # nothing written
    again = sweep.run(_variant(), GRID, checkpoint_dir=tmp_path)  # the same computation resumes
    assert again.chunks_loaded == 1 and again.chunks_computed == 0
    np.testing.assert_array_equal(again["mse"], first["mse"])


def test_shards_fill_one_folder_and_load_returns_the_whole_sweep(tmp_path):
    grid = sweep.Grid(learning_rate=[0.01, 0.1, 0.3], delta=[0.5, 2.0], seed=[0, 1, 2])  # 18
    reports = [sweep.run(run_fn, grid, chunk_size=4, checkpoint_dir=tmp_path, shard=(k, 3))
               for k in (2, 0)]  # fmt: skip
    assert [r.chunks for r in reports] == [[2], [0, 3]] and not reports[-1].complete
    with pytest.raises(ValueError, match=r"missing 2 of 5 chunks \(1, 4\)"):
        sweep.load(tmp_path)
    last = sweep.run(run_fn, grid, chunk_size=4, checkpoint_dir=tmp_path, shard=(1, 3))
    assert last.complete and last.chunks_computed == 2
    again = sweep.run(run_fn, grid, chunk_size=4, checkpoint_dir=tmp_path, shard=(1, 3))
    assert again.chunks_computed == 0 and again.chunks_loaded == 2  # a restarted shard
    loaded, whole = sweep.load(tmp_path), sweep.run(run_fn, grid)
    assert loaded.grid == grid and loaded.diverged_key == "diverged_at"
    for key in ("mse", "w", "diverged_at"):
        np.testing.assert_allclose(loaded[key], whole[key], rtol=1e-6, atol=1e-6, err_msg=key)
        assert loaded[key].dtype == whole[key].dtype
    assert loaded.table("mse", over=("seed",)) == whole.table("mse", over=("seed",))


def test_shard_and_load_bad_input(tmp_path):
    for bad in [(2, 2), (0, 0), (-1, 2), (1,), "0/2", (0.0, 2)]:
        with pytest.raises(ValueError, match=r"shard=.* must be \(k, n\)"):
            sweep.run(run_fn, GRID, checkpoint_dir=tmp_path, shard=bad)
    with pytest.raises(ValueError, match=r"shard= needs checkpoint_dir="):
        sweep.run(run_fn, GRID, shard=(0, 2))
    with pytest.raises(ValueError, match=r"holds no sweep.json"):
        sweep.load(tmp_path)
    assert not any(tmp_path.iterdir())


SHARD = textwrap.dedent(
    """
    import sys, time, json
    import jax
    from jaxloss import sweep
    from tests.sweep_problem import run_fn

    def slow(**hp):
        jax.debug.callback(lambda: time.sleep(0.3))
        return run_fn(**hp)

    grid = sweep.Grid(learning_rate=[0.01, 0.1, 0.3], delta=[0.5, 2.0], seed=[0, 1])
    shards = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    report = sweep.run(slow, grid, chunk_size=1, checkpoint_dir=sys.argv[1],
                       shard=(int(sys.argv[2]), shards))
    print(json.dumps(report._asdict()))
    """
)


@pytest.mark.slow
def test_two_shard_processes_and_a_killed_restarted_shard_equal_the_whole_sweep(tmp_path):
    directory = tmp_path / "shared"
    env = dict(os.environ, JAX_PLATFORMS="cpu")

    def command(k):
        return [sys.executable, "-c", SHARD, str(directory), str(k)]

    log = tmp_path / "zero.log"
    with log.open("wb") as stderr:
        zero = subprocess.Popen(command(0), cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                stderr=stderr)  # fmt: skip
    one = subprocess.Popen(command(1), cwd=ROOT, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.monotonic() + 120
    while not (directory / "chunk-00000.npz").exists():  # shard 0's first chunk
        assert zero.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, "shard 0 wrote no chunk"
        time.sleep(0.05)
    zero.send_signal(signal.SIGKILL)
    zero.wait(timeout=30)
    out, err = one.communicate(timeout=240)
    assert one.returncode == 0, err[-3000:]
    assert json.loads(out.strip().splitlines()[-1])["chunks"] == [1, 3, 5, 7, 9, 11]
    with pytest.raises(ValueError, match=r"is missing \d+ of 12 chunks"):
        sweep.load(directory)

    restarted = subprocess.run(command(0), cwd=ROOT, env=env, capture_output=True, text=True,
                               timeout=240, check=False)  # fmt: skip
    assert restarted.returncode == 0, restarted.stderr[-3000:]
    report = json.loads(restarted.stdout.strip().splitlines()[-1])
    assert report["complete"] and report["chunks_loaded"] >= 1
    grid = sweep.Grid(learning_rate=[0.01, 0.1, 0.3], delta=[0.5, 2.0], seed=[0, 1])
    loaded, whole = sweep.load(directory), sweep.run(run_fn, grid)
    for key in ("mse", "w", "diverged_at"):
        np.testing.assert_allclose(loaded[key], whole[key], rtol=1e-6, atol=1e-6, err_msg=key)


@pytest.mark.slow
def test_two_writers_of_the_same_chunks_keep_the_folder_consistent(tmp_path):
    # Two copies of one shard (a retried array task while the first still runs) write the
    # same chunks: each write is a rename of a whole file, so the folder stays loadable.
    directory = tmp_path / "shared"
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    command = [sys.executable, "-c", SHARD, str(directory), "0", "1"]
    procs = [subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]  # fmt: skip
    outputs = [p.communicate(timeout=240) for p in procs]
    for p, (_, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err[-3000:]
    assert all(json.loads(out.strip().splitlines()[-1])["complete"] for out, _ in outputs)
    assert not [p.name for p in directory.iterdir() if p.name.startswith(".")]  # no temporaries
    grid = sweep.Grid(learning_rate=[0.01, 0.1, 0.3], delta=[0.5, 2.0], seed=[0, 1])
    loaded, whole = sweep.load(directory), sweep.run(run_fn, grid)
    for key in ("mse", "w", "diverged_at"):
        np.testing.assert_allclose(loaded[key], whole[key], rtol=1e-6, atol=1e-6, err_msg=key)
