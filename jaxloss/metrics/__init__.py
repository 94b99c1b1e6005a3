"""Streaming regression metrics: mergeable accumulators that match scikit-learn on any split.

``Regression`` accumulates MSE, RMSE, MAE, R², explained variance, max error, bias, Pearson
and concordance correlation over batches, devices and hosts; ``Deviance`` the mean Tweedie
deviance and D²; ``LossMean`` the weighted mean of any jaxloss loss; ``Interval`` the
coverage, width and score of prediction intervals; ``ErrorQuantiles`` a mergeable sketch of
the absolute error's quantiles. ``bias_variance`` splits an ensemble's error.
"""

from ._deviance import Deviance as Deviance
from ._interval import Interval as Interval
from ._loss_mean import LossMean as LossMean
from ._regression import Regression as Regression
from ._regression import bias_variance as bias_variance
from ._sketch import ErrorQuantiles as ErrorQuantiles

__all__ = ["Deviance", "ErrorQuantiles", "Interval", "LossMean", "Regression", "bias_variance"]
