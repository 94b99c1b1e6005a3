"""``fit``: a whole training run as one compiled program, pure and vmap-safe.

The loop is a generic driver over small pure pieces, as optimistix splits its loop from each
solver's steps: :func:`_train_step` (one optimisation step with divergence isolation),
:func:`_train_chunk` (a ``lax.scan`` of ``log_every`` steps, then evaluation, early stopping
and a history row) and :func:`_run` (a ``lax.while_loop`` over chunks). The carry is a
NamedTuple. Early stopping freezes a finished run's carry with ``jnp.where`` rather than
leaving a Python loop, so ``jax.vmap(fit)`` over seeds or hyperparameters stops each member
at its own step. The host is touched once per chunk, by the progress callback.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
import sys
import weakref
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax

from .. import metrics
from .._cache import WeakCache
from .._contract import require
from ._early_stopping import EarlyStopping, EarlyStoppingState, tree_where
from ._sampler import Sampler, SamplerState
from ._step import Objective, PyTree, TrainState, make_step

_REGRESSION_KEYS = ("mse", "rmse", "mae", "r2", "explained_variance", "max_error", "bias",
                    "pearson", "ccc")  # fmt: skip
_TRAINING_KEYS = ("loss", "grad_norm")


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class FitResult:
    """What :func:`fit` returns (a pytree: under ``jax.vmap`` every leaf gains the axis).

    Attributes:
      params: the final parameters, or the best ones with ``EarlyStopping(restore_best=True)``.
      state: the final :class:`TrainState` (the last parameters and optimizer state); pass
        it back to :func:`fit` to continue the run.
      history: one row per chunk of ``log_every`` steps: ``step`` (the step count at the
        end of the chunk), ``loss`` and ``grad_norm`` (means over the chunk's steps) and
        every key of the evaluation (``eval_mse``, ``eval_r2``, ... with ``eval_data``, or
        your ``evaluate`` hook's). Rows after early stopping hold ``step = -1`` and NaN.
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


def evaluate_regression(
    predict: Callable[[PyTree, Any], jax.Array], inputs: Any, targets: Any
) -> Callable[[PyTree], dict[str, jax.Array]]:
    """An ``evaluate`` hook for :func:`fit`: regression metrics of ``predict`` on held-out data.

    With ``r = predict(params, inputs) − targets`` it returns, through
    :class:`jaxloss.metrics.Regression`, ``eval_mse = mean r²``, ``eval_rmse``, ``eval_mae``,
    ``eval_r2 = 1 − Σr² / Σ(t − t̄)²``, ``eval_explained_variance``, ``eval_max_error``,
    ``eval_bias = mean r``, ``eval_pearson`` (the correlation of predictions and targets) and
    ``eval_ccc`` (Lin's concordance correlation). ``fit(eval_data=(inputs, targets),
    predict=predict)`` uses the same metrics with the data passed to the compiled program as
    arguments.

    Args:
      predict: ``predict(params, inputs) -> predictions``.
      inputs: the evaluation inputs.
      targets: the evaluation targets, shaped like the predictions.

    Returns:
      ``evaluate(params) -> dict`` of float32 scalars.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxloss import train
      >>> evaluate = train.evaluate_regression(lambda w, x: x * w, jnp.ones(3), jnp.zeros(3))
      >>> float(evaluate(jnp.float32(2.0))["eval_mse"])
      4.0
    """
    return functools.partial(_regression_metrics, predict, (inputs, targets))


def _regression_metrics(
    predict: Callable[[PyTree, Any], jax.Array], eval_data: tuple[Any, Any], params: PyTree
) -> dict[str, jax.Array]:
    inputs, targets = eval_data
    targets = jnp.asarray(targets)
    state = metrics.Regression.empty(targets.shape[1:])
    computed = state.update(predict(params, inputs), targets).compute()
    return {f"eval_{k}": computed[k] for k in _REGRESSION_KEYS}


class _Evaluation(NamedTuple):
    """The user's ``evaluate(params)`` hook, or regression metrics of ``predict`` on the eval
    data (passed to the compiled program as an argument, not baked into it as constants).
    Compared by the functions it holds, so an unchanged configuration reuses its program."""

    predict: Callable[[PyTree, Any], jax.Array] | None
    evaluate: Callable[[PyTree], Mapping[str, jax.Array]] | None

    def __call__(self, params: PyTree, eval_data: Any) -> Mapping[str, jax.Array]:
        if self.evaluate is not None:
            return self.evaluate(params)
        assert self.predict is not None
        return _regression_metrics(self.predict, eval_data, params)


def _checked_row(evaluation: Mapping[str, jax.Array]) -> dict[str, jax.Array]:
    """The evaluation's dict, each value a float scalar (a chex contract), as float32."""
    if not isinstance(evaluation, Mapping):
        raise ValueError(
            "jaxloss.train.fit: evaluate(params) must return a dict of scalars, e.g. "
            f"{{'eval_mse': ...}}; it returned {type(evaluation).__name__}."
        )
    row = {}
    for key, value in evaluation.items():
        value = jnp.asarray(value)
        if key in (*_TRAINING_KEYS, "step"):
            raise ValueError(
                f"jaxloss.train.fit: evaluate(params) returned the key {key!r}, which the "
                "history keeps for training; rename it (e.g. 'eval_loss')."
            )
        require(chex.assert_shape, value, (), message=(
            f"jaxloss.train.fit: evaluate(params)[{key!r}] must be a scalar; it has shape "
            f"{value.shape}. Reduce it (e.g. a mean), or return one key per output."
        ))  # fmt: skip
        row[key] = value.astype(jnp.float32)
    return row


@dataclasses.dataclass(frozen=True)
class _Program:
    """Everything static about a fit except the objective: with it, the compiled program."""

    optimizer: optax.GradientTransformation
    num_steps: int
    batch_size: int | None
    size: int
    log_every: int
    evaluation: _Evaluation | None
    early_stopping: EarlyStopping | None
    has_aux: bool
    show_progress: bool

    @property
    def n_chunks(self) -> int:
        return math.ceil(self.num_steps / self.log_every)

    @property
    def sampler(self) -> Sampler | None:
        return None if self.batch_size is None else Sampler(self.size, self.batch_size)


class _StepCarry(NamedTuple):
    """What one optimisation step carries to the next inside a chunk."""

    train: TrainState
    sampler: SamplerState | None
    aux: PyTree
    halted: jax.Array
    diverged_at: jax.Array


class _Carry(NamedTuple):
    """What the loop carries from chunk to chunk."""

    train: TrainState
    sampler: SamplerState | None
    aux: PyTree
    chunk: jax.Array
    history: dict[str, jax.Array]
    stopped: jax.Array
    stopped_at: jax.Array
    diverged_at: jax.Array
    stopping: EarlyStoppingState | None


def _all_finite(tree: PyTree) -> jax.Array:
    leaves = [jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree.leaves(tree)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.ones((), jnp.bool_)


def _train_step(
    program: _Program,
    step_fn: Callable[[TrainState, PyTree], tuple[TrainState, dict[str, Any]]],
    data: PyTree,
    end_step: jax.Array,
    carry: _StepCarry,
) -> tuple[_StepCarry, tuple[jax.Array, jax.Array, jax.Array]]:
    """One optimisation step; a non-finite loss or update halts the run at its last state."""
    active = (carry.train.step < end_step) & ~carry.halted
    sampler = program.sampler
    if sampler is None or carry.sampler is None:
        batch, sample_state = data, carry.sampler
    else:
        indices, sample_state = sampler.draw(carry.sampler)
        batch = jax.tree.map(lambda a: jnp.take(a, indices, axis=0), data)
    new_train, step_metrics = step_fn(carry.train, batch)
    # A non-finite loss or update diverges this run: it keeps its last finite state and
    # halts, and (under vmap) no other run is touched.
    finite = jnp.isfinite(step_metrics["loss"]) & _all_finite(new_train.params)
    diverged = active & ~finite
    active = active & finite
    new_carry = _StepCarry(
        train=tree_where(active, new_train, carry.train),
        sampler=sample_state,  # runs on regardless: its state is not part of the result
        aux=tree_where(active, step_metrics.get("aux", carry.aux), carry.aux),
        halted=carry.halted | diverged,
        diverged_at=jnp.where(diverged, carry.train.step, carry.diverged_at),
    )
    return new_carry, (step_metrics["loss"], step_metrics["grad_norm"], active)


def _chunk_mean(values: jax.Array, active: jax.Array) -> jax.Array:
    steps_run = jnp.maximum(jnp.sum(active, dtype=jnp.float32), 1.0)
    return jnp.sum(jnp.where(active, values, 0.0)) / steps_run


def _train_chunk(
    program: _Program,
    step_fn: Callable[[TrainState, PyTree], tuple[TrainState, dict[str, Any]]],
    data: PyTree,
    eval_data: Any,
    end_step: jax.Array,
    bar_id: jax.Array,
    carry: _Carry,
) -> _Carry:
    """``log_every`` steps, then one evaluation, early-stopping update and history row."""
    start = _StepCarry(carry.train, carry.sampler, carry.aux, carry.stopped, carry.diverged_at)
    one_step = functools.partial(_train_step, program, step_fn, data, end_step)
    steps, (losses, norms, active) = jax.lax.scan(
        lambda c, _: one_step(c), start, length=program.log_every
    )
    train = steps.train
    row = {"loss": _chunk_mean(losses, active), "grad_norm": _chunk_mean(norms, active)}
    if program.evaluation is not None:
        row |= _checked_row(program.evaluation(train.params, eval_data))

    stopping, stopped, stopped_at = carry.stopping, steps.halted, carry.stopped_at
    policy = program.early_stopping
    if policy is not None and stopping is not None:
        stopping = policy.update(stopping, row[policy.monitor], train.params, train.step)
        newly = ~steps.halted & policy.should_stop(stopping)
        stopped_at = jnp.where(newly, train.step, stopped_at)
        stopped = stopped | newly
    history = {k: carry.history[k].at[carry.chunk].set(v) for k, v in row.items()}
    history["step"] = carry.history["step"].at[carry.chunk].set(train.step)
    if program.show_progress:
        jax.debug.callback(_report, bar_id, train.step, row["loss"])
    new = _Carry(train, None, steps.aux, carry.chunk + 1, history, stopped, stopped_at,
                 steps.diverged_at, stopping)  # fmt: skip
    # A run that had already stopped stays exactly as it was (its later rows NaN / -1). The
    # sampler runs on regardless: its state is not part of the result.
    frozen = tree_where(carry.stopped, carry._replace(sampler=None), new)
    return frozen._replace(sampler=steps.sampler)


def _initial_history(program: _Program, keys: list[str]) -> dict[str, jax.Array]:
    history = {k: jnp.full((program.n_chunks,), jnp.nan, jnp.float32) for k in keys}
    history["step"] = jnp.full((program.n_chunks,), -1, jnp.int32)
    return history


def _check_monitor(program: _Program, keys: list[str]) -> None:
    policy = program.early_stopping
    if policy is None or policy.monitor in keys:
        return
    hint = "" if program.evaluation is not None else " (pass eval_data for eval_* metrics)"
    raise ValueError(
        f"jaxloss.train.fit: EarlyStopping(monitor={policy.monitor!r}) is not available; "
        f"choose one of {keys}{hint}."
    )


def _start_state(program: _Program, start: PyTree) -> TrainState:
    """A fresh state for initial parameters, or the given one, checked against the optimizer."""
    if not isinstance(start, TrainState):
        return TrainState.create(start, program.optimizer)
    with jax.numpy_dtype_promotion("standard"):
        expected = jax.eval_shape(program.optimizer.init, start.params)
    message = (
        "jaxloss.train.fit: the TrainState to continue holds an optimizer state that does not "
        "match this optimizer (another optax transformation, or other parameters); continue "
        "with the optimizer that made it, or start from its params."
    )
    require(chex.assert_trees_all_equal_structs, start.opt_state, expected, message=message)
    require(chex.assert_trees_all_equal_shapes, start.opt_state, expected, message=message)
    return start


def _run(
    objective_ref: Callable[[], Any],
    program: _Program,
    start: PyTree,
    data: PyTree,
    key: jax.Array | None,
    eval_data: Any,
    bar_id: jax.Array,
) -> FitResult:
    """The compiled training run: ``program`` and the objective are static, the rest traced."""
    step_fn = make_step(objective_ref(), program.optimizer, has_aux=program.has_aux)
    train = _start_state(program, start)
    end_step = train.step + program.num_steps
    sampler = program.sampler
    sample_state = None if sampler is None or key is None else sampler.init(key, train.step)
    # Trace one step to learn the shape of aux (and to check the objective early).
    batch_size = None if sampler is None else sampler.batch_size
    first_batch = jax.tree.map(lambda a: a[:batch_size], data)
    aux_shape = jax.eval_shape(step_fn, train, first_batch)[1].get("aux")
    eval_keys: list[str] = []
    evaluation = program.evaluation
    if evaluation is not None:
        row = jax.eval_shape(lambda p, d: _checked_row(evaluation(p, d)), train.params, eval_data)
        eval_keys = list(row)
    keys = [*_TRAINING_KEYS, *eval_keys]
    _check_monitor(program, keys)

    policy = program.early_stopping
    carry = _Carry(
        train=train,
        sampler=sample_state,
        aux=jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), aux_shape),
        chunk=jnp.zeros((), jnp.int32),
        history=_initial_history(program, keys),
        stopped=jnp.zeros((), jnp.bool_),
        stopped_at=jnp.full((), -1, jnp.int32),
        diverged_at=jnp.full((), -1, jnp.int32),
        stopping=None if policy is None else policy.init(train.params),
    )
    chunk = functools.partial(_train_chunk, program, step_fn, data, eval_data, end_step, bar_id)
    carry = jax.lax.while_loop(lambda c: (c.chunk < program.n_chunks) & ~c.stopped, chunk, carry)
    stopping = carry.stopping
    restore = policy is not None and policy.restore_best and stopping is not None
    return FitResult(
        params=stopping.best_params if restore and stopping is not None else carry.train.params,
        state=carry.train,
        history=carry.history,
        stopped_at=carry.stopped_at,
        diverged_at=carry.diverged_at,
        best_step=jnp.full((), -1, jnp.int32) if stopping is None else stopping.best_step,
        aux=carry.aux if program.has_aux else None,
    )


# Compiled runs, per objective (held weakly: dropping the objective frees its programs).
_PROGRAMS = WeakCache()


def _compiled(objective: Objective, program: _Program) -> Callable[..., FitResult]:
    def build(ref: weakref.ref[Any] | Callable[[], Any]) -> Callable[..., FitResult]:
        return jax.jit(functools.partial(_run, ref, program))

    return _PROGRAMS.get(objective, program, build)


# Progress bars live on the host; the compiled program only carries their integer id.
_BARS: dict[int, Any] = {}
_BAR_IDS = itertools.count(1)


def _report(bar_id: np.ndarray, step: np.ndarray, loss: np.ndarray) -> None:
    bar = _BARS.get(int(np.max(bar_id)))
    if bar is None:
        return
    done = int(np.max(step))
    if done > bar.n:
        bar.update(done - bar.n)
    bar.set_postfix(loss=f"{float(np.mean(loss)):.4g}", refresh=False)


def _progress_bar(progress: bool | str, num_steps: int, initial: int) -> Any:
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
    return tqdm(total=initial + num_steps, initial=initial, unit="step", dynamic_ncols=True,
                leave=True)  # fmt: skip


def _leading_size(data: PyTree) -> int:
    """The number of examples: the leading axis every leaf of ``data`` shares (chex)."""
    leaves = [jnp.asarray(leaf) for leaf in jax.tree.leaves(data)]
    if not leaves:
        raise ValueError("jaxloss.train.fit: data holds no arrays.")
    message = (
        "jaxloss.train.fit: every array in data must share its leading (examples) axis; "
        f"got shapes {[leaf.shape for leaf in leaves]}."
    )
    for leaf in leaves:
        require(chex.assert_rank, leaf, set(range(1, 33)), message=message)
    require(chex.assert_equal_shape_prefix, leaves, 1, message=message)
    return leaves[0].shape[0]


def _check_count(arg: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"jaxloss.train.fit: {arg} must be an int >= 1; got {value!r}.")
    return int(value)


def _evaluation(
    eval_data: tuple[Any, Any] | None,
    predict: Callable[[PyTree, Any], jax.Array] | None,
    evaluate: Callable[[PyTree], Mapping[str, jax.Array]] | None,
) -> _Evaluation | None:
    if evaluate is not None:
        if eval_data is not None:
            raise ValueError(
                "jaxloss.train.fit: give either evaluate= or eval_data= (with predict=), not "
                "both; train.evaluate_regression(predict, inputs, targets) makes the "
                "eval_data metrics a hook you can combine with your own."
            )
        return _Evaluation(predict=None, evaluate=evaluate)
    if eval_data is None:
        return None
    if predict is None:
        raise ValueError("jaxloss.train.fit: eval_data needs predict=(params, inputs) -> y.")
    if not (isinstance(eval_data, tuple | list) and len(eval_data) == 2):
        raise ValueError("jaxloss.train.fit: eval_data must be (inputs, targets).")
    return _Evaluation(predict=predict, evaluate=None)


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
    evaluate: Callable[[PyTree], Mapping[str, jax.Array]] | None = None,
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
    call for a given objective and configuration and reused while the objective lives (the
    cache holds it weakly, so nothing it closes over is kept alive); under an outer
    ``jit``/``vmap`` it is compiled as part of it.

    **Continuing a run.** Pass a :class:`TrainState` (e.g. ``result.state``) as ``params``
    to take ``num_steps`` more steps from it, with the same optimizer and ``key``: the
    minibatches continue where the state's step count left them, so ``fit(n)`` then
    ``fit(m)`` from its state equals ``fit(n + m)`` (to rounding). History rows count steps
    from the state's step; early stopping starts afresh (its patience and best value).

    Args:
      objective: ``objective(params, batch)`` returning the scalar loss (or ``(loss, aux)``
        with ``has_aux``); ``batch`` has ``data``'s structure with ``batch_size`` examples.
      params: the initial parameters (any pytree; not modified), or a :class:`TrainState`
        to continue.
      optimizer: any optax ``GradientTransformation``.
      data: a pytree of arrays (e.g. ``(x, y)``) whose leading axes are the N examples.
      num_steps: the number of optimisation steps to take.
      batch_size: examples per step (``<= N``), or ``None`` for full-batch steps.
      key: PRNG key for the minibatch order; required with ``batch_size``.
      log_every: steps per chunk: one history row, evaluation, early-stopping check and
        progress update per chunk.
      eval_data: ``(inputs, targets)`` evaluated after every chunk with
        ``jaxloss.metrics.Regression`` on ``predict(params, inputs)``: ``eval_mse``,
        ``eval_rmse``, ``eval_mae``, ``eval_r2``, ``eval_explained_variance``,
        ``eval_max_error``, ``eval_bias``, ``eval_pearson``, ``eval_ccc`` (see
        :func:`evaluate_regression`).
      predict: ``predict(params, inputs) -> predictions``, required with ``eval_data``.
      evaluate: instead of ``eval_data``, any ``evaluate(params) -> dict`` of scalars,
        called after every chunk; each key becomes a history column and can be monitored.
      early_stopping: an :class:`EarlyStopping`, or ``None`` to always run ``num_steps``.
      has_aux: whether ``objective`` returns ``(loss, aux)``.
      progress: ``True`` for a tqdm progress bar, ``False`` for none, ``"auto"`` (default)
        for a bar on a terminal when ``num_steps >= 1000``.

    Returns:
      A :class:`FitResult`: final (or best) parameters, the final state, the history (one
      row per chunk), ``stopped_at``, ``diverged_at`` and ``best_step``.

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
    num_steps = _check_count("num_steps", num_steps)
    log_every = _check_count("log_every", log_every)
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
    program = _Program(
        optimizer=optimizer,
        num_steps=num_steps,
        batch_size=None if batch_size is None else int(batch_size),
        size=n,
        log_every=log_every,
        evaluation=_evaluation(eval_data, predict, evaluate),
        early_stopping=early_stopping,
        has_aux=has_aux,
        show_progress=False,
    )
    step = params.step if isinstance(params, TrainState) else 0
    initial = 0 if isinstance(step, jax.core.Tracer) else int(step)
    bar = _progress_bar(progress, num_steps, initial)
    bar_id = 0
    if bar is not None:
        bar_id = next(_BAR_IDS)
        _BARS[bar_id] = bar
        program = dataclasses.replace(program, show_progress=True)
    run = _compiled(objective, program)
    result = run(params, data, key, eval_data if evaluate is None else None,
                 jnp.asarray(bar_id, jnp.int32))  # fmt: skip
    if bar is not None and not isinstance(result.state.step, jax.core.Tracer):
        jax.block_until_ready(result)
        bar.close()
        _BARS.pop(bar_id, None)
    return result
