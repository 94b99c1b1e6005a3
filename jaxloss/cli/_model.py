"""The saved model and ``jaxloss predict``.

A model folder holds two files, no pickle anywhere:

- ``model.json``: ``{"format": "jaxloss-model", "version": 1, ...}`` with the input columns
  and their encodings (numeric, or categorical with its categories), the missing-cell
  policy and fill values, the standardisation constants of features and target, the link
  (``identity``, ``exp`` for a Poisson log-rate, ``expm1`` for MSLE's log1p scale), the
  model (``linear`` or ``mlp`` and its widths), the loss it was trained with, and one entry
  per parameter array (its name in the ``.npz``, its path in the parameter tree, its shape).
- ``params.npz``: the parameter arrays (NumPy's zip of ``.npy`` files, read with
  ``allow_pickle=False``).

A prediction is ``link(model(standardise(encode(row))) [+ link_offset]) · y_std + y_mean``, in
target units.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import pathlib
import sys
import zipfile
from typing import Any

import numpy as np

from .._io import atomic_write
from ._args import UsageError
from ._problem import model_apply, model_init, target_units
from ._table import Column, read_new_rows

FORMAT, VERSION = "jaxloss-model", 1


def _param_entries(params: Any) -> tuple[list[dict[str, Any]], dict[str, np.ndarray]]:
    import jax

    entries, arrays = [], {}
    for i, (path, leaf) in enumerate(jax.tree_util.tree_flatten_with_path(params)[0]):
        name = f"p{i}"
        arrays[name] = np.asarray(leaf)
        entries.append({"name": name, "path": jax.tree_util.keystr(path),
                        "shape": list(arrays[name].shape)})  # fmt: skip
    return entries, arrays


def save(folder: pathlib.Path, problem: Any, params: Any) -> None:
    """Writes ``folder/model.json`` and ``folder/params.npz`` for ``problem``'s trained model."""
    import io

    from .. import __version__

    entries, arrays = _param_entries(params)
    args = problem.args
    document = {
        "format": FORMAT, "version": VERSION, "jaxloss": __version__,
        "target": problem.target,
        "columns": [c.describe() for c in problem.table.columns],
        "features": problem.names,
        "missing": getattr(args, "missing", "error"),
        "fill": None if problem.fill is None else [float(v) for v in problem.fill],
        "x_mean": [float(v) for v in problem.x_mean],
        "x_std": [float(v) for v in problem.x_std],
        "y_mean": float(problem.y_mean), "y_std": float(problem.y_std),
        "link": problem.link, "link_offset": problem.offset,
        "model": args.model, "hidden": list(args.hidden) if args.model == "mlp" else None,
        "loss": args.loss, "loss_args": problem.loss_args,
        "parameters": entries,
    }  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    # NumPy's .npz layout (a zip of .npy files), each array written with pickling refused.
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, array in arrays.items():
            with archive.open(f"{name}.npy", "w") as member:
                np.lib.format.write_array(member, array, allow_pickle=False)
    atomic_write(folder / "params.npz", buffer.getvalue())
    atomic_write(folder / "model.json", (json.dumps(document, indent=2) + "\n").encode())


@dataclasses.dataclass(frozen=True)
class SavedModel:
    document: dict[str, Any]
    params: Any

    @property
    def columns(self) -> tuple[Column, ...]:
        return tuple(Column.from_description(c) for c in self.document["columns"])

    def predict(self, x: np.ndarray) -> np.ndarray:
        import jax.numpy as jnp

        d = self.document
        apply = model_apply(d["model"])
        standard = (x - np.asarray(d["x_mean"], np.float32)) / np.asarray(d["x_std"], np.float32)

        out = apply(self.params, jnp.asarray(standard.astype(np.float32)))
        return np.asarray(target_units(out, d["link"], d["link_offset"], d["y_std"], d["y_mean"]))


def load(directory: str) -> SavedModel:
    """Reads a model folder written by :func:`save`, checking its format and every array."""
    import jax

    folder = pathlib.Path(directory)
    if (folder / "model" / "model.json").is_file():  # the output folder of `jaxloss fit`
        folder = folder / "model"
    try:
        document = json.loads((folder / "model.json").read_text())
    except FileNotFoundError:
        raise UsageError(f"--model {directory}: no model.json (a `jaxloss fit` output folder, "
                         "or its model/ subfolder)") from None  # fmt: skip
    except (ValueError, UnicodeDecodeError) as err:
        raise UsageError(f"--model {directory}: model.json is not valid JSON ({err})") from None
    if document.get("format") != FORMAT:
        raise UsageError(f"--model {directory}: model.json is not a jaxloss model")
    if document.get("version") != VERSION:
        raise UsageError(f"--model {directory}: model format version {document.get('version')}; "
                         f"this jaxloss reads version {VERSION}")  # fmt: skip
    features = len(document["features"])
    key = jax.random.key(0)
    template = model_init(document["model"], key, features, document["hidden"] or ())
    expected, _ = _param_entries(template)
    try:
        with np.load(folder / "params.npz", allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except (OSError, ValueError) as err:
        raise UsageError(f"--model {directory}: params.npz cannot be read ({err})") from None
    if [(e["path"], e["shape"]) for e in expected] != [
        (e["path"], e["shape"]) for e in document["parameters"]
    ] or any(list(arrays[e["name"]].shape) != e["shape"] for e in document["parameters"]):
        raise UsageError(f"--model {directory}: params.npz does not hold the parameters "
                         "model.json describes")  # fmt: skip
    leaves = [arrays[e["name"]] for e in document["parameters"]]
    params = jax.tree.unflatten(jax.tree.structure(template), leaves)
    return SavedModel(document, params)


def command_predict(args: argparse.Namespace) -> None:
    """``jaxloss predict --model DIR --data FILE [--out FILE.csv]``."""
    model = load(args.model)
    table = read_new_rows(args.data, model.columns)
    x = table.x
    missing = np.isnan(x)
    if missing.any():
        if model.document["fill"] is None:
            row = int(np.argmax(missing.any(axis=1)))
            column = model.document["features"][int(np.argmax(missing[row]))].split("=")[0]
            raise UsageError(f"{args.data}, row {row + 1}, column {column!r}: the cell is "
                             "missing, and the model was trained with --missing "
                             f"{model.document['missing']} (no fill values)")  # fmt: skip
        x = np.where(missing, np.asarray(model.document["fill"], np.float32), x)
    predictions = model.predict(x)
    name = f"{model.document['target']}_predicted"
    text = name + "\n" + "".join(f"{float(v)!r}\n" for v in predictions)
    if args.out is None:
        sys.stdout.write(text)
    else:
        out = pathlib.Path(args.out)
        if out.is_dir():
            raise UsageError(f"--out {args.out}: is a directory; give a file name")
        atomic_write(out, text.encode())
    notes = [f"{len(predictions)} predictions of {model.document['target']!r}"]
    if table.unknown_categories:
        notes.append(f"{table.unknown_categories} cells held a category the model never saw "
                     "(encoded as none of the known ones)")  # fmt: skip
    if missing.any():
        notes.append(f"{int(missing.any(axis=1).sum())} rows had missing cells, filled with "
                     "the training means")  # fmt: skip
    print("jaxloss predict: " + "; ".join(notes), file=sys.stderr)
