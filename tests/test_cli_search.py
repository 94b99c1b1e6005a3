"""`jaxloss sweep --search random|sobol --scheduler none|halving|pbt`: the reports agree with
what was written, the schedule is the library's, bad input is exit 2 before any compute."""

from __future__ import annotations

import csv
import json
import re

import jax
import numpy as np
import pytest

from jaxloss import cli, sweep
from jaxloss.cli import _model

SPACE_ARGS = ("--space", "learning_rate=loguniform:1e-3:0.5", "--space", "delta=uniform:0.2:3")


def _in_process(*args):
    with jax.numpy_dtype_promotion("standard"):
        return cli.main(list(args))


def test_random_search_ranks_sampled_configurations_averaged_over_seeds(tmp_path, capsys):
    out = tmp_path / "random"
    assert _in_process("sweep", "--search", "random", "--trials", "5", "--seeds", "2",
                       *SPACE_ARGS, "--steps", "60", "--quiet", "--out", str(out)) == 0  # fmt: skip
    stdout = capsys.readouterr().out
    assert "10 runs (5 random samples of learning_rate, delta × 2 seeds)" in stdout
    document = json.loads((out / "results.json").read_text())
    assert document["grid"]["kind"] == "random" and document["grid"]["seed"] == 0
    expected = sweep.Random(5, [0, 1], sample_seed=0, learning_rate=sweep.LogUniform(1e-3, 0.5),
                            delta=sweep.Uniform(0.2, 3.0))  # fmt: skip
    assert document["grid"] == expected.describe()
    runs = document["runs"]
    assert len(runs) == 10
    means = {}
    for run in runs:
        means.setdefault((run["learning_rate"], run["delta"]), []).append(run["validation_mse"])
    best = min(means, key=lambda k: np.mean(means[k]))
    assert (
        document["best"]["config"]["learning_rate"],
        document["best"]["config"]["delta"],
    ) == best
    assert (out / "validation_mse_over_grid.png").stat().st_size > 1000


def test_halving_reports_the_librarys_schedule_and_its_audit(tmp_path, capsys):
    out, folder = tmp_path / "halving", tmp_path / "ckpt"
    args = ("sweep", "--search", "sobol", "--trials", "9", "--seeds", "1", *SPACE_ARGS,
            "--steps", "90", "--scheduler", "halving", "--quiet",
            "--checkpoint-dir", str(folder))  # fmt: skip
    assert _in_process(*args, "--out", str(out)) == 0
    stdout = capsys.readouterr().out
    document = json.loads((out / "results.json").read_text())
    assert document["schedule"] == [list(r) for r in sweep.schedule(9, 10, 90, 3)]
    assert "rungs: 9 runs to 10 → 3 runs to 30 → 1 runs to 90 steps" in stdout
    assert len(document["audit"]) == 3 and "fidelity audit: 8 runs" in stdout
    record = json.loads((out / "halving.json").read_text())
    (last,) = [r for r in record["rungs"][-1]["runs"] if r["index"] == document["best"]["index"]]
    assert document["best"]["score"] == pytest.approx(last["validation_mse"], rel=1e-6)
    assert document["test_at_best"]["mse"] == pytest.approx(last["test_mse"], rel=1e-6)
    assert _model.load(str(out)).document["model"] == "linear"  # the chosen run, saved
    trained = [len(r["runs"]) for r in record["rungs"]]  # survivors and the audited runs
    assert trained[0] == 9 and all(8 <= n <= 9 for n in trained[1:])
    assert document["member_steps"] == trained[0] * 10 + trained[1] * 20 + trained[2] * 60
    rows = list(csv.DictReader((out / "results.csv").read_text().splitlines()))
    assert len(rows) == 9 and int(rows[0]["index"]) == document["best"]["index"]
    assert [int(r["steps"]) for r in rows] == [90] + [30] * 2 + [10] * 6
    # A rerun of the same configuration loads every rung; collect is for shards only.
    assert _in_process(*args, "--out", str(tmp_path / "again")) == 0
    assert "resumed: 3 rung(s) loaded" in capsys.readouterr().out
    assert (
        _in_process("collect", "--checkpoint-dir", str(folder), "--out", str(tmp_path / "c")) == 2
    )
    assert "holds a --scheduler halving search" in capsys.readouterr().err


