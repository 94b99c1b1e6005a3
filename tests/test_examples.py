"""Smoke tests: each example runs as a script and its results make sense."""

import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

pytestmark = pytest.mark.slow  # subprocesses: the full tier, as in CI

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def _run_example(name, *args):
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "device: cpu" in result.stdout
    return result.stdout


def test_compare_losses_writes_a_png_plot(tmp_path):
    path = tmp_path / "fits.png"
    out = _run_example("compare_losses.py", "--steps", "600", "--n", "500", "--plot", str(path))
    errors = {}
    for line in out.splitlines():
        parts = re.split(r"\s{2,}", line.strip())
        if len(parts) >= 5 and re.fullmatch(r"[\d.]+", parts[1]):
            errors[parts[0]] = float(parts[1])
    for name in ("mae", "huber δ=1", "robust α=0 (Cauchy)", "robust adaptive (NLL)"):
        assert errors[name] < 0.5 * errors["mse"], name
    learned = float(re.search(r"learned α=([\d.]+)", out).group(1))
    # 5% gross outliers: the likelihood prefers heavy, Cauchy-like tails (α → 0), far below
    # the Gaussian's α = 2 (the plain loss would drive α down whatever the data)
    assert learned < 1.0
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000


def test_linear_gd_reaches_lstsq():
    out = _run_example("linear_gd_vs_lstsq.py", "--steps", "1000")
    gap = float(out.rsplit("=", 1)[1])
    assert gap < 1e-4


def test_diabetes_mlp_reports_held_out_metrics():
    out = _run_example("diabetes_mlp.py", "--steps", "400")
    assert "least squares (SVD)" in out and "R²" in out
    mlp_r2 = float(out.splitlines()[-2].split()[-1])
    assert 0.0 < mlp_r2 < 1.0


def test_custom_model_learns_the_noise_level():
    out = _run_example("custom_model.py", "--steps", "1500")
    rows = [line.split() for line in out.splitlines()[-5:]]
    true_std = [float(r[3]) for r in rows]
    predicted_std = [float(r[4]) for r in rows]
    np.testing.assert_allclose(predicted_std, true_std, rtol=0.5)
    assert predicted_std[0] > 2 * predicted_std[2]  # wider at |x| = 2.5 than at 0


def test_search_compares_random_search_halving_and_pbt():
    out = _run_example("search.py", "--steps", "90", "--trials", "9")
    rows = {}
    for line in out.splitlines():
        parts = re.split(r"\s{2,}", line.strip())
        if parts[0] in ("random search", "successive halving", "population-based"):
            rows[parts[0]] = [float(p.replace(",", "")) for p in parts[1:5]]
    assert set(rows) == {"random search", "successive halving", "population-based"}
    assert rows["successive halving"][1] < rows["random search"][1]  # fewer member-steps
    assert all(0 < r[2] < 2 and 0 < r[3] < 2 for r in rows.values())  # standardised MSEs
    assert "fidelity audit, Spearman rho" in out and "halving schedule" in out
