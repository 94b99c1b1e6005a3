"""The benchmarks run end to end (``run_all.py --quick``); their timings are not asserted."""

import json
import pathlib
import subprocess
import sys

import pytest

# Subprocesses: the full tier, as in CI; one worker runs the module, so the quick
# benchmarks (the `results` fixture) run once.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("benchmarks")]

BENCHMARKS = pathlib.Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / "run_all.py"), "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return out


def _load(out, stem):
    (data,) = out.glob(f"{stem}-*.json")
    (report,) = out.glob(f"{stem}-*.md")
    return json.loads(data.read_text()), report.read_text()


def test_one_report_holds_every_benchmark(results):
    (report,) = results.glob("REPORT-*.md")
    text = report.read_text()
    for section in ("Loss value-and-gradient", "Streaming metrics", "Training-step", "Sweep",
                    "Search", "Reading a table"):  # fmt: skip
        assert f"## {section}" in text


def test_bench_losses(results):
    data, report = _load(results, "losses")
    assert "copy bandwidth" in report.lower()
    kinds = {(r["kind"], r["loss"]) for r in data["rows"]}
    assert kinds == {
        (k, loss) for k in ("value_and_grad", "donated_step") for loss in ("mse", "huber")
    }
    for row in data["rows"]:
        assert {"jaxloss", "optax", "jnp"} <= set(row["seconds"])
        assert all(s > 0 for s in row["seconds"].values())
    probabilistic = {row["loss"]: row for row in data["probabilistic"]}
    assert probabilistic["crps_ensemble"]["max_abs_diff"] < 1e-5
    assert set(probabilistic["crps_normal"]["seconds"]) == {"jaxloss", "textbook jnp"}
    assert "Probabilistic losses" in report


def test_bench_metrics_reports_throughput_and_accuracy(results):
    data, report = _load(results, "metrics")
    assert {"jaxloss scan", "jaxloss loop", "jnp sums"} <= set(data["seconds"])
    # jaxloss is right on the offset targets, the naive single-pass sums are not
    for name in ("jaxloss scan", "jaxloss loop"):
        assert abs(data["values"][name]["r2"] - data["reference"]["r2"]) < 1e-4
    assert abs(data["values"]["jnp sums"]["r2"] - data["reference"]["r2"]) > 1e-2
    assert "samples/s" in report
    beyond = data["beyond_mse"]
    for row, key in (("pearson", "pearson"), ("ccc", "ccc"), ("tweedie deviance (p = 1.5)",
                                                              "deviance")):  # fmt: skip
        got = beyond["values"][f"{row}: jaxloss"][key]
        assert abs(got - beyond["reference"][key]) < 1e-5 * abs(beyond["reference"][key])
    median = beyond["values"]["median absolute error: jaxloss"]["median"]
    assert abs(median - beyond["reference"]["median"]) <= 0.01 * beyond["reference"]["median"]
    assert beyond["sketch"]["buckets"] > 0 and "Beyond MSE" in report


def test_bench_load(results):
    data, report = _load(results, "load")
    readers = data["readers"]
    assert set(readers) == {"jaxloss (pyarrow)", "numpy.loadtxt"}
    assert all(r["rows"] == data["rows"] == 2000 and r["seconds"] > 0 for r in readers.values())
    assert "× file size" in report


def test_bench_train(results):
    data, report = _load(results, "train")
    assert [row["model"] for row in data["rows"]] == ["linear", "mlp"]
    for row in data["rows"]:
        assert {"jaxloss step", "jaxloss fit"} <= set(row["seconds_per_step"])
    assert "steps/s" in report


def test_bench_sweep(results):
    data, report = _load(results, "sweep")
    for row in data["rows"]:
        assert {"sweep (vmapped)", "loop of jitted fit"} <= set(row["seconds"])
        assert row["max_abs_diff_vs_loop"] < 1e-4
        assert set(row["devices"]) == {"1"}
        # processes pinned with taskset over loopback (None where taskset or cores lack)
        assert set(row["processes"]) == {"1", "2"}
        assert all(s is None or s > 0 for s in row["processes"].values())
    assert "runs/s" in report and "Processes over loopback" in report


def test_bench_search(results):
    data, report = _load(results, "search")
    rows = data["rows"]
    assert {"grid", "random", "halving", "pbt"} <= set(rows)
    assert rows["grid"]["member_steps"] == 81 * 27
    assert rows["halving"]["schedule"] == [[81, 1], [27, 3], [9, 9], [3, 27]]
    assert rows["halving"]["member_steps"] < rows["grid"]["member_steps"]
    assert all(r["best_mse"] > 0 and r["seconds"] > 0 for r in rows.values())
    assert "Fidelity audit" in report
    try:
        import optuna  # noqa: F401
    except ImportError:
        return
    assert rows["optuna"]["member_steps"] > 0 and "Optuna" in report
