"""Streaming regression metrics: mergeable accumulators that match scikit-learn on any split.

``Regression`` accumulates MSE, RMSE, MAE, R², explained variance, max error, bias, Pearson
and concordance correlation and the total weight over batches, devices and hosts;
``Deviance`` the mean Tweedie deviance and D²; ``bias_variance`` splits an ensemble's error.
"""

from ._deviance import Deviance as Deviance
from ._regression import Regression as Regression
from ._regression import bias_variance as bias_variance

__all__ = ["Deviance", "Regression", "bias_variance"]
