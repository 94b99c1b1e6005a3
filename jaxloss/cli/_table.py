"""Reading the data table."""

from __future__ import annotations

import csv
import math
import pathlib
from collections.abc import Sequence

import numpy as np

from ._args import UsageError


def load_table(
    path: str | None, target: str | None, features: Sequence[str] | None
) -> tuple[np.ndarray, np.ndarray, list[str], str, str]:
    """Reads the features and target; every cell must be a finite number."""
    if path is None:
        from ..data import load_diabetes

        x, y, names = load_diabetes()
        if target not in (None, "progression"):
            raise UsageError(f"--target {target!r}: the bundled data's target is 'progression'")
        chosen = list(features) if features else names
        missing = [f for f in chosen if f not in names]
        if missing:
            raise UsageError(f"--features: no column {missing[0]!r} in the bundled data {names}")
        index = [names.index(f) for f in chosen]
        return x[:, index], y, chosen, "progression", "bundled diabetes data (442 patients)"

    file = pathlib.Path(path)
    if not file.is_file():
        raise UsageError(f"--data {path}: no such file")
    if target is None:
        raise UsageError("--target is required with --data (the column to predict)")
    with file.open(newline="") as f:
        rows = list(csv.reader(f))
    if len(rows) < 2:
        raise UsageError(f"--data {path}: needs a header row and at least one data row")
    header = [h.strip() for h in rows[0]]
    if target not in header:
        raise UsageError(f"--target {target!r}: no such column in {path} (columns: {header})")
    chosen = list(features) if features else [h for h in header if h != target]
    for name in chosen:
        if name not in header:
            raise UsageError(f"--features: no column {name!r} in {path} (columns: {header})")
    if target in chosen:
        raise UsageError(f"--features: the target {target!r} cannot also be a feature")
    columns = [*chosen, target]
    values = np.empty((len(rows) - 1, len(columns)), np.float64)
    for r, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise UsageError(f"{path}, line {r}: {len(row)} cells, the header has {len(header)}")
        for c, name in enumerate(columns):
            cell = row[header.index(name)].strip()
            try:
                value = float(cell)
            except ValueError:
                raise UsageError(
                    f"{path}, line {r}, column {name!r}: {cell!r} is not a number"
                ) from None
            if not math.isfinite(value):
                raise UsageError(f"{path}, line {r}, column {name!r}: {cell!r} is not finite")
            values[r - 2, c] = value
    if len(values) < 4:
        raise UsageError(f"--data {path}: {len(values)} rows are too few to split and train")
    return (values[:, :-1].astype(np.float32), values[:, -1].astype(np.float32), chosen,
            target, str(file))  # fmt: skip


def _file_hash(path: str | None) -> str:
    """SHA-256 of the data file's bytes (the bundled CSV without --data)."""
    import hashlib
    import importlib.resources

    digest = hashlib.sha256()
    if path is None:
        digest.update(
            importlib.resources.files("jaxloss.data").joinpath("diabetes.csv").read_bytes()
        )
        return digest.hexdigest()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
