"""``fit``: a whole training run as one compiled program, pure and vmap-safe.

The loop is a ``jax.lax.while_loop`` over chunks of ``log_every`` steps, each chunk a
``jax.lax.scan``; minibatches are drawn on the device; evaluation uses
:class:`jaxloss.metrics.Regression`; early stopping freezes the carry with ``jnp.where``
rather than leaving a Python loop, so ``jax.vmap(fit)`` over seeds or hyperparameters stops
each member at its own step. The host is touched once per chunk, by the progress callback.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
import sys
from collections.abc import Callable
from typing import Any

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax

from .. import metrics
from ._step import Objective, PyTree, TrainState, make_step

_EVAL_KEYS = ("mse", "rmse", "mae", "r2", "explained_variance", "max_error", "bias")


@dataclasses.dataclass(frozen=True)
class EarlyStopping:
    """When to stop: ``patience`` evaluations without an improvement of ``min_delta``.

    Evaluations happen once per chunk of ``log_every`` steps. An evaluation improves on the
    best so far when ``value < best − min_delta`` (``mode="min"``) or
    ``value > best + min_delta`` (``mode="max"``).

    Attributes:
      patience: evaluations without improvement before stopping (``>= 1``).
      min_delta: the smallest change that counts as an improvement (``>= 0``).
      monitor: ``"loss"`` (the training loss, averaged over the chunk) or ``"eval_<metric>"``
        for a metric of ``jaxloss.metrics`` on ``eval_data``, e.g. ``"eval_mse"``,
        ``"eval_r2"``.
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


@chex.dataclass(frozen=True, mappable_dataclass=False)
class FitResult:
    """What :func:`fit` returns (a pytree: under ``jax.vmap`` every leaf gains the axis).

    Attributes:
      params: the final parameters, or the best ones with ``EarlyStopping(restore_best=True)``.
      state: the final :class:`TrainState` (the last parameters and optimizer state).
      history: one row per chunk of ``log_every`` steps: ``step`` (the step count at the
        end of the chunk), ``loss`` and ``grad_norm`` (means over the chunk's steps) and,
        with ``eval_data``, ``eval_mse``, ``eval_rmse``, ``eval_mae``, ``eval_r2``, ... Rows
        after early stopping hold ``step = -1`` and NaN.
      stopped_at: the step at which early stopping triggered, or -1 if it did not.
      diverged_at: the step whose loss (or update) was NaN or Inf, or -1. A diverged run
        keeps its last finite parameters and stops there; under ``jax.vmap`` the other
        runs are untouched.
      best_step: the step of the best monitored value (-1 without early stopping).
      aux: the auxiliary output of the last step (``has_aux=True``), else None.

    Example:
      >>> import jax, jax.numpy as jnp, optax
      >>> import jaxloss
      >>> from jaxloss import train
      >>> x = jnp.linspace(-1, 1, 32)[:, None]
      >>> result = train.fit(lambda w, b: jaxloss.mse(b[0] @ w, b[1]), jnp.zeros(1),
      ...                    optax.sgd(0.5), (x, 2.0 * x[:, 0]), num_steps=50, log_every=10)
      >>> result.history["step"].tolist(), round(float(result.params[0]), 3)
      ([10, 20, 30, 40, 50], 2.0)
    """

    params: PyTree
    state: TrainState
    history: dict[str, jax.Array]
    stopped_at: jax.Array
    diverged_at: jax.Array
    best_step: jax.Array
    aux: PyTree = None


def _leading_size(data: PyTree) -> int:
    leaves = jax.tree.leaves(data)
    if not leaves:
        raise ValueError("jaxloss.train.fit: data holds no arrays.")
    sizes = {jnp.shape(leaf)[0] if jnp.ndim(leaf) else None for leaf in leaves}
    if None in sizes or len(sizes) != 1:
        shapes = [jnp.shape(leaf) for leaf in leaves]
        raise ValueError(
            "jaxloss.train.fit: every array in data must share its leading (examples) axis; "
            f"got shapes {shapes}."
        )
    return sizes.pop()


