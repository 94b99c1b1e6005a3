"""Reading the data table: CSV or Parquet through pyarrow, columns encoded as numbers.

pyarrow (the ``cli`` extra) reads a CSV file with its multi-threaded C++ parser straight into
typed columns (a 1,000,000 × 21 numeric file in well under the 2 s the hand-written loop
took 10 s for) and reads Parquet natively; it skips a UTF-8 byte-order mark and blank lines.
What it accepts that would silently mislead a fit is refused here: duplicate column names,
text that is not UTF-8, values a float32 cannot hold, and (by default) missing cells.

A feature column of text is *categorical*: it becomes one 0/1 column per category (sorted),
named ``column=category``, up to ``max_categories``. The encoding is part of the saved
model, so ``jaxloss predict`` encodes new rows the same way; a category it never saw gets
all zeros (the effect of "none of the known categories"), and is counted in its report.
"""

from __future__ import annotations

import dataclasses
import pathlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from ._args import UsageError

MISSING = ("error", "drop-rows", "mean")
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_PARQUET = (".parquet", ".pq")


@dataclasses.dataclass(frozen=True)
class Column:
    """One input column and how it becomes model features."""

    name: str
    kind: str  # "numeric" or "categorical"
    categories: tuple[str, ...] = ()

    def encoded_names(self) -> list[str]:
        if self.kind == "numeric":
            return [self.name]
        return [f"{self.name}={c}" for c in self.categories]

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "categories": list(self.categories)}

    @classmethod
    def from_description(cls, d: dict[str, Any]) -> Column:
        return cls(str(d["name"]), str(d["kind"]), tuple(str(c) for c in d["categories"]))


@dataclasses.dataclass(frozen=True)
class Table:
    """Encoded features (NaN where a cell was missing), targets and what produced them."""

    x: np.ndarray
    y: np.ndarray | None
    columns: tuple[Column, ...]
    target: str
    source: str
    dropped_rows: int = 0
    unknown_categories: int = 0

    @property
    def names(self) -> list[str]:
        return [n for c in self.columns for n in c.encoded_names()]


def _read_arrow(path: str) -> Any:
    """The file as a pyarrow Table, or a one-line UsageError naming the file and row."""
    try:
        import pyarrow as pa
        import pyarrow.csv as pcsv
        import pyarrow.parquet as pq
    except ImportError:
        raise UsageError(
            f'--data {path}: reading files needs pyarrow: pip install "jaxloss[cli]"'
        ) from None
    file = pathlib.Path(path)
    if not file.is_file():
        raise UsageError(f"--data {path}: no such file")
    bad_rows: list[Any] = []

    def record(row: Any) -> str:
        bad_rows.append(row)
        return "error"

    try:
        if file.suffix.lower() in _PARQUET:
            return pq.read_table(file)
        parse = pcsv.ParseOptions(invalid_row_handler=record)
        # The types inferred from the first block, numbers widened to float64, given to the
        # full read: inferring them over the whole file held ~3.5× the table in parsing
        # buffers (558 MB for a 160 MB table), explicit types 1.5× (242 MB).
        with pcsv.open_csv(file, parse_options=parse) as first_block:
            schema = first_block.schema
        types = {f.name: pa.float64() if pa.types.is_integer(f.type) or pa.types.is_floating(
            f.type) else f.type for f in schema if not pa.types.is_null(f.type)}  # fmt: skip
        convert = pcsv.ConvertOptions(column_types=types)
        return pcsv.read_csv(file, parse_options=parse, convert_options=convert)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as err:
        if bad_rows:
            row = bad_rows[0]
            line = row.number if row.number is not None else _ragged_line(file)
            raise UsageError(
                f"{path}, line {line}: {row.actual_columns} cells, the header has "
                f"{row.expected_columns}"
            ) from None
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise UsageError(f"--data {path}: cannot be read as "
                         f"{'Parquet' if file.suffix.lower() in _PARQUET else 'CSV'}: "
                         f"{message}") from None  # fmt: skip


def _named_columns(path: str) -> Any:
    """The file's table with header names stripped of surrounding spaces ("price, area" is a
    common hand-written CSV), refused if two columns share a name."""
    arrow = _read_arrow(path)
    arrow = arrow.rename_columns([str(n).strip() for n in arrow.column_names])
    header = list(arrow.column_names)
    duplicates = sorted({h for h in header if header.count(h) > 1})
    if duplicates:
        raise UsageError(
            f"{path}: the header names {', '.join(repr(d) for d in duplicates)} more than "
            "once; every column needs its own name"
        )
    return arrow


def _numeric_text(column: Any) -> Any | None:
    """A text column whose every cell is a number (" 1.5", spaces around it): as float64."""
    import pyarrow as pa
    import pyarrow.compute as pc

    text = _strings(column)
    numbers = pc.match_substring_regex(text, _NUMBER)
    if not pc.all(pc.or_kleene(numbers, text.is_null())).as_py():
        return None
    return pc.utf8_trim_whitespace(text).cast(pa.float64())


