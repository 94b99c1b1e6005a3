"""The benchmark scripts run and write their reports (timings are not asserted here)."""

import json
import pathlib
import subprocess
import sys

BENCHMARKS = pathlib.Path(__file__).resolve().parent.parent / "benchmarks"


def test_bench_losses_writes_markdown_and_json(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            str(BENCHMARKS / "bench_losses.py"),
            "--sizes",
            "8",
            "10",
            "--min-seconds",
            "0",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    (report,) = tmp_path.glob("losses-*.md")
    data = json.loads(next(tmp_path.glob("losses-*.json")).read_text())
    assert "copy bandwidth" in report.read_text().lower()
    kinds = {(r["kind"], r["loss"], r["log2n"]) for r in data["rows"]}
    assert kinds == {
        (k, loss, n)
        for k in ("value_and_grad", "donated_step")
        for loss in ("mse", "huber")
        for n in (8, 10)
    }
    for row in data["rows"]:
        assert {"jaxloss", "optax", "jnp"} <= set(row["seconds"])
        assert all(s > 0 for s in row["seconds"].values())


def test_bench_metrics_reports_throughput_and_accuracy(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            str(BENCHMARKS / "bench_metrics.py"),
            "--samples",
            "20000",
            "--batch",
            "5000",
            "--min-seconds",
            "0",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(next(tmp_path.glob("metrics-*.json")).read_text())
    assert {"jaxloss scan", "jaxloss loop", "jnp sums"} <= set(data["seconds"])
    # jaxloss is right on the offset targets, the naive single-pass sums are not
    for name in ("jaxloss scan", "jaxloss loop"):
        assert abs(data["values"][name]["r2"] - data["reference"]["r2"]) < 1e-4
    assert abs(data["values"]["jnp sums"]["r2"] - data["reference"]["r2"]) > 1e-2
    assert "samples/s" in next(tmp_path.glob("metrics-*.md")).read_text()
