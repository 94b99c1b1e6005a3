"""Reports and the output folder: written whole at the end, never over earlier results."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import shutil
import sys
from typing import Any

from .._io import atomic_write, staging_directory
from ._args import UsageError


def environment() -> dict[str, str]:
    import jax
    import optax

    from .. import __version__

    device = jax.devices()[0]
    return {"jaxloss": __version__, "jax": jax.__version__, "optax": optax.__version__,
            "python": sys.version.split()[0], "platform": device.platform,
            "device": device.device_kind, "device_count": str(jax.device_count())}  # fmt: skip


class Output:
    """Files are written into a hidden staging folder and moved into place at the end."""

    def __init__(self, out: str):
        target = pathlib.Path(out)
        if target.exists() and not target.is_dir():
            raise UsageError(f"--out {out}: exists and is not a directory")
        self.note = ""
        if target.exists() and any(target.iterdir()):
            stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
            target = target / f"run-{stamp}"
            suffix = 1
            while target.exists():
                target = target.with_name(f"run-{stamp}-{suffix}")
                suffix += 1
            self.note = f"{out} already holds results; writing to {target} instead"
        self.target = target
        self.staging: pathlib.Path | None = None

    def __enter__(self) -> pathlib.Path:
        self.target.parent.mkdir(parents=True, exist_ok=True)
        self.staging = staging_directory(self.target.parent, "jaxloss")
        return self.staging

    def __exit__(self, kind, value, traceback) -> None:
        assert self.staging is not None, "Output is used as a context manager"
        if kind is None:
            if self.target.exists():  # an empty directory given as --out
                self.target.rmdir()
            os.replace(self.staging, self.target)
        else:
            shutil.rmtree(self.staging, ignore_errors=True)


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


def _progress(args: argparse.Namespace) -> bool:
    return not args.quiet and sys.stderr.isatty()
