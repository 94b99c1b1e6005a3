"""The command line as a process: Ctrl-C, output folders, exit codes."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from jaxloss import cli
from jaxloss.cli import _interrupt

from .test_cli import SCRIPT


def _start(*args):
    command = [SCRIPT] if SCRIPT else [sys.executable, "-m", "jaxloss"]
    return subprocess.Popen([*command, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.slow
@pytest.mark.parametrize("when", ["compiling", "training"])
def test_ctrl_c_exits_130_with_one_line_and_nothing_written(tmp_path, when):
    out = tmp_path / "out"
    process = _start("fit", "--model", "mlp", "--steps", "400000", "--out", str(out))
    if when == "training":  # the first progress line comes after the first compiled piece
        first = process.stderr.readline()
        assert "jaxloss fit:" in first and "steps" in first, first
    else:  # the description prints before training: the first piece is being compiled
        assert process.stdout.readline().startswith("jaxloss fit:")
    process.send_signal(signal.SIGINT)
    try:
        _, stderr = process.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        process.kill()
        raise
    assert process.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1] == (
        "jaxloss: stopped by Ctrl-C; no results were written"
    )
    assert "Traceback" not in stderr
    assert _leftovers(tmp_path) == []  # no output folder, no hidden staging folder


@pytest.mark.slow
def test_concurrent_runs_to_one_out_each_get_their_own_folder(tmp_path):
    out = tmp_path / "out"
    args = ("fit", "--steps", "300", "--quiet", "--out", str(out))
    first, second = _start(*args), _start(*args)
    results = [p.communicate(timeout=240) for p in (first, second)]
    assert first.returncode == second.returncode == 0, results
    folders = [p for p in [out, *out.glob("run-*")] if (p / "results.json").is_file()]
    assert len(folders) == 2
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no staging folder left


def test_an_unusable_out_is_refused_before_any_compute(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    for out, message in [(blocker, "exists and is not a directory"),
                         (blocker / "sub", "cannot write there")]:  # fmt: skip
        started = time.perf_counter()
        assert cli.main(["fit", "--steps", "100000", "--out", str(out)]) == 2
        assert time.perf_counter() - started < 10  # nothing trained
        error = capsys.readouterr().err
        assert message in error and len(error.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["fit", "--loss-arg", "delta=-1"], "--loss-arg: delta must be > 0"),
        (["fit", "--loss", "pinball", "--loss-arg", "quantile=2"],
         "--loss-arg: quantile must be in [0, 1]"),
        (["sweep", "--grid", "delta=0.5,-2"], "--grid delta=-2: delta must be > 0"),
        (["sweep", "--grid", "learning_rate=0,0.1"], "--grid learning_rate=0: must be > 0"),
        (["fit", "--learning-rate", "nan"], "--learning-rate nan: must be > 0 and finite"),
        (["sweep", "--grid", "learning_rate=nan"], "--grid learning_rate: 'nan' is not finite"),
    ],
)  # fmt: skip
def test_loss_arguments_and_grid_values_are_domain_checked_before_training(
    tmp_path, capsys, args, message
):
    assert cli.main([*args, "--steps", "100000", "--out", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err.strip()
    assert error == f"jaxloss: error: {message}" or message in error
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("scheduler", ["halving", "pbt", "none"])
def test_a_search_stops_at_the_first_boundary_after_ctrl_c(tmp_path, monkeypatch, capsys,
                                                           scheduler):  # fmt: skip
    # Ctrl-C, as the handler records it, seen at the first rung / generation / chunk end.
    checks = []

    def pressed():
        checks.append(1)
        raise _interrupt.Interrupted("interrupted")

    monkeypatch.setattr(_interrupt, "check", pressed)
    out = tmp_path / "out"
    args = ["sweep", "--search", "random", "--trials", "6", "--seeds", "1", "--steps", "27",
            "--space", "learning_rate=loguniform:1e-3:1e-1", "--scheduler", scheduler,
            "--quiet", "--out", str(out)]  # fmt: skip
    assert cli.main(args) == 130
    assert checks == [1]  # stopped at the first boundary, not at the end
    assert "stopped by Ctrl-C; no results were written" in capsys.readouterr().err
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == []
