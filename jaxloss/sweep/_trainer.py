"""The run protocol of a search that continues runs: ``init``, ``advance``, ``evaluate``.

Successive halving continues the survivors of a rung from where they stopped, and
population-based training continues (or copies) every member each generation; both need a
run split into pieces. :class:`Trainer` names them; this module turns them into the
per-run stage functions the batched programs call, and checks them before any compute.
"""

from __future__ import annotations

import dataclasses
import weakref
from collections.abc import Callable, Mapping
from typing import Any

import chex
import jax
import jax.numpy as jnp
import numpy as np

from .._cache import WeakCache
from .._contract import require
from . import _batched
from ._space import Space, check_space, check_takes

PyTree = Any
_PROGRAMS = WeakCache()


@dataclasses.dataclass(frozen=True, eq=False)
class Trainer:
    """A training run in three pure pieces, so that a search can continue it.

    * ``init(**hyperparameters) -> state``: the starting state of one run (any pytree of
      arrays, e.g. a :class:`jaxloss.train.TrainState`).
    * ``advance(state, num_steps, **hyperparameters) -> state``: ``num_steps`` (a Python
      int) more steps from ``state``. Continuing must equal running on: ``advance(advance(s,
      n), m)`` is ``advance(s, n + m)``, as :func:`jaxloss.train.fit` guarantees when given a
      ``TrainState`` (its minibatches continue from the state's step count).
    * ``evaluate(state, **hyperparameters) -> dict`` of scalars (e.g. held-out metrics);
      searches rank runs by one of its keys.

    Hyperparameters arrive as traced scalars (float32, or int32 for integer axes) at every
    call, so population-based training can change a learning rate between ``advance`` calls
    without recompiling: build the optimizer inside ``advance`` from the value it receives
    (``optax.adam(learning_rate)``; Adam's state does not hold the rate). All three run
    vmapped over the runs and sharded over devices; they must be pure and jittable.

    Attributes:
      init, advance, evaluate: the three functions.

    Example:
      >>> import jax, jax.numpy as jnp, optax
      >>> import jaxloss
      >>> from jaxloss import models, sweep, train
      >>> x = jax.random.normal(jax.random.key(0), (64, 2))
      >>> y = x @ jnp.array([1.0, -1.0])
      >>> objective = lambda p, b: jaxloss.mse(models.linear_apply(p, b[0]), b[1])
      >>> trainer = sweep.Trainer(
      ...   init=lambda learning_rate: train.TrainState.create(
      ...     models.linear_init(None, 2), optax.sgd(learning_rate)),
      ...   advance=lambda state, num_steps, learning_rate: train.fit(
      ...     objective, state, optax.sgd(learning_rate), (x, y), num_steps=num_steps,
      ...     log_every=num_steps, progress=False).state,
      ...   evaluate=lambda state, learning_rate: {
      ...     "mse": jaxloss.mse(models.linear_apply(state.params, x), y)})
      >>> result = sweep.halving(trainer, sweep.Grid(learning_rate=[1e-3, 1e-2, 0.3]),
      ...                        metric="mse", min_steps=10, max_steps=30, eta=3)
      >>> result.best["config"], result.schedule
      ({'learning_rate': 0.3}, [(3, 10), (1, 30)])
    """

    init: Callable[..., PyTree]
    advance: Callable[..., PyTree]
    evaluate: Callable[..., Mapping[str, jax.Array]]


def check_trainer(trainer: object, space: object, owner: str) -> tuple[Trainer, Space]:
    """The trainer and space, refused (naming ``owner``) unless their names fit."""
    if not isinstance(trainer, Trainer):
        raise TypeError(
            f"jaxloss.sweep.{owner}: trainer must be a sweep.Trainer(init, advance, evaluate); "
            f"got {type(trainer).__name__}."
        )
    space = check_space(space, owner)
    check_takes(trainer.init, space.names, owner, "trainer.init")
    check_takes(trainer.advance, space.names, owner, "trainer.advance", skip=2)
    check_takes(trainer.evaluate, space.names, owner, "trainer.evaluate", skip=1)
    return trainer, space


