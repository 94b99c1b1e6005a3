"""The command line, end to end through the real console script."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import jax
import numpy as np
import optax
import pytest

import jaxloss
from jaxloss import baselines, cli, models, train
from jaxloss.data import load_diabetes

SCRIPT = shutil.which("jaxloss")


def jaxloss_cli(*args, cwd=None):
    command = [SCRIPT] if SCRIPT else [sys.executable, "-m", "jaxloss"]
    return subprocess.run(
        [*command, *args], capture_output=True, text=True, timeout=300, cwd=cwd, check=False
    )


def _png(path):
    data = path.read_bytes()
    return data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 5_000


def test_bad_input_through_the_console_script(tmp_path):
    result = jaxloss_cli("fit", "--test-fraction", "2", "--out", str(tmp_path / "out"))
    assert result.returncode == 2 and not (tmp_path / "out").exists()
    assert result.stderr.strip() == "jaxloss: error: --test-fraction 2.0: must be in (0, 1)"


@pytest.mark.slow
def test_console_script_is_installed_and_has_help():
    assert SCRIPT, "pip install -e . puts the jaxloss console script on PATH"
    for command in ([SCRIPT, "--help"], [sys.executable, "-m", "jaxloss", "sweep", "--help"]):
        result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        assert result.returncode == 0 and "usage:" in result.stdout


def _metric_lines(stdout):
    rows = {}
    for line in stdout.splitlines():
        number = r"\s+([-\d.e+]+)"
        match = re.match(r"(.+?)\s{2,}([-\d.e+]+)" + number * 5 + "$", line)
        if match:
            rows[match.group(1).strip()] = [float(v) for v in match.groups()[1:]]
    return rows


def test_fit_on_bundled_data_prints_what_it_writes_and_matches_the_library(tmp_path):
    out = tmp_path / "fit"
    result = jaxloss_cli(
        "fit",
        "--steps",
        "300",
        "--loss",
        "huber",
        "--loss-arg",
        "delta=1.5",
        "--learning-rate",
        "0.02",
        "--seed",
        "3",
        "--quiet",
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    document = json.loads((out / "results.json").read_text())
    printed = _metric_lines(result.stdout)
    model, baseline = document["held_out"]["model"], document["held_out"]["least_squares"]
    np.testing.assert_allclose(
        printed["linear (huber)"],
        [model[k] for k in ("mse", "rmse", "mae", "r2", "pearson", "ccc")],
        rtol=1e-3,
        atol=5e-4,
    )
    np.testing.assert_allclose(
        printed["least squares (SVD)"],
        [baseline[k] for k in ("mse", "rmse", "mae", "r2", "pearson", "ccc")],
        rtol=1e-3,
        atol=5e-4,
    )
    assert document["config"]["loss_args"] == {"delta": 1.5}
    assert {"jax", "device", "platform"} <= set(document["environment"])
    assert _png(out / "training_curve.png") and _png(out / "predictions.png")

    # The same run, written directly against the library.
    x, y, _ = load_diabetes()
    order = np.random.default_rng(3).permutation(len(y))
    test, tr = order[: round(0.2 * len(y))], order[round(0.2 * len(y)) :]
    mean, std = x[tr].mean(0), x[tr].std(0)
    xs = (x - mean) / std
    y_mean, y_std = y[tr].mean(), y[tr].std()
    ys = (y - y_mean) / y_std
    key = jax.random.key(3)
    fitted = train.fit(
        lambda p, b: jaxloss.huber(models.linear_apply(p, b[0]), b[1], delta=1.5),
        models.linear_init(key, 10),
        optax.adam(0.02),
        (xs[tr], ys[tr]),
        num_steps=300,
        batch_size=32,
        key=jax.random.fold_in(key, 1),
        log_every=6,
        progress=False,
    )
    predictions = models.linear_apply(fitted.params, xs[test]) * y_std + y_mean
    np.testing.assert_allclose(
        model["mse"], jaxloss.mse(predictions, y[test]), rtol=1e-4, atol=1e-4
    )
    w, b = baselines.lstsq(xs[tr], ys[tr])
    lstsq_predictions = (xs[test] @ w + b) * y_std + y_mean
    np.testing.assert_allclose(
        baseline["mse"], jaxloss.mse(lstsq_predictions, y[test]), rtol=1e-4, atol=1e-4
    )


def test_sweep_on_bundled_data(tmp_path):
    out = tmp_path / "sweep"
    result = jaxloss_cli(
        "sweep",
        "--steps",
        "100",
        "--grid",
        "learning_rate=0.003,0.03",
        "--grid",
        "delta=0.5,2",
        "--seeds",
        "2",
        "--quiet",
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    document = json.loads((out / "results.json").read_text())
    assert document["table"] in result.stdout
    assert len(document["runs"]) == 2 * 2 * 2
    rows = (out / "results.csv").read_text().splitlines()
    assert rows[0].startswith("learning_rate,delta,seed,") and len(rows) == 9
    # the chosen configuration is the lowest mean validation MSE over seeds in the written runs
    by_config = {}
    for run in document["runs"]:
        key = (run["learning_rate"], run["delta"])
        by_config.setdefault(key, []).append(run["validation_mse"])
    best = min(by_config, key=lambda c: np.mean(by_config[c]))
    assert document["best"]["config"] == {"learning_rate": best[0], "delta": best[1]}
    assert f"chosen on validation rows: learning_rate={best[0]:g}, delta={best[1]:g}" in (
        result.stdout
    )
    chosen = [r["test_mse"] for r in document["runs"]
              if (r["learning_rate"], r["delta"]) == best]  # fmt: skip
    np.testing.assert_allclose(document["test_at_best"]["mse"]["mean"], np.mean(chosen),
                               rtol=1e-6, atol=1e-6)  # fmt: skip
    assert "rows: 266 train (fit), 88 validation (rank), 88 test" in result.stdout
    split = document["bias_variance_at_best"]
    np.testing.assert_allclose(
        split["mse"], split["bias_squared"] + split["variance"], rtol=1e-4, atol=1e-4
    )
    assert _png(out / "validation_mse_over_grid.png") and _png(out / "predictions.png")


def test_fit_and_sweep_on_a_csv(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 2))
    y = 2 * x[:, 0] - x[:, 1] + 0.5 + 0.01 * rng.normal(size=120)
    lines = ["a,b,noise,y"] + [
        f"{a},{b},{n},{t}" for (a, b), n, t in zip(x, rng.normal(size=120), y, strict=True)
    ]
    (tmp_path / "data.csv").write_text("\n".join(lines) + "\n")
    result = jaxloss_cli(
        "fit",
        "--data",
        str(tmp_path / "data.csv"),
        "--target",
        "y",
        "--features",
        "a",
        "b",
        "--loss",
        "mse",
        "--steps",
        "400",
        "--learning-rate",
        "0.05",
        "--quiet",
        "--out",
        str(tmp_path / "o1"),
    )
    assert result.returncode == 0, result.stderr
    document = json.loads((tmp_path / "o1" / "results.json").read_text())
    assert document["config"]["features"] == ["a", "b"]
    assert document["held_out"]["model"]["r2"] > 0.999
    result = jaxloss_cli(
        "sweep",
        "--data",
        str(tmp_path / "data.csv"),
        "--target",
        "y",
        "--loss",
        "pinball",
        "--grid",
        "quantile=0.1,0.5,0.9",
        "--metric",
        "mae",
        "--seeds",
        "2",
        "--steps",
        "50",
        "--quiet",
        "--out",
        str(tmp_path / "o2"),
    )
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "o2" / "results.json").read_text())["grid"]["quantile"] == [
        0.1,
        0.5,
        0.9,
    ]


def _in_process(*args):
    # The same entry point as the console script, without a new interpreter per call.
    with jax.numpy_dtype_promotion("standard"):
        return cli.main(list(args))


def test_existing_results_are_never_overwritten(tmp_path, capsys):
    out = tmp_path / "out"
    assert _in_process("fit", "--steps", "20", "--quiet", "--out", str(out)) == 0
    before = (out / "results.json").read_text()
    capsys.readouterr()
    assert _in_process("fit", "--steps", "30", "--quiet", "--out", str(out)) == 0
    assert "already holds results; writing to" in capsys.readouterr().out
    assert (out / "results.json").read_text() == before
    (subdir,) = [p for p in out.iterdir() if p.name.startswith("run-")]
    assert json.loads((subdir / "results.json").read_text())["config"]["steps"] == 30


BAD = [
    (["fit", "--data", "missing.csv", "--target", "y"], r"--data missing.csv: no such file"),
    (["fit", "--data", "{csv}", "--target", "z"], r"--target 'z': no such column"),
    (["fit", "--data", "{csv}", "--target", "y", "--features", "q"], r"no column 'q'"),
    (["fit", "--data", "{text}", "--target", "y"], r"row 2, column 'a': 'oops' is not a number"),
    (["fit", "--data", "{nan}", "--target", "y"], r"row 1, column 'y': the cell is missing"),
    (["fit", "--loss", "l7"], r"--loss 'l7': choose one of"),
    (["fit", "--loss-arg", "alpha=1"], r"--loss-arg 'alpha': huber takes delta"),
    (["fit", "--loss-arg", "delta=big"], r"--loss-arg delta: 'big' is not a number"),
    (["fit", "--loss", "robust"], r"--loss robust needs --loss-arg for: alpha"),
    (["sweep", "--grid", "delta=1,x"], r"--grid delta: 'x' is not a number"),
    (["sweep", "--grid", "momentum=1,2"], r"--grid 'momentum': with --loss huber the axes are"),
    (["sweep", "--grid", "delta"], r"--grid 'delta': expected name=v1,v2"),
    (["fit", "--test-fraction", "1.5"], r"--test-fraction 1.5: must be in \(0, 1\)"),
    (["fit", "--test-fraction", "0"], r"--test-fraction 0.0: must be in \(0, 1\)"),
    (["fit", "--model", "cnn"], r"invalid choice: 'cnn'"),
]


@pytest.mark.parametrize(("args", "message"), BAD, ids=[m[:30] for _, m in BAD])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(
    tmp_path, monkeypatch, capsys, args, message
):
    (tmp_path / "ok.csv").write_text("a,y\n1,2\n3,4\n5,6\n7,8\n9,10\n")
    (tmp_path / "text.csv").write_text("a,y\n1,2\noops,4\n5,6\n7,8\n")
    (tmp_path / "nan.csv").write_text("a,y\n1,nan\n3,4\n5,6\n7,8\n")
    paths = {"csv": tmp_path / "ok.csv", "text": tmp_path / "text.csv", "nan": tmp_path / "nan.csv"}
    args = [a.format(**paths) for a in args]
    out = tmp_path / "out"
    monkeypatch.chdir(tmp_path)
    assert _in_process(*args, "--quiet", "--out", str(out)) == 2
    stderr = capsys.readouterr().err
    assert re.search(message, stderr), stderr
    assert len(stderr.strip().splitlines()) == 1
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".jaxloss")]


# --------------------------------------------------------------------------------------------
# Honest selection, recorded configurations, shards and several processes.
# --------------------------------------------------------------------------------------------

SMALL_SWEEP = ("sweep", "--steps", "60", "--seeds", "2", "--grid", "learning_rate=0.003,0.3",
               "--grid", "delta=0.5,2", "--quiet")  # fmt: skip


def _csv(path, rows, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 3))
    y = x @ np.array([1.5, -2.0, 0.5]) + 0.3 * rng.normal(size=rows)
    lines = ["a,b,c,y"] + [f"{a},{b},{c},{t}" for (a, b, c), t in zip(x, y, strict=True)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_ranking_uses_validation_rows_only(tmp_path, capsys):
    data = _csv(tmp_path / "d.csv", 200)
    args = (*SMALL_SWEEP, "--data", str(data), "--target", "y")
    assert _in_process(*args, "--out", str(tmp_path / "clean")) == 0
    # Poison the test rows (the first round(0.2 N) of the seed's permutation): the choice and
    # the validation table must not move, the test report must.
    order = np.random.default_rng(0).permutation(200)
    lines = data.read_text().splitlines()
    for row in order[:40]:
        cells = lines[row + 1].split(",")
        lines[row + 1] = ",".join([*cells[:3], str(float(cells[3]) + 1e3)])
    (tmp_path / "poisoned.csv").write_text("\n".join(lines) + "\n")
    poisoned_args = (*SMALL_SWEEP, "--data", str(tmp_path / "poisoned.csv"), "--target", "y")
    assert _in_process(*poisoned_args, "--out", str(tmp_path / "poisoned")) == 0
    clean = json.loads((tmp_path / "clean" / "results.json").read_text())
    poisoned = json.loads((tmp_path / "poisoned" / "results.json").read_text())
    assert clean["best"]["config"] == poisoned["best"]["config"]
    assert clean["table"] == poisoned["table"]
    assert poisoned["test_at_best"]["mse"]["mean"] > 100 * clean["test_at_best"]["mse"]["mean"]


def test_correlations_are_maximised_and_loss_ranks_by_the_trained_objective(tmp_path, capsys):
    assert _in_process(*SMALL_SWEEP, "--metric", "pearson", "--out", str(tmp_path / "r2")) == 0
    document = json.loads((tmp_path / "r2" / "results.json").read_text())
    assert document["ranked_by"] == "validation_pearson" and document["mode"] == "max"
    by_config = {}
    for run in document["runs"]:
        key = (run["learning_rate"], run["delta"])
        by_config.setdefault(key, []).append(run["validation_pearson"])
    best = max(by_config, key=lambda c: np.mean(by_config[c]))
    assert document["best"]["config"] == {"learning_rate": best[0], "delta": best[1]}
    assert "higher is better" in capsys.readouterr().out
    # pinball ranks by its own loss by default, and refuses to compare different quantiles
    args = ("sweep", "--steps", "40", "--seeds", "1", "--loss", "pinball", "--loss-arg",
            "quantile=0.9", "--grid", "learning_rate=0.01,0.1", "--quiet")  # fmt: skip
    assert _in_process(*args, "--out", str(tmp_path / "pinball")) == 0
    document = json.loads((tmp_path / "pinball" / "results.json").read_text())
    assert document["ranked_by"] == "validation_loss"
    bad = ("sweep", "--loss", "pinball", "--grid", "quantile=0.1,0.9", "--quiet")
    assert _in_process(*bad, "--out", str(tmp_path / "bad")) == 2
    assert "each configuration trains a different loss" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()


def test_a_checkpoint_of_another_configuration_is_exit_2_and_nothing_written(tmp_path, capsys):
    checkpoint = tmp_path / "ckpt"

    def sweep_args(*changes, grid=("learning_rate=0.003,0.3", "delta=0.5,2")):
        return ("sweep", "--steps", "60", "--seeds", "2", "--grid", grid[0], "--grid", grid[1],
                "--quiet", "--checkpoint-dir", str(checkpoint), *changes)  # fmt: skip

    assert _in_process(*sweep_args(), "--out", str(tmp_path / "a")) == 0
    before = sorted(p.name for p in checkpoint.iterdir())
    data = _csv(tmp_path / "d.csv", 100)
    changes = {
        "steps": sweep_args("--steps", "61"),
        "batch_size": sweep_args("--batch-size", "16"),
        "model": sweep_args("--model", "mlp"),
        "optimizer": sweep_args("--optimizer", "sgd"),
        "seed": sweep_args("--seed", "1"),
        "test_fraction": sweep_args("--test-fraction", "0.3"),
        "grid": sweep_args(grid=("learning_rate=0.003,0.1", "delta=0.5,2")),
        "data_sha256": sweep_args("--data", str(data), "--target", "y"),
    }
    for differing, args in changes.items():
        capsys.readouterr()
        assert _in_process(*args, "--out", str(tmp_path / "b")) == 2, differing
        err = capsys.readouterr().err
        assert "holds a sweep of another configuration; what differs:" in err
        assert f"{differing} (stored" in err, err
        assert not (tmp_path / "b").exists()
    assert sorted(p.name for p in checkpoint.iterdir()) == before
    capsys.readouterr()
    assert _in_process(*sweep_args(), "--out", str(tmp_path / "c")) == 0  # the same resumes
    assert "resumed: 1 chunk(s) loaded" in capsys.readouterr().out


def test_shards_then_collect_equal_one_sweep(tmp_path, capsys):
    whole = (*SMALL_SWEEP, "--chunk-size", "3")
    assert _in_process(*whole, "--out", str(tmp_path / "whole")) == 0
    checkpoint = str(tmp_path / "ckpt")
    for k in (1, 0):
        assert _in_process(*whole, "--checkpoint-dir", checkpoint, "--shard", f"{k}/2",
                           "--out", str(tmp_path / f"unused{k}")) == 0  # fmt: skip
        assert not (tmp_path / f"unused{k}").exists()  # a shard writes no report
    assert "the folder is complete: jaxloss collect" in capsys.readouterr().out
    assert _in_process("collect", "--checkpoint-dir", checkpoint, "--out",
                       str(tmp_path / "collected")) == 0  # fmt: skip
    a = json.loads((tmp_path / "whole" / "results.json").read_text())
    b = json.loads((tmp_path / "collected" / "results.json").read_text())
    assert a["table"] == b["table"] and a["best"] == b["best"]
    for x, y in zip(a["runs"], b["runs"], strict=True):
        assert x.keys() == y.keys()
        np.testing.assert_allclose(list(x.values()), list(y.values()), rtol=1e-6, atol=1e-6)


SHARD_BAD = [
    (["--shard", "2/2", "--checkpoint-dir", "{tmp}/c"], r"--shard '2/2': expected K/N"),
    (["--shard", "0/0", "--checkpoint-dir", "{tmp}/c"], r"--shard '0/0': expected K/N"),
    (["--shard", "a/2", "--checkpoint-dir", "{tmp}/c"], r"--shard 'a/2': expected K/N"),
    (["--shard", "1"], r"--shard '1': expected K/N"),
    (["--shard", "0/2"], r"--shard needs --checkpoint-dir"),
    (["--coordinator", "127.0.0.1:1"], r"go with --distributed"),
    (["--distributed", "--num-processes", "2"], r"give all of --coordinator"),
    (["--validation-fraction", "0.8"], r"leave too few rows to train"),
    (["--validation-fraction", "1"], r"--validation-fraction 1.0: must be in \(0, 1\)"),
]


@pytest.mark.parametrize(("extra", "message"), SHARD_BAD, ids=[m[:24] for _, m in SHARD_BAD])
def test_sweep_cluster_bad_input_is_exit_2(tmp_path, capsys, extra, message):
    extra = [e.format(tmp=tmp_path) for e in extra]
    assert _in_process(*SMALL_SWEEP, *extra, "--out", str(tmp_path / "o")) == 2
    err = capsys.readouterr().err
    assert re.search(message, err), err
    assert not (tmp_path / "o").exists() and not (tmp_path / "c").exists()


def test_collect_refuses_an_incomplete_folder(tmp_path, capsys):
    checkpoint = str(tmp_path / "ckpt")
    shard = (*SMALL_SWEEP, "--chunk-size", "3", "--checkpoint-dir", checkpoint)
    assert _in_process(*shard, "--shard", "0/2", "--out", str(tmp_path / "u")) == 0
    capsys.readouterr()
    assert _in_process("collect", "--checkpoint-dir", checkpoint, "--out",
                       str(tmp_path / "o")) == 2  # fmt: skip
    assert re.search(r"is missing 1 of 3 chunks \(1\)", capsys.readouterr().err)
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_distributed_sweep_over_two_processes_reports_like_one(tmp_path):
    import os

    from .multidevice import free_port

    port = free_port()
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=1",
               JAX_PLATFORMS="cpu")  # fmt: skip
    command = [SCRIPT] if SCRIPT else [sys.executable, "-m", "jaxloss"]
    procs = [
        subprocess.Popen([*command, *SMALL_SWEEP, "--distributed", "--coordinator",
                          f"127.0.0.1:{port}", "--num-processes", "2", "--process-id", str(i),
                          "--out", str(tmp_path / f"out{i}")], env=env, cwd=tmp_path,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for i in range(2)
    ]  # fmt: skip
    try:
        outputs = [p.communicate(timeout=240) for p in procs]
    finally:
        for p in procs:
            p.kill()
    for p, (_, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err[-3000:]
    assert (tmp_path / "out0" / "results.json").exists() and not (tmp_path / "out1").exists()
    assert "2 device(s) in 2 process(es)" in outputs[0][0]
    assert "jaxloss sweep" not in outputs[1][0]  # (gloo may print its own connection line)
    single = jaxloss_cli(*SMALL_SWEEP, "--out", str(tmp_path / "single"))
    assert single.returncode == 0, single.stderr
    a = json.loads((tmp_path / "single" / "results.json").read_text())
    b = json.loads((tmp_path / "out0" / "results.json").read_text())
    assert a["table"] == b["table"] and a["best"] == b["best"]
