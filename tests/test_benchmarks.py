"""The benchmark scripts run and write their reports (timings are not asserted here)."""

import json
import pathlib
import subprocess
import sys

BENCHMARKS = pathlib.Path(__file__).resolve().parent.parent / "benchmarks"


def _run(script, out, *args):
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *args, "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    stem = script.removeprefix("bench_").removesuffix(".py")
    (report,) = out.glob(f"{stem}-*.md")
    return json.loads(next(out.glob(f"{stem}-*.json")).read_text()), report.read_text()


def test_bench_losses_writes_markdown_and_json(tmp_path):
    data, report = _run("bench_losses.py", tmp_path, "--sizes", "8", "10", "--min-seconds", "0")
    assert "copy bandwidth" in report.lower()
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
    args = ("--samples", "20000", "--batch", "5000", "--min-seconds", "0")
    data, report = _run("bench_metrics.py", tmp_path, *args)
    assert {"jaxloss scan", "jaxloss loop", "jnp sums"} <= set(data["seconds"])
    # jaxloss is right on the offset targets, the naive single-pass sums are not
    for name in ("jaxloss scan", "jaxloss loop"):
        assert abs(data["values"][name]["r2"] - data["reference"]["r2"]) < 1e-4
    assert abs(data["values"]["jnp sums"]["r2"] - data["reference"]["r2"]) > 1e-2
    assert "samples/s" in report


def test_bench_train_reports_steps_per_second(tmp_path):
    data, report = _run("bench_train.py", tmp_path, "--steps", "20", "--repeats", "1")
    assert [row["model"] for row in data["rows"]] == ["linear", "mlp"]
    for row in data["rows"]:
        assert {"jaxloss step", "jaxloss fit"} <= set(row["seconds_per_step"])
    assert "steps/s" in report


def test_bench_sweep_reports_runs_per_second(tmp_path):
    args = ("--steps", "5", "--devices", "1", "--models", "linear")
    data, report = _run("bench_sweep.py", tmp_path, *args)
    for row in data["rows"]:
        assert {"sweep (vmapped)", "loop of jitted fit"} <= set(row["seconds"])
        assert row["max_abs_diff_vs_loop"] < 1e-4
        assert set(row["devices"]) == {"1"}
    assert "runs/s" in report