def _metrics(out: object, metric: str, owner: str) -> dict[str, jax.Array]:
    """``evaluate``'s dict, each value a scalar (a chex contract) including ``metric``."""
    if not isinstance(out, Mapping):
        raise ValueError(
            f"jaxloss.sweep.{owner}: trainer.evaluate must return a dict of scalars, e.g. "
            f"{{'mse': ...}}; it returned {type(out).__name__}."
        )
    if metric not in out:
        raise ValueError(
            f"jaxloss.sweep.{owner}: metric={metric!r} is not returned by trainer.evaluate, "
            f"which returns {sorted(out)}."
        )
    values = {}
    for key, value in out.items():
        value = jnp.asarray(value)
        require(chex.assert_shape, value, (), message=(
            f"jaxloss.sweep.{owner}: trainer.evaluate(...)[{key!r}] must be a scalar per run; "
            f"it has shape {value.shape}."
        ))  # fmt: skip
        values[key] = value.astype(jnp.float32)
    return values


def first_stage(trainer: Trainer, steps: int, metric: str, owner: str) -> Callable[..., PyTree]:
    """One run's first stage: ``init``, ``advance(steps)``, ``evaluate``."""

    def stage(hp: dict[str, jax.Array]) -> PyTree:
        state = trainer.advance(trainer.init(**hp), steps, **hp)
        return {"state": state, "metrics": _metrics(trainer.evaluate(state, **hp), metric, owner)}

    return stage


def next_stage(trainer: Trainer, steps: int, metric: str, owner: str) -> Callable[..., PyTree]:
    """One run's later stage: ``advance(steps)`` from a given state, then ``evaluate``."""

    def stage(inputs: dict[str, PyTree]) -> PyTree:
        hp = inputs["hp"]
        state = trainer.advance(inputs["state"], steps, **hp)
        return {"state": state, "metrics": _metrics(trainer.evaluate(state, **hp), metric, owner)}

    return stage


def example_hp(space: Space) -> dict[str, jax.ShapeDtypeStruct]:
    """One run's hyperparameters as shape-dtype structs (scalars of the space's dtypes)."""
    return {k: jax.ShapeDtypeStruct((), v.dtype) for k, v in space.points().items()}


def state_shape(trainer: Trainer, space: Space, metric: str, owner: str) -> PyTree:
    """The shape of one run's state, and a check of the whole protocol, without computing."""
    hp = example_hp(space)
    out = jax.eval_shape(first_stage(trainer, 1, metric, owner), hp)
    return out["state"]


def held_weakly(ref: weakref.ref[Any] | Callable[[], Any]) -> Trainer:
    """A Trainer that reaches the user's trainer through ``ref`` when traced, so that a cached
    program does not keep it (and what it captures) alive."""

    def user() -> Trainer:
        trainer = ref()
        assert trainer is not None  # the caller holds the trainer while its program is traced
        return trainer

    return Trainer(
        init=lambda **h: user().init(**h),
        advance=lambda s, n, **h: user().advance(s, n, **h),
        evaluate=lambda s, **h: user().evaluate(s, **h),
    )


def stage_program(
    trainer: Trainer,
    space: Space,
    *,
    steps: int,
    first: bool,
    state: PyTree,
    batch: int,
    devices: list[jax.Device],
    metric: str,
    owner: str,
    with_fingerprint: bool,
) -> _batched.Program:
    """The compiled batched program of one stage, cached while ``trainer`` lives.

    ``state`` is one run's state as shape-dtype structs (:func:`state_shape` of this
    trainer and space, computed once by the caller): the input of a later stage.
    """
    hp = example_hp(space)
    dtypes = tuple((k, np.dtype(v.dtype).str) for k, v in hp.items())
    key = ("stage", dtypes, steps, first, batch, tuple(devices), metric, with_fingerprint)

    def build(ref: weakref.ref[Any] | Callable[[], Any]) -> _batched.Program:
        proxy = held_weakly(ref)
        if first:
            return _batched.compile_program(
                first_stage(proxy, steps, metric, owner), hp, batch, devices, with_fingerprint
            )
        example = {"state": state, "hp": hp}
        return _batched.compile_program(
            next_stage(proxy, steps, metric, owner), example, batch, devices, with_fingerprint
        )

    return _PROGRAMS.get(trainer, key, build)