def _ragged_line(file: pathlib.Path) -> int | str:
    """The first line whose cell count differs from the header's (pyarrow's parallel reader
    does not number rows): read again, on the error path only."""
    import csv

    with file.open(newline="", encoding="utf-8-sig", errors="replace") as f:
        reader = csv.reader(f)
        width = len(next(reader, []))
        for row in reader:
            if row and len(row) != width:
                return reader.line_num
    return "?"


def _kind(path: str, name: str, column: Any) -> str:
    import pyarrow as pa

    t = column.type
    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "numeric"
    if pa.types.is_boolean(t) or pa.types.is_null(t):
        return "numeric"
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "categorical"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        raise UsageError(
            f"{path}, column {name!r}: holds bytes that are not UTF-8 text; save the file "
            "as UTF-8 (or --drop the column)"
        )
    raise UsageError(
        f"{path}, column {name!r}: values of type {t} are not supported; convert them to "
        f"numbers or --drop {name}"
    )


def _numbers(path: str, name: str, column: Any) -> np.ndarray:
    """float64 values with NaN for missing cells; non-finite or float32-overflowing values
    are refused with their row."""
    import pyarrow as pa

    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    values = np.asarray(column.cast(pa.float64()).to_numpy(zero_copy_only=False), np.float64)
    bad = np.isinf(values) | (np.abs(np.nan_to_num(values)) > _FLOAT32_MAX)
    if bad.any():
        row = int(np.argmax(bad))
        raise UsageError(
            f"{path}, row {row + 1}, column {name!r}: {values[row]:g} is outside float32's "
            f"finite range (±{_FLOAT32_MAX:.3g}); rescale the column"
        )
    return values