def _all_finite(tree: PyTree) -> jax.Array:
    leaves = [jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree.leaves(tree)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.ones((), jnp.bool_)


def _tree_where(condition: jax.Array, new: PyTree, old: PyTree) -> PyTree:
    return jax.tree.map(lambda a, b: jnp.where(condition, a, b), new, old)


def _mix32(x: jax.Array) -> jax.Array:
    """A bijective avalanche hash of uint32 (Wellons' lowbias32)."""
    x = x ^ (x >> 16)
    x = x * jnp.uint32(0x7FEB352D)
    x = x ^ (x >> 15)
    x = x * jnp.uint32(0x846CA68B)
    return x ^ (x >> 16)


@dataclasses.dataclass(frozen=True)
class _Sampler:
    """Shuffled minibatches: a fresh pseudo-random permutation of the N examples per epoch.

    Batch ``s`` takes positions ``s·B .. s·B + B − 1`` of the concatenation of one
    permutation per epoch, so every epoch visits each example exactly once, for any N, and
    no example is dropped (a batch may straddle two epochs).

    The permutation is never materialised: position ``i`` of epoch ``e`` maps to
    ``π_e(i)``, a 4-round Feistel network keyed by ``(key, e)`` over the smallest even
    number of bits covering N, walked until it lands below N (cycle-walking; a bijection
    on [0, N)). That costs O(B) per step, where sorting N random keys per epoch costs
    ~1 ms at N = 4096 and ~14 ms at 65536 on a CPU, more than the steps themselves.
    """

    size: int
    batch_size: int

    @property
    def _half_bits(self) -> int:
        return max(1, math.ceil(math.log2(max(self.size, 2)) / 2))

    def init(self, key: jax.Array) -> dict[str, jax.Array]:
        return {"epoch": jnp.zeros((), jnp.int32), "start": jnp.zeros((), jnp.int32), "key": key}

    def _permute(self, index: jax.Array, key: jax.Array, epoch: jax.Array) -> jax.Array:
        half = self._half_bits
        mask = jnp.uint32((1 << half) - 1)
        round_keys = jax.random.bits(jax.random.fold_in(key, epoch), (4,), jnp.uint32)

        def feistel(x: jax.Array) -> jax.Array:
            left, right = x >> half, x & mask
            for r in range(4):
                left, right = right, left ^ (_mix32(right ^ round_keys[r]) & mask)
            return (left << half) | right

        n = jnp.uint32(self.size)
        x = feistel(index.astype(jnp.uint32))
        x = jax.lax.while_loop(
            lambda x: jnp.any(x >= n), lambda x: jnp.where(x >= n, feistel(x), x), x
        )
        return x.astype(jnp.int32)

    def draw(self, state: dict[str, jax.Array]) -> tuple[jax.Array, dict[str, jax.Array]]:
        n = self.size
        positions = state["start"] + jnp.arange(self.batch_size, dtype=jnp.int32)
        in_next = positions >= n
        local = jnp.where(in_next, positions - n, positions)
        current = self._permute(local, state["key"], state["epoch"])
        following = self._permute(local, state["key"], state["epoch"] + 1)
        indices = jnp.where(in_next, following, current)
        start = state["start"] + self.batch_size
        wrapped = start >= n
        return indices, {
            "epoch": state["epoch"] + wrapped.astype(jnp.int32),
            "start": jnp.where(wrapped, start - n, start),
            "key": state["key"],
        }


def _progress_bar(progress: bool | str, num_steps: int) -> Any:
    if progress == "auto":
        progress = sys.stderr.isatty() and num_steps >= 1000
    if not progress:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError as err:
        raise ImportError(
            "jaxloss.train.fit(progress=True) draws its bar with tqdm: "
            'pip install "jaxloss[progress]" (or tqdm), or pass progress=False.'
        ) from err
    return tqdm(total=num_steps, unit="step", dynamic_ncols=True, leave=True)


@dataclasses.dataclass(frozen=True)
class _Config:
    """Everything static about a fit: hashed as the compilation cache key of ``_run``."""

    objective: Objective
    optimizer: optax.GradientTransformation
    num_steps: int
    batch_size: int | None
    size: int
    log_every: int
    predict: Callable[[PyTree, Any], jax.Array] | None
    early_stopping: EarlyStopping | None
    has_aux: bool
    show_progress: bool


# Progress bars live on the host; the compiled program only carries their integer id.
_BARS: dict[int, Any] = {}
_BAR_IDS = itertools.count(1)


@functools.partial(jax.jit, static_argnames=("config",))
def _run(
    config: _Config,
    params: PyTree,
    data: PyTree,
    key: jax.Array | None,
    eval_data: tuple[Any, Any] | None,
    bar_id: jax.Array,
) -> FitResult:
    """The compiled training run; ``config`` is static, everything else traced."""
    objective, optimizer, has_aux = config.objective, config.optimizer, config.has_aux
    num_steps, log_every, batch_size = config.num_steps, config.log_every, config.batch_size
    early_stopping, predict, n = config.early_stopping, config.predict, config.size
    step_fn = make_step(objective, optimizer, has_aux=has_aux)
    n_chunks = math.ceil(num_steps / log_every)
    sampler = None if batch_size is None else _Sampler(n, int(batch_size))
    history_keys = ["loss", "grad_norm"] + (
        [f"eval_{k}" for k in _EVAL_KEYS] if eval_data is not None else []
    )

    def evaluate(params: PyTree) -> dict[str, jax.Array]:
        if eval_data is None:
            return {}
        inputs, targets = eval_data
        targets = jnp.asarray(targets)
        state = metrics.Regression.empty(targets.shape[1:])
        computed = state.update(predict(params, inputs), targets).compute()
        return {f"eval_{k}": computed[k] for k in _EVAL_KEYS}

    def report(bar_id: np.ndarray, step: np.ndarray, loss: np.ndarray) -> None:
        bar = _BARS.get(int(np.max(bar_id)))
        if bar is None:
            return
        done = int(np.max(step))
        if done > bar.n:
            bar.update(done - bar.n)
        bar.set_postfix(loss=f"{float(np.mean(loss)):.4g}", refresh=False)

    def run(params: PyTree, data: PyTree, key: jax.Array | None) -> FitResult:
        state = TrainState.create(params, optimizer)
        sample_state = None if sampler is None else sampler.init(key)
        # Trace one step to learn the shape of aux (and to check the objective early).
        first_batch = data if sampler is None else jax.tree.map(lambda a: a[:batch_size], data)
        aux_shape = jax.eval_shape(step_fn, state, first_batch)[1].get("aux")
        aux0 = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), aux_shape)

        def one_step(carry: tuple, index: jax.Array) -> tuple:
            state, sample_state, aux, halted, diverged_at = carry
            active = (state.step < num_steps) & ~halted
            if sampler is None:
                batch, next_sample_state = data, sample_state
            else:
                indices, next_sample_state = sampler.draw(sample_state)
                batch = jax.tree.map(lambda a: jnp.take(a, indices, axis=0), data)
            new_state, step_metrics = step_fn(state, batch)
            # A non-finite loss or update diverges this run: it keeps its last finite state
            # and halts, and (under vmap) no other run is touched.
            finite = jnp.isfinite(step_metrics["loss"]) & _all_finite(new_state.params)
            diverged = active & ~finite
            diverged_at = jnp.where(diverged, state.step, diverged_at)
            halted = halted | diverged
            active = active & finite
            state = _tree_where(active, new_state, state)
            # The sampler runs on regardless: its state is not part of the result.
            sample_state = next_sample_state
            aux = _tree_where(active, step_metrics.get("aux", aux), aux)
            out = (step_metrics["loss"], step_metrics["grad_norm"], active)
            return (state, sample_state, aux, halted, diverged_at), out

        def chunk(carry: dict) -> dict:
            was_stopped = carry["stopped"]
            start = (
                carry["state"],
                carry["sampler"],
                carry["aux"],
                was_stopped,
                carry["diverged_at"],
            )
            (state, sample_state, aux, halted, diverged_at), (losses, norms, active) = jax.lax.scan(
                one_step,
                start,
                jnp.arange(log_every),
            )
            steps_run = jnp.maximum(jnp.sum(active, dtype=jnp.float32), 1.0)
            row = {
                "loss": jnp.sum(jnp.where(active, losses, 0.0)) / steps_run,
                "grad_norm": jnp.sum(jnp.where(active, norms, 0.0)) / steps_run,
                **evaluate(state.params),
            }
            best, stopped = carry["best"], halted
            best_params, best_step, bad = carry["best_params"], carry["best_step"], carry["bad"]
            stopped_at = carry["stopped_at"]
            if early_stopping is not None:
                value = row[early_stopping.monitor]
                sign = 1.0 if early_stopping.mode == "min" else -1.0
                improved = sign * value < sign * best - early_stopping.min_delta
                improved = improved & ~was_stopped
                best = jnp.where(improved, value, best)
                best_params = _tree_where(improved, state.params, best_params)
                best_step = jnp.where(improved, state.step, best_step)
                bad = jnp.where(improved, 0, bad + 1)
                newly = ~halted & (bad >= early_stopping.patience)
                stopped_at = jnp.where(newly, state.step, stopped_at)
                stopped = halted | newly
            history = {
                k: carry["history"][k].at[carry["chunk"]].set(jnp.where(was_stopped, jnp.nan, v))
                for k, v in row.items()
            }
            history["step"] = (
                carry["history"]["step"]
                .at[carry["chunk"]]
                .set(jnp.where(was_stopped, -1, state.step))
            )
            if config.show_progress:
                jax.debug.callback(report, bar_id, state.step, row["loss"])
            return {
                "state": state,
                "sampler": sample_state,
                "aux": aux,
                "chunk": carry["chunk"] + 1,
                "history": history,
                "stopped": stopped,
                "stopped_at": stopped_at,
                "diverged_at": diverged_at,
                "best": best,
                "best_params": best_params,
                "best_step": best_step,
                "bad": bad,
            }

        sign = 1.0 if early_stopping is None or early_stopping.mode == "min" else -1.0
        carry = {
            "state": state,
            "sampler": sample_state,
            "aux": aux0,
            "chunk": jnp.zeros((), jnp.int32),
            "history": {
                **{k: jnp.full((n_chunks,), jnp.nan, jnp.float32) for k in history_keys},
                "step": jnp.full((n_chunks,), -1, jnp.int32),
            },
            "stopped": jnp.zeros((), jnp.bool_),
            "stopped_at": jnp.full((), -1, jnp.int32),
            "diverged_at": jnp.full((), -1, jnp.int32),
            "best": jnp.asarray(sign * jnp.inf, jnp.float32),
            "best_params": state.params,
            "best_step": jnp.full((), -1, jnp.int32),
            "bad": jnp.zeros((), jnp.int32),
        }
        carry = jax.lax.while_loop(lambda c: (c["chunk"] < n_chunks) & ~c["stopped"], chunk, carry)
        restore = early_stopping is not None and early_stopping.restore_best
        final = carry["state"]
        return FitResult(
            params=carry["best_params"] if restore else final.params,
            state=final,
            history=carry["history"],
            stopped_at=carry["stopped_at"],
            diverged_at=carry["diverged_at"],
            best_step=carry["best_step"],
            aux=carry["aux"] if has_aux else None,
        )

    return run(params, data, key)