def test_pbt_reports_the_chosen_members_schedule(tmp_path, capsys):
    out = tmp_path / "pbt"
    assert _in_process("sweep", "--search", "random", "--trials", "4", "--seeds", "2",
                       *SPACE_ARGS, "--steps", "60", "--scheduler", "pbt", "--interval", "20",
                       "--quiet", "--out", str(out)) == 0  # fmt: skip
    stdout = capsys.readouterr().out
    assert "population-based training, 3 generations of 20 steps" in stdout
    document = json.loads((out / "results.json").read_text())
    record = json.loads((out / "pbt.json").read_text())
    member = document["best"]["member"]
    assert (out / "model" / "params.npz").is_file()
    assert len(record["generations"]) == 3 and len(document["best_lineage"]) == 3
    final = record["generations"][-1]["scores"]
    assert document["best"]["score"] == pytest.approx(min(final["validation_mse"]), rel=1e-6)
    assert document["test_at_best"]["mse"] == pytest.approx(final["test_mse"][member], rel=1e-6)
    assert (out / "validation_mse_over_generations.png").stat().st_size > 1000
    rows = list(csv.DictReader((out / "results.csv").read_text().splitlines()))
    assert len(rows) == 8 and int(rows[0]["member"]) == member
    assert float(rows[0]["test_mse"]) == pytest.approx(final["test_mse"][member], rel=1e-6)


BAD = [
    (["--search", "random", "--space", "delta=loguniform:0:1"],
     r"--space 'delta=loguniform:0:1': low must be > 0 \(a log axis\)"),
    (["--search", "random", "--space", "delta=uniform:3:1"], r"low must be < high"),
    (["--search", "random", "--space", "learning_rate=uniform:0:1"],
     r"a learning rate must be > 0"),
    (["--search", "random", "--space", "delta=beta:1:2"], r"expected NAME=KIND:\.\.\."),
    (["--search", "random", "--space", "momentum=uniform:0:1"], r"the axes are \['learning_rate'"),
    (["--search", "random", "--trials", "0", *SPACE_ARGS], r"--trials 0: must be >= 1"),
    (["--search", "sobol"], r"--search sobol samples from --space"),
    (["--space", "delta=uniform:0.1:1"], r"--space draws samples: use it with --search random"),
    (["--scheduler", "halving", "--eta", "1.5"], r"--eta 1.5: must be >= 2"),
    (["--scheduler", "halving", "--min-steps", "2000"], r"--min-steps 2000: the first rung"),
    (["--scheduler", "halving", "--audit", "99"], r"--audit 99: must be in \[0, 36\]"),
    (["--scheduler", "pbt"], r"--scheduler pbt resamples hyperparameters from distributions"),
    (["--search", "random", *SPACE_ARGS, "--scheduler", "pbt", "--fraction", "0.6"],
     r"--fraction 0.6: must be in \(0, 0.5\]"),
    (["--search", "random", *SPACE_ARGS, "--scheduler", "pbt", "--interval", "0"],
     r"--interval 0: must be in \[1, --steps 1000\]"),
    (["--min-steps", "5"], r"--min-steps goes with --scheduler halving"),
    (["--scheduler", "halving", "--interval", "5"], r"--interval goes with --scheduler pbt"),
    (["--scheduler", "halving", "--shard", "0/2", "--checkpoint-dir", "{tmp}/c"],
     r"--shard: --scheduler halving needs every run's scores between stages"),
    (["--search", "random", "--space", "delta=uniform:0.2:3", "--metric", "loss"],
     r"--metric loss: the grid sweeps delta"),
]  # fmt: skip


@pytest.mark.parametrize(("args", "message"), BAD, ids=[m[:36] for _, m in BAD])
def test_bad_search_input_is_one_line_exit_2_before_any_compute(tmp_path, capsys, args, message):
    out = tmp_path / "out"
    args = [a.format(tmp=tmp_path) for a in args]
    assert _in_process("sweep", *args, "--quiet", "--out", str(out)) == 2
    stderr = capsys.readouterr().err
    assert re.search(message, stderr), stderr
    assert len(stderr.strip().splitlines()) == 1
    assert not out.exists() and not (tmp_path / "c").exists()
