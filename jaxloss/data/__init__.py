"""Datasets bundled with jaxloss, loaded without any download."""

from __future__ import annotations

import csv
import importlib.resources

import numpy as np


def load_diabetes() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The diabetes regression data (Efron et al., 2004), bundled as a CSV file.

    442 patients; 10 features (age, sex, bmi, bp and six serum measurements, in original
    units) and the target, disease progression one year later (25 to 346). Source and
    licence: ``jaxloss/data/SOURCE.md``.

    Returns:
      ``(x, y, feature_names)``: ``x`` float32 of shape ``(442, 10)``, ``y`` float32 of
      shape ``(442,)``, and the 10 column names.

    Example:
      >>> from jaxloss.data import load_diabetes
      >>> x, y, names = load_diabetes()
      >>> x.shape, y.shape, names[:3]
      ((442, 10), (442,), ['age', 'sex', 'bmi'])
    """
    text = importlib.resources.files(__package__).joinpath("diabetes.csv").read_text()
    rows = list(csv.reader(text.splitlines()))
    header, values = rows[0], np.asarray(rows[1:], np.float32)
    return values[:, :-1], values[:, -1], header[:-1]


__all__ = ["load_diabetes"]
