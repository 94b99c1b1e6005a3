"""Training with optax: a pure jittable step and a whole-run ``fit`` inside ``lax.scan``.

``make_step`` turns any objective and optax optimizer into ``step(state, batch)``; ``fit``
runs a whole training loop as one compiled, vmap-safe program with on-device minibatches,
evaluation (``eval_data`` metrics or any ``evaluate`` hook), early stopping, progress, and
can continue a run from its ``TrainState``.
"""

from ._early_stopping import EarlyStopping as EarlyStopping
from ._early_stopping import EarlyStoppingState as EarlyStoppingState
from ._fit import FitResult as FitResult
from ._fit import evaluate_regression as evaluate_regression
from ._fit import fit as fit
from ._step import TrainState as TrainState
from ._step import make_step as make_step

__all__ = [
    "EarlyStopping",
    "EarlyStoppingState",
    "FitResult",
    "TrainState",
    "evaluate_regression",
    "fit",
    "make_step",
]
