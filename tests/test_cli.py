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
        match = re.match(r"(.+?)\s{2,}([-\d.e+]+)\s+([-\d.e+]+)\s+([-\d.e+]+)\s+([-\d.]+)$", line)
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
        [model[k] for k in ("mse", "rmse", "mae", "r2")],
        rtol=1e-3,
        atol=5e-4,
    )
    np.testing.assert_allclose(
        printed["least squares (SVD)"],
        [baseline[k] for k in ("mse", "rmse", "mae", "r2")],
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
    # the best configuration is the lowest mean MSE over seeds in the written runs
    by_config = {}
    for run in document["runs"]:
        by_config.setdefault((run["learning_rate"], run["delta"]), []).append(run["mse"])
    best = min(by_config, key=lambda c: np.mean(by_config[c]))
    assert document["best"]["config"] == {"learning_rate": best[0], "delta": best[1]}
    assert f"best: learning_rate={best[0]:g}, delta={best[1]:g}" in result.stdout
    split = document["bias_variance_at_best"]
    np.testing.assert_allclose(
        split["mse"], split["bias_squared"] + split["variance"], rtol=1e-4, atol=1e-4
    )
    assert _png(out / "mse_over_grid.png") and _png(out / "predictions.png")


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
    (subdir,) = [p for p in out.iterdir() if p.is_dir()]
    assert json.loads((subdir / "results.json").read_text())["config"]["steps"] == 30


BAD = [
    (["fit", "--data", "missing.csv", "--target", "y"], r"--data missing.csv: no such file"),
    (["fit", "--data", "{csv}", "--target", "z"], r"--target 'z': no such column"),
    (["fit", "--data", "{csv}", "--target", "y", "--features", "q"], r"no column 'q'"),
    (["fit", "--data", "{text}", "--target", "y"], r"line 3, column 'a': 'oops' is not a number"),
    (["fit", "--data", "{nan}", "--target", "y"], r"line 2, column 'y': 'nan' is not finite"),
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
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".jaxloss-")]
