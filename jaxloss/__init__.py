"""jaxloss: regression losses for JAX, with one contract for reduction, weights, masks and axes.

Every loss is a pure function ``loss(predictions, targets, *, <hyperparameters>, weights=None,
where=None, axis=None, reduction="mean")`` that composes with ``jax.jit``, ``jax.grad``,
``jax.vmap`` and sharding. See the README for the contract and the formulas.
"""

import importlib.metadata as _metadata

from . import _losses
from . import baselines as baselines
from . import data as data
from . import metrics as metrics
from . import models as models
from . import sweep as sweep
from . import train as train
from ._contract import checked as checked
from ._contract import value_checks as value_checks
from ._losses import beta_nll as beta_nll
from ._losses import crps_ensemble as crps_ensemble
from ._losses import crps_normal as crps_normal
from ._losses import expectile as expectile
from ._losses import gaussian_nll as gaussian_nll
from ._losses import huber as huber
from ._losses import interval_score as interval_score
from ._losses import laplace_nll as laplace_nll
from ._losses import log_cosh as log_cosh
from ._losses import mae as mae
from ._losses import mape as mape
from ._losses import mse as mse
from ._losses import msle as msle
from ._losses import pinball as pinball
from ._losses import poisson_nll as poisson_nll
from ._losses import pseudo_huber as pseudo_huber
from ._losses import rmse as rmse
from ._losses import robust as robust
from ._losses import robust_nll as robust_nll
from ._losses import student_t_nll as student_t_nll
from ._losses import tweedie_deviance as tweedie_deviance

try:  # the version lives in pyproject.toml alone
    __version__ = _metadata.version("jaxloss")
except _metadata.PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"

# Sorted: "checked", every loss (the package's one list of them), "value_checks".
__all__ = sorted(["checked", "interval_score", *_losses.NAMES, "value_checks"])
