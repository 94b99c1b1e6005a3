"""The training state and a pure, jittable optimisation step for any objective and optimizer."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import chex
import jax
import jax.numpy as jnp
import optax

from .._contract import require

PyTree = Any
Objective = Callable[[PyTree, PyTree], Any]


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class TrainState:
    """What training carries from step to step: a pytree, not a stateful object.

    Attributes:
      params: the model parameters (any pytree of arrays).
      opt_state: the optax optimizer state.
      step: the number of steps taken (int32 scalar).

    Example:
      >>> import jax.numpy as jnp, optax
      >>> from jaxloss import train
      >>> state = train.TrainState.create({"w": jnp.zeros(3)}, optax.sgd(0.1))
      >>> int(state.step)
      0
    """

    params: PyTree
    opt_state: PyTree
    step: jax.Array

    @classmethod
    def create(cls, params: PyTree, optimizer: optax.GradientTransformation) -> TrainState:
        """The state before the first step.

        Args:
          params: the initial parameters.
          optimizer: the optax optimizer whose state to initialise.

        Returns:
          A ``TrainState`` with ``step = 0``.

        Example:
          >>> import jax.numpy as jnp, optax
          >>> from jaxloss import train
          >>> train.TrainState.create(jnp.zeros(2), optax.adam(1e-3)).params
          Array([0., 0.], dtype=float32)
        """
        with jax.numpy_dtype_promotion("standard"):
            opt_state = optimizer.init(params)
        return cls(params=params, opt_state=opt_state, step=jnp.zeros((), jnp.int32))


def _scalar_loss(objective: Objective, has_aux: bool) -> Callable[[PyTree, PyTree], Any]:
    """Wraps ``objective`` to refuse, at trace time, outputs that are not a scalar loss."""
    name = getattr(objective, "__name__", "objective")

    def checked(params: PyTree, batch: PyTree) -> Any:
        out = objective(params, batch)
        if has_aux and not (isinstance(out, tuple) and len(out) == 2):
            raise ValueError(
                f"jaxloss.train: with has_aux=True, {name}(params, batch) must return "
                f"(loss, aux); it returned {type(out).__name__}."
            )
        loss = jnp.asarray(out[0] if has_aux else out)
        hint = " (return (loss, aux) with has_aux=True)" if isinstance(out, tuple) else ""
        message = (
            f"jaxloss.train: {name}(params, batch) must return a scalar float loss{hint}; "
            f"it returned shape {loss.shape}, dtype {loss.dtype}. Reduce it, e.g. "
            "jaxloss.mse(predictions, targets) with the default reduction='mean'."
        )
        require(chex.assert_shape, loss, (), message=message)
        require(chex.assert_type, loss, float, message=message)
        return out

    return checked


def _check_updates(params: PyTree, updates: PyTree) -> None:
    """The optimizer's updates must match the parameters leaf for leaf: no silent broadcast."""
    message = (
        "jaxloss.train: the optimizer's updates do not match the parameters: "
        f"parameters {jax.tree.map(jnp.shape, params)}, updates "
        f"{jax.tree.map(jnp.shape, updates)}. A custom GradientTransformation must return "
        "updates with the parameters' structure and shapes."
    )
    require(chex.assert_trees_all_equal_structs, params, updates, message=message)
    require(chex.assert_trees_all_equal_shapes, params, updates, message=message)


def make_step(
    objective: Objective, optimizer: optax.GradientTransformation, *, has_aux: bool = False
) -> Callable[[TrainState, PyTree], tuple[TrainState, dict[str, Any]]]:
    """A pure training step: ``step(state, batch) -> (state, metrics)``.

    .. math::
      g = ∇_θ\\, \\mathrm{objective}(θ, \\mathrm{batch}), \\qquad
      θ ← θ + \\mathrm{optimizer.update}(g)

    The step is a pure function, so it jits, vmaps (over seeds or hyperparameters) and
    scans. Jit it with the state donated, ``jax.jit(step, donate_argnums=0)``: XLA then
    writes the new parameters and optimizer state into the old buffers instead of
    allocating fresh ones every call, which is what lets a large step run at memory
    bandwidth; the state passed in must not be used again (keep the returned one).

    Args:
      objective: ``objective(params, batch)`` returning the scalar loss, or
        ``(loss, aux)`` with ``has_aux=True``; e.g.
        ``lambda params, batch: jaxloss.huber(apply(params, batch[0]), batch[1])``.
      optimizer: any optax ``GradientTransformation``.
      has_aux: whether ``objective`` also returns auxiliary data.

    Returns:
      ``step(state, batch)`` returning the new state and a dict with ``loss`` (before the
      update), ``grad_norm`` (global L2 norm of the gradient) and, with ``has_aux``,
      ``aux``. A non-scalar loss is a ``ValueError`` at trace time.

    Example:
      >>> import jax, jax.numpy as jnp, optax
      >>> import jaxloss
      >>> from jaxloss import train
      >>> def objective(w, batch):
      ...   x, y = batch
      ...   return jaxloss.mse(x @ w, y)
      >>> optimizer = optax.sgd(0.1)
      >>> step = jax.jit(train.make_step(objective, optimizer), donate_argnums=0)
      >>> state = train.TrainState.create(jnp.zeros(2), optimizer)
      >>> batch = (jnp.eye(2), jnp.array([1.0, -1.0]))
      >>> for _ in range(100):
      ...   state, metrics = step(state, batch)
      >>> print(jnp.round(state.params, 3), int(state.step))
      [ 1. -1.] 100
    """
    value_and_grad = jax.value_and_grad(_scalar_loss(objective, has_aux), has_aux=has_aux)

    def step(state: TrainState, batch: PyTree) -> tuple[TrainState, dict[str, Any]]:
        out, grads = value_and_grad(state.params, batch)
        loss, aux = out if has_aux else (out, None)
        # optax mixes its int32 step count with floats, which strict promotion refuses.
        with jax.numpy_dtype_promotion("standard"):
            updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
            _check_updates(state.params, updates)
            params = optax.apply_updates(state.params, updates)
        metrics = {"loss": loss, "grad_norm": optax.tree.norm(grads)}
        if has_aux:
            metrics["aux"] = aux
        new_state = TrainState(params=params, opt_state=opt_state, step=state.step + 1)
        return new_state, metrics

    return step
