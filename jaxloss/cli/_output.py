"""Reports and the output folder: written whole at the end, never over earlier results."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import shutil
import sys
from collections.abc import Callable
from typing import Any

from .._io import atomic_write, staging_directory
from . import _interrupt
from ._args import UsageError


def environment() -> dict[str, str]:
    import jax
    import optax

    from .. import __version__

    device = jax.devices()[0]
    return {"jaxloss": __version__, "jax": jax.__version__, "optax": optax.__version__,
            "python": sys.version.split()[0], "platform": device.platform,
            "device": device.device_kind, "device_count": str(jax.device_count())}  # fmt: skip


def _fresh_run_folder(target: pathlib.Path) -> pathlib.Path:
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    candidate, suffix = target / f"run-{stamp}", 1
    while candidate.exists():
        candidate, suffix = target / f"run-{stamp}-{suffix}", suffix + 1
    return candidate


class Output:
    """Files are written into a hidden staging folder and moved into place at the end.

    The location is checked before any compute (a file in the way, a folder that cannot be
    created or written: exit 2). Results never replace others: if ``--out`` holds results
    (at the start, or when this run finishes after a concurrent one), they go to a fresh
    ``run-<time>`` folder inside it, and the report says so.
    """

    def __init__(self, out: str):
        self.out = pathlib.Path(out)
        if self.out.exists() and not self.out.is_dir():
            raise UsageError(f"--out {out}: exists and is not a directory")
        try:
            self.out.parent.mkdir(parents=True, exist_ok=True)
            probe = staging_directory(self.out.parent, "jaxloss-probe")
            probe.rmdir()
        except OSError as err:
            raise UsageError(f"--out {out}: cannot write there ({err.strerror or err})") from None
        self.note = ""
        self.target = self.out
        if self.out.exists() and any(self.out.iterdir()):
            self.target = _fresh_run_folder(self.out)
            self.note = f"{out} already holds results; writing to {self.target} instead"
        self.staging: pathlib.Path | None = None

    def __enter__(self) -> pathlib.Path:
        self.target.parent.mkdir(parents=True, exist_ok=True)
        self.staging = staging_directory(self.target.parent, "jaxloss")
        return self.staging

    def __exit__(self, kind, value, traceback) -> None:
        assert self.staging is not None, "Output is used as a context manager"
        if kind is not None:
            shutil.rmtree(self.staging, ignore_errors=True)
            return
        while True:
            try:
                # rename() replaces only an empty directory: a concurrent run that got here
                # first keeps its results, and this one takes a fresh folder beside them.
                os.rename(self.staging, self.target)
                return
            except OSError:
                if not self.target.is_dir():
                    raise
            self.target = _fresh_run_folder(self.out)
            self.note = f"{self.out} received other results meanwhile; writing to {self.target}"


def write_json(path: pathlib.Path, document: dict) -> None:
    atomic_write(path, (json.dumps(document, indent=2) + "\n").encode())


def have_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _report(lines: list[str], output: Output, document: dict) -> dict:
    """Prints the report, with where it was written and anything the reader must know."""
    lines = [*lines, "", f"results written to {output.target}"]
    if not have_matplotlib():
        lines.append('plots skipped: pip install "jaxloss[cli]" (matplotlib) to draw them')
    if output.note:
        lines.append(output.note)
    print("\n".join(lines))
    return document


def _loss_text(loss: str, loss_args: dict[str, Any]) -> str:
    return loss + "".join(f" {k}={v:g}" for k, v in loss_args.items())


def _label(metric: str) -> str:
    """How a report names a held-out metric."""
    return {"r2": "R²", "pearson": "Pearson ρ"}.get(metric, metric.upper())


def _format_metrics(name: str, m: dict[str, float]) -> str:
    return (f"{name:<26}{m['mse']:>12.4g}{m['rmse']:>10.4g}{m['mae']:>10.4g}{m['r2']:>8.3f}"
            f"{m['pearson']:>8.3f}{m['ccc']:>8.3f}")  # fmt: skip


def progress_reporter(
    args: argparse.Namespace, command: str, unit: str | None = None
) -> Callable[..., None]:
    """``report(done, total, loss=None)`` after each piece or chunk: one rewritten line on a
    terminal, one line per call otherwise (a log file), nothing with --quiet."""
    terminal = sys.stderr.isatty()

    def report(done: int, total: int, loss: float | None = None) -> None:
        if args.quiet:
            return
        counted = unit or ("steps" if command == "fit" else "runs")
        text = f"jaxloss {command}: {done}/{total} {counted}"
        if loss is not None:
            text += f", training loss {loss:.4g}"
        end = "\n" if not terminal or done >= total else ""
        print(("\r" if terminal else "") + text, end=end, file=sys.stderr, flush=True)

    return report


def stopping_reporter(args: argparse.Namespace, unit: str) -> Callable[[int, int], None]:
    """``progress(done, total)`` for a sweep's chunks, rungs or generations: a progress line,
    then a stop (``Interrupted``) if Ctrl-C was pressed."""
    report = progress_reporter(args, "sweep", unit)

    def progress(done: int, total: int) -> None:
        report(done, total)
        _interrupt.check()

    return progress
