"""Training with optax: a pure jittable step and a whole-run ``fit`` inside ``lax.scan``.

``make_step`` turns any objective and optax optimizer into ``step(state, batch)``; ``fit``
runs a whole training loop as one compiled, vmap-safe program with on-device minibatches,
evaluation through ``jaxloss.metrics``, early stopping and a progress bar.
"""

from ._fit import EarlyStopping as EarlyStopping
from ._fit import FitResult as FitResult
from ._fit import fit as fit
from ._step import TrainState as TrainState
from ._step import make_step as make_step

__all__ = ["EarlyStopping", "FitResult", "TrainState", "fit", "make_step"]
