"""Streaming regression metrics: mergeable accumulators that match scikit-learn on any split.

``Regression`` accumulates MSE, RMSE, MAE, R², explained variance, max error, bias and the
total weight over batches, devices and hosts; ``bias_variance`` splits an ensemble's error.
"""

from ._regression import Regression as Regression
from ._regression import bias_variance as bias_variance

__all__ = ["Regression", "bias_variance"]