def _strings(column: Any) -> Any:
    """The column as text without surrounding spaces (" x" and "x" are one category)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    return pc.utf8_trim_whitespace(column.cast(pa.string()))


def _categories(column: Any) -> list[str]:
    import pyarrow.compute as pc

    return sorted(v for v in pc.unique(_strings(column)).to_pylist() if v is not None)


def _one_hot(column: Any, categories: Sequence[str]) -> tuple[np.ndarray, int]:
    """0/1 columns per category, NaN rows for missing cells, zeros for unknown ones."""
    import pyarrow as pa
    import pyarrow.compute as pc

    text = _strings(column)
    index = pc.index_in(text, value_set=pa.array(list(categories), pa.string()))
    position = np.asarray(index.to_numpy(zero_copy_only=False), np.float64)  # NaN: no match
    absent = np.asarray(text.is_null().to_numpy(zero_copy_only=False), bool)
    out = np.zeros((len(position), len(categories)), np.float32)
    known = ~np.isnan(position)
    out[np.flatnonzero(known), position[known].astype(np.int64)] = 1.0
    out[absent] = np.nan
    return out, int((~known & ~absent).sum())


_NUMBER = r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$"


def _refuse_stray_text(path: str, name: str, column: Any) -> None:
    """A column of numbers with a few cells of text is a typo, not a category per number."""
    import pyarrow.compute as pc

    text = _strings(column)
    present = np.asarray(text.is_valid().to_numpy(zero_copy_only=False), bool)
    looks_numeric = pc.match_substring_regex(text, _NUMBER).fill_null(False)
    numbers = np.asarray(looks_numeric.to_numpy(zero_copy_only=False), bool)
    if numbers.sum() >= max(1, 0.5 * present.sum()) and (present & ~numbers).any():
        row = int(np.argmax(present & ~numbers))
        raise UsageError(
            f"{path}, row {row + 1}, column {name!r}: {text[row].as_py()!r} is not a number "
            f"(most of the column's cells are); fix the cell, or --drop {name}"
        )


def _encode(path: str, columns: Sequence[Column], sources: Sequence[Any]) -> tuple[np.ndarray, int]:
    """The features as one float32 matrix, filled column by column (no float64 copy of the
    whole table), NaN where a cell is missing; and the count of unknown categories."""
    n = len(sources[0]) if sources else 0
    x = np.empty((n, sum(len(c.encoded_names()) for c in columns)), np.float32)
    start, unknown = 0, 0
    for spec, column in zip(columns, sources, strict=True):
        if spec.kind == "numeric":
            x[:, start] = _numbers(path, spec.name, column)
            start += 1
            continue
        encoded, count = _one_hot(column, spec.categories)
        x[:, start : start + encoded.shape[1]] = encoded
        start, unknown = start + encoded.shape[1], unknown + count
    return x, unknown


def _first_missing(path: str, names: Sequence[str], missing: np.ndarray, what: str) -> UsageError:
    row = int(np.argmax(missing.any(axis=1)))
    column = names[int(np.argmax(missing[row]))]
    return UsageError(
        f"{path}, row {row + 1}, column {column!r}: the cell is missing ({what}); use "
        "--missing drop-rows or --missing mean, or fill it in"
    )


def read_table(
    path: str,
    target: str | None,
    features: Sequence[str] | None,
    *,
    drop: Sequence[str] = (),
    missing: str = "error",
    max_categories: int = 50,
) -> Table:
    """Reads a training table: the target and the (encoded) features."""
    if target is None:
        raise UsageError("--target is required with --data (the column to predict)")
    arrow = _named_columns(path)
    header = list(arrow.column_names)
    if arrow.num_rows == 0:
        raise UsageError(f"--data {path}: needs a header row and at least one data row")
    if target not in header:
        raise UsageError(f"--target {target!r}: no such column in {path} (columns: {header})")
    for name in drop:
        if name not in header:
            raise UsageError(f"--drop {name!r}: no such column in {path} (columns: {header})")
        if name == target:
            raise UsageError(f"--drop {name!r}: that is the target")
    chosen = list(features) if features else [h for h in header if h not in (target, *drop)]
    for name in chosen:
        if name not in header:
            raise UsageError(f"--features: no column {name!r} in {path} (columns: {header})")
    if target in chosen:
        raise UsageError(f"--features: the target {target!r} cannot also be a feature")
    if not chosen:
        raise UsageError(f"{path}: no feature columns are left besides the target")

    target_column = arrow.column(target)
    if _kind(path, target, target_column) != "numeric":
        raise UsageError(f"--target {target!r}: the column holds text; the target must be numeric")
    y = _numbers(path, target, target_column)
    columns, sources = [], []
    for name in chosen:
        column = arrow.column(name)
        kind = _kind(path, name, column)
        if kind == "categorical" and (as_numbers := _numeric_text(column)) is not None:
            column, kind = as_numbers, "numeric"
        if kind == "numeric":
            columns.append(Column(name, "numeric"))
            sources.append(column)
            continue
        _refuse_stray_text(path, name, column)
        categories = _categories(column)
        if len(categories) > max_categories:
            raise UsageError(
                f"{path}, column {name!r}: {len(categories)} distinct text values, more than "
                f"--max-categories {max_categories}; --drop {name}, or raise the cap if each "
                "value deserves its own weight"
            )
        columns.append(Column(name, "categorical", tuple(categories)))
        sources.append(column)
    x, _ = _encode(path, columns, sources)
    cells = np.isnan(x)
    names = [c.name for c in columns for _ in c.encoded_names()]
    if missing == "error":
        if np.isnan(y).any():
            raise _first_missing(path, [target], np.isnan(y)[:, None], "the target")
        if cells.any():
            raise _first_missing(path, names, cells, "a feature")
    keep = ~np.isnan(y)
    if missing == "drop-rows":
        keep &= ~cells.any(axis=1)
    if keep.sum() < 4:
        raise UsageError(f"--data {path}: {int(keep.sum())} usable rows are too few to split "
                         "and train")  # fmt: skip
    if not keep.all():
        x, y = x[keep], y[keep]
    return Table(x, y.astype(np.float32), tuple(columns), target, str(path),
                 dropped_rows=int((~keep).sum()))  # fmt: skip


def read_new_rows(path: str, columns: Sequence[Column]) -> Table:
    """Rows to predict, encoded as the model's training table was: the same columns by name
    (others are ignored, in any order), the same categories."""
    arrow = _named_columns(path)
    header = list(arrow.column_names)
    absent = [c.name for c in columns if c.name not in header]
    if absent:
        raise UsageError(f"--data {path}: the model needs column(s) {absent}, which the file "
                         f"lacks (columns: {header})")  # fmt: skip
    sources = []
    for spec in columns:
        column = arrow.column(spec.name)
        kind = _kind(path, spec.name, column)
        if spec.kind == "numeric" and kind == "categorical":
            as_numbers = _numeric_text(column)
            column, kind = (column, kind) if as_numbers is None else (as_numbers, "numeric")
        if spec.kind == "numeric" and kind != "numeric":
            raise UsageError(f"{path}, column {spec.name!r}: holds text; the model was "
                             "trained on numbers there")  # fmt: skip
        sources.append(column)
    x, unknown = _encode(path, columns, sources)
    return Table(x, None, tuple(columns), "", str(path), unknown_categories=unknown)


def bundled_table(target: str | None, features: Sequence[str] | None) -> Table:
    from ..data import load_diabetes

    x, y, names = load_diabetes()
    if target not in (None, "progression"):
        raise UsageError(f"--target {target!r}: the bundled data's target is 'progression'")
    chosen = list(features) if features else names
    missing = [f for f in chosen if f not in names]
    if missing:
        raise UsageError(f"--features: no column {missing[0]!r} in the bundled data {names}")
    index = [names.index(f) for f in chosen]
    return Table(x[:, index], y, tuple(Column(n, "numeric") for n in chosen), "progression",
                 "bundled diabetes data (442 patients)")  # fmt: skip


def file_hash(path: str | None) -> str:
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