def fit(
    objective: Objective,
    params: PyTree,
    optimizer: optax.GradientTransformation,
    data: PyTree,
    *,
    num_steps: int,
    batch_size: int | None = None,
    key: jax.Array | None = None,
    log_every: int = 100,
    eval_data: tuple[Any, Any] | None = None,
    predict: Callable[[PyTree, Any], jax.Array] | None = None,
    early_stopping: EarlyStopping | None = None,
    has_aux: bool = False,
    progress: bool | str = "auto",
) -> FitResult:
    """Trains ``params`` on ``data`` for ``num_steps`` steps, as one compiled program.

    .. math::
      θ_{s+1} = θ_s + \\mathrm{optimizer.update}(∇_θ\\, \\mathrm{objective}(θ_s, B_s))

    with ``B_s`` the full data (``batch_size=None``) or a minibatch. Minibatches come from
    a fresh pseudo-random permutation per epoch, computed on the device from ``key`` in
    O(batch) per step (a keyed Feistel network, never a sort of the data): every N
    consecutive examples drawn (an epoch) contain each example exactly once, for any N.

    ``fit`` is pure: no host round trips inside the loop (the progress bar is fed once per
    chunk through ``jax.debug.callback``), no Python control flow on traced values, so
    ``jax.vmap(lambda lr, k: fit(..., optax.adam(lr), ..., key=k))`` trains many
    configurations at once, each stopping early at its own step. It is compiled on its first
    call for a given structure (and under an outer ``jit``/``vmap``, as part of it).

    Args:
      objective: ``objective(params, batch)`` returning the scalar loss (or ``(loss, aux)``
        with ``has_aux``); ``batch`` has ``data``'s structure with ``batch_size`` examples.
      params: the initial parameters (any pytree; not modified).
      optimizer: any optax ``GradientTransformation``.
      data: a pytree of arrays (e.g. ``(x, y)``) whose leading axes are the N examples.
      num_steps: the number of optimisation steps.
      batch_size: examples per step (``<= N``), or ``None`` for full-batch steps.
      key: PRNG key for the minibatch order; required with ``batch_size``.
      log_every: steps per chunk: one history row, evaluation, early-stopping check and
        progress update per chunk.
      eval_data: ``(inputs, targets)`` evaluated after every chunk with
        ``jaxloss.metrics.Regression`` on ``predict(params, inputs)``.
      predict: ``predict(params, inputs) -> predictions``, required with ``eval_data``.
      early_stopping: an :class:`EarlyStopping`, or ``None`` to always run ``num_steps``.
      has_aux: whether ``objective`` returns ``(loss, aux)``.
      progress: ``True`` for a tqdm progress bar, ``False`` for none, ``"auto"`` (default)
        for a bar on a terminal when ``num_steps >= 1000``.

    Returns:
      A :class:`FitResult`: final (or best) parameters, the final state, the history (one
      row per chunk), ``stopped_at`` and ``best_step``.

    Example:
      >>> import jax, jax.numpy as jnp, optax
      >>> import jaxloss
      >>> from jaxloss import models, train
      >>> x = jax.random.normal(jax.random.key(0), (256, 3))
      >>> y = x @ jnp.array([1.0, -2.0, 0.5]) + 0.3
      >>> def objective(params, batch):
      ...   return jaxloss.mse(models.linear_apply(params, batch[0]), batch[1])
      >>> result = train.fit(objective, models.linear_init(None, 3), optax.adam(0.05),
      ...                    (x, y), num_steps=1000, batch_size=32, key=jax.random.key(1),
      ...                    eval_data=(x, y), predict=models.linear_apply)
      >>> print(jnp.round(result.params["w"], 2), f"{float(result.history['eval_r2'][-1]):.4f}")
      [ 1.  -2.   0.5] 1.0000
    """
    for arg, value in (("num_steps", num_steps), ("log_every", log_every)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ValueError(f"jaxloss.train.fit: {arg} must be an int >= 1; got {value!r}.")
    n = _leading_size(data)
    if batch_size is not None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer):
            raise ValueError(f"jaxloss.train.fit: batch_size must be an int; got {batch_size!r}.")
        if not 1 <= batch_size <= n:
            raise ValueError(
                f"jaxloss.train.fit: batch_size={batch_size} is larger than the data, which "
                f"has {n} examples; use batch_size <= {n}, or None for full-batch steps."
            )
        if key is None:
            raise ValueError(
                f"jaxloss.train.fit: batch_size={batch_size} draws random minibatches and needs "
                "key=jax.random.key(seed)."
            )
    if eval_data is not None:
        if predict is None:
            raise ValueError("jaxloss.train.fit: eval_data needs predict=(params, inputs) -> y.")
        if not (isinstance(eval_data, tuple | list) and len(eval_data) == 2):
            raise ValueError("jaxloss.train.fit: eval_data must be (inputs, targets).")
    monitors = ["loss"] + ([f"eval_{k}" for k in _EVAL_KEYS] if eval_data is not None else [])
    if early_stopping is not None and early_stopping.monitor not in monitors:
        raise ValueError(
            f"jaxloss.train.fit: EarlyStopping(monitor={early_stopping.monitor!r}) is not "
            f"available; choose one of {monitors}"
            + ("" if eval_data is not None else " (pass eval_data for eval_* metrics)")
            + "."
        )

    config = _Config(
        objective=objective,
        optimizer=optimizer,
        num_steps=int(num_steps),
        batch_size=None if batch_size is None else int(batch_size),
        size=n,
        log_every=int(log_every),
        predict=predict if eval_data is not None else None,
        early_stopping=early_stopping,
        has_aux=has_aux,
        show_progress=False,
    )
    bar = _progress_bar(progress, num_steps)
    bar_id = 0
    if bar is not None:
        bar_id = next(_BAR_IDS)
        _BARS[bar_id] = bar
        config = dataclasses.replace(config, show_progress=True)
    # _run is jitted once per configuration (it is static), so repeated fits with the same
    # objective and optimizer objects reuse the compiled program.
    result = _run(config, params, data, key, eval_data, jnp.asarray(bar_id, jnp.int32))
    if bar is not None and not isinstance(result.state.step, jax.core.Tracer):
        jax.block_until_ready(result)
        bar.close()
        _BARS.pop(bar_id, None)
    return result
