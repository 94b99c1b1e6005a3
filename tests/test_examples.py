"""Smoke tests: each example runs as a script and its results make sense."""

import pathlib
import runpy
import subprocess
import sys

import jax
import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture(scope="module")
def compare_losses():
    return runpy.run_path(str(EXAMPLES / "compare_losses.py"), run_name="example")


def test_compare_losses_robust_losses_beat_mse_under_outliers(compare_losses, capsys):
    # optax's adam mixes an int32 step count with floats, which strict promotion refuses.
    with jax.numpy_dtype_promotion("standard"):
        rows = compare_losses["main"](["--steps", "600", "--n", "500"])
    rows = {r["loss"]: r for r in rows}
    out = capsys.readouterr().out
    assert "device: cpu" in out and "robust adaptive" in out
    for name in ("mae", "huber δ=1", "robust α=0 (Cauchy)", "robust adaptive"):
        assert rows[name]["param_error"] < 0.5 * rows["mse"]["param_error"], name


def test_compare_losses_runs_as_a_script():
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "compare_losses.py"), "--steps", "50", "--n", "200"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "test RMSE" in result.stdout
