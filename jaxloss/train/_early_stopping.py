"""Early stopping as a static policy with a pure ``init``/``update`` over a NamedTuple state."""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

PyTree = Any


def tree_where(condition: jax.Array, new: PyTree, old: PyTree) -> PyTree:
    """``new`` where ``condition`` holds, else ``old``, leaf by leaf (vmap-safe selection)."""
    return jax.tree.map(lambda a, b: jnp.where(condition, a, b), new, old)


class EarlyStoppingState(NamedTuple):
    """What early stopping remembers between evaluations.

    Attributes:
      best: the best monitored value so far (+inf for ``"min"``, -inf for ``"max"`` before
        the first evaluation).
      best_params: the parameters of that evaluation.
      best_step: the step of that evaluation (-1 before the first).
      bad: evaluations since the last improvement.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxloss import train
      >>> state = train.EarlyStopping().init({"w": jnp.zeros(2)})
      >>> state.best_step.tolist(), state.bad.tolist()
      (-1, 0)
    """

    best: jax.Array
    best_params: PyTree
    best_step: jax.Array
    bad: jax.Array


@dataclasses.dataclass(frozen=True)
class EarlyStopping:
    """When to stop: ``patience`` evaluations without an improvement of ``min_delta``.

    Evaluations happen once per chunk of ``log_every`` steps. An evaluation improves on the
    best so far when ``value < best − min_delta`` (``mode="min"``) or
    ``value > best + min_delta`` (``mode="max"``). The policy is static (hashable, part of
    the compiled program); its state is an :class:`EarlyStoppingState` that :meth:`init`
    creates and :meth:`update` advances, both pure and vmap-safe.

    Attributes:
      patience: evaluations without improvement before stopping (``>= 1``).
      min_delta: the smallest change that counts as an improvement (``>= 0``).
      monitor: ``"loss"`` (the training loss, averaged over the chunk), ``"grad_norm"``, or
        any key that ``fit``'s evaluation returns: ``"eval_mse"``, ``"eval_r2"``, ... with
        ``eval_data``, or a key of your own ``evaluate`` hook.
      mode: ``"min"`` or ``"max"`` (use ``"max"`` for ``eval_r2``).
      restore_best: return the parameters of the best evaluation rather than the last.

    Example:
      >>> from jaxloss import train
      >>> train.EarlyStopping(patience=3, monitor="eval_mse")
      EarlyStopping(patience=3, min_delta=0.0, monitor='eval_mse', mode='min', restore_best=True)
    """

    patience: int = 5
    min_delta: float = 0.0
    monitor: str = "loss"
    mode: str = "min"
    restore_best: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.patience, int) or self.patience < 1:
            raise ValueError(f"EarlyStopping: patience must be an int >= 1; got {self.patience!r}.")
        if not self.min_delta >= 0:
            raise ValueError(f"EarlyStopping: min_delta must be >= 0; got {self.min_delta!r}.")
        if self.mode not in ("min", "max"):
            raise ValueError(f"EarlyStopping: mode must be 'min' or 'max'; got {self.mode!r}.")

    @property
    def _sign(self) -> float:
        return 1.0 if self.mode == "min" else -1.0

    def init(self, params: PyTree) -> EarlyStoppingState:
        """The state before the first evaluation.

        Args:
          params: the parameters to return if no evaluation ever improves.

        Returns:
          An :class:`EarlyStoppingState` with the worst possible ``best``.

        Example:
          >>> import jax.numpy as jnp
          >>> from jaxloss import train
          >>> float(train.EarlyStopping(mode="max").init(jnp.zeros(2)).best)
          -inf
        """
        return EarlyStoppingState(
            best=jnp.asarray(self._sign * jnp.inf, jnp.float32),
            best_params=params,
            best_step=jnp.full((), -1, jnp.int32),
            bad=jnp.zeros((), jnp.int32),
        )

    def update(
        self, state: EarlyStoppingState, value: jax.Array, params: PyTree, step: jax.Array
    ) -> EarlyStoppingState:
        """Records one evaluation: ``value`` of the monitored quantity at ``params``.

        Args:
          state: the state so far.
          value: the monitored value of this evaluation (a scalar).
          params: the parameters it was computed at.
          step: the step count at this evaluation.

        Returns:
          The new state: the best so far replaced if ``value`` improves on it by more than
          ``min_delta``, else one more bad evaluation.

        Example:
          >>> import jax.numpy as jnp
          >>> from jaxloss import train
          >>> policy = train.EarlyStopping(patience=2)
          >>> s = policy.init(jnp.zeros(1))
          >>> for v in [3.0, 2.0, 2.5, 2.1]:
          ...   s = policy.update(s, jnp.float32(v), jnp.full(1, v), jnp.int32(0))
          >>> float(s.best), int(s.bad), bool(policy.should_stop(s))
          (2.0, 2, True)
        """
        sign = self._sign
        improved = sign * value < sign * state.best - self.min_delta
        return EarlyStoppingState(
            best=jnp.where(improved, value.astype(jnp.float32), state.best),
            best_params=tree_where(improved, params, state.best_params),
            best_step=jnp.where(improved, step, state.best_step),
            bad=jnp.where(improved, 0, state.bad + 1),
        )

    def should_stop(self, state: EarlyStoppingState) -> jax.Array:
        """Whether ``patience`` evaluations in a row failed to improve (a bool scalar).

        Args:
          state: the state after the latest :meth:`update`.

        Returns:
          A boolean scalar.

        Example:
          >>> import jax.numpy as jnp
          >>> from jaxloss import train
          >>> policy = train.EarlyStopping(patience=1)
          >>> bool(policy.should_stop(policy.init(jnp.zeros(1))))
          False
        """
        return state.bad >= self.patience
