"""Successive halving: train every configuration briefly, continue the best 1/η, repeat.

Each rung is one batched program over its runs (``shard_map(vmap(...))``, as ``sweep.run``):
the first rung calls ``init`` then ``advance``; later rungs continue the survivors' states
with ``advance`` (never retraining from scratch). Between rungs the states come back to the
host, where the survivors are chosen and re-batched over the devices. Each finished rung is
checkpointed, so a killed search resumes at the first missing rung. An optional fidelity
audit trains a random subset of configurations through every rung and reports how well
each rung's scores rank them against their final scores.
"""

from __future__ import annotations

import json
import math
import os
import pathlib
import warnings
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import numpy as np
from jax.experimental import multihost_utils

from .._io import atomic_write
from . import _batched, _stages
from ._result import json_number, ranked
from ._space import Random, Space
from ._trainer import Trainer, check_trainer, stage_program, state_shape

PyTree = Any
MANIFEST = "halving.json"


def schedule(
    n_candidates: int, min_steps: int, max_steps: int, eta: float
) -> list[tuple[int, int]]:
    """The rungs as ``(candidates, steps)``: scikit-learn's successive-halving schedule.

    With ``n`` candidates, rung ``i`` trains ``n_i`` of them to ``min(⌊η^i · min_steps⌋,
    max_steps)`` steps in all, where ``n_0 = n`` and ``n_{i+1} = ⌈n_i / η⌉``, for
    ``min(1 + ⌊log_η n⌋, 1 + ⌊log_η ⌊max/min⌋⌋)`` rungs: the schedule of scikit-learn's
    ``HalvingRandomSearchCV`` (``n_candidates_``, ``n_resources_``) with ``factor=η``,
    ``min_resources=min_steps`` and ``max_resources=max_steps``. So the search stops when one
    candidate is left or the budget reaches ``max_steps``, whichever comes first; pick
    ``n = η^k`` and ``max_steps = η^k · min_steps`` for one survivor trained to the maximum.
    Logarithms are taken exactly (scikit-learn's floating-point ``log(n) / log(η)`` can
    round an exact power down, e.g. 243 candidates at η = 3).

    Args:
      n_candidates: the number of configurations.
      min_steps: the first rung's budget.
      max_steps: the largest budget.
      eta: the halving factor.

    Returns:
      A list of ``(candidates, total steps)``, one per rung.

    Example:
      >>> from jaxloss import sweep
      >>> sweep.schedule(27, 10, 270, 3)
      [(27, 10), (9, 30), (3, 90), (1, 270)]
    """
    rungs_by_candidates = 1 + _floor_log(n_candidates, eta)
    rungs_by_budget = 1 + _floor_log(max_steps // min_steps, eta)
    plan, candidates = [], n_candidates
    for i in range(min(rungs_by_candidates, rungs_by_budget)):
        plan.append((candidates, min(int(eta**i * min_steps), max_steps)))
        candidates = math.ceil(candidates / eta)
    return plan


def _floor_log(value: int, base: float) -> int:
    """The largest ``k`` with ``base**k <= value``, without floating-point logarithms."""
    k = 0
    while base ** (k + 1) <= value:
        k += 1
    return k


class Rung(NamedTuple):
    """One rung of a successive-halving search.

    Attributes:
      steps: the total steps every run of the rung has trained by its end.
      candidates: the flat run indices competing in this rung (the previous rung's
        survivors; every run for the first).
      runs: every run trained in this rung: the candidates and the audited runs, sorted.
      metrics: ``trainer.evaluate``'s values at the end of the rung, aligned with ``runs``.
      kept: the candidates promoted to the next rung (none after the last).

    Example:
      >>> import numpy as np
      >>> from jaxloss import sweep
      >>> rung = sweep.Rung(10, np.arange(3), np.arange(3), {"mse": np.ones(3)}, np.arange(1))
      >>> rung.steps, rung.kept.tolist()
      (10, [0])
    """

    steps: int
    candidates: np.ndarray
    runs: np.ndarray
    metrics: dict[str, np.ndarray]
    kept: np.ndarray

    def scores(self, metric: str, runs: np.ndarray) -> np.ndarray:
        """``metric`` of the given runs (which this rung trained).

        Args:
          metric: a key of ``metrics``.
          runs: flat run indices, each in :attr:`runs`.

        Returns:
          Their values, in the order given.

        Example:
          >>> import numpy as np
          >>> from jaxloss import sweep
          >>> rung = sweep.Rung(5, np.array([2, 7]), np.array([2, 7]),
          ...                   {"mse": np.array([0.5, 0.25])}, np.array([7]))
          >>> rung.scores("mse", np.array([7])).tolist()
          [0.25]
        """
        return self.metrics[metric][np.searchsorted(self.runs, runs)]


class HalvingResult:
    """What :func:`halving` returns: the rungs, the winner, its state and the audit.

    Attributes:
      space: the searched space.
      metric, mode, eta: the ranking settings.
      schedule: ``[(candidates, steps), ...]`` per rung.
      rungs: the :class:`Rung` records.
      best: ``{"config", "index", "score", "steps"}``: the best run of the last rung (its
        hyperparameters, flat run index, metric and budget).
      states: the last rung's states (a pytree of NumPy arrays, one row per run in
        ``rungs[-1].runs``).
      audited: the flat indices of the audited runs (empty without an audit).
      fidelity: per rung, Spearman's rank correlation between the audited runs' scores at
        that rung and at the last rung (NaN without an audit, or if undefined).
      member_steps: the optimisation steps taken by all runs together (audit included).
      rungs_computed, rungs_loaded: rungs computed by this call and reloaded from
        ``checkpoint_dir``.

    Example:
      >>> from jaxloss import sweep
      >>> trainer = sweep.Trainer(lambda x: x, lambda s, n, x: s + 0.0 * n,
      ...                         lambda s, x: {"loss": (s - 1.0) ** 2})
      >>> result = sweep.halving(trainer, sweep.Grid(x=[0.0, 0.9, 3.0, 1.2]), metric="loss",
      ...                        min_steps=1, max_steps=4, eta=2)
      >>> result.best["config"], [len(r.candidates) for r in result.rungs]
      ({'x': 0.9}, [4, 2, 1])
    """

    def __init__(self, space: Space, metric: str, mode: str, eta: float,
                 plan: list[tuple[int, int]], rungs: list[Rung], states: PyTree,
                 audited: np.ndarray, computed: int, loaded: int) -> None:  # fmt: skip
        self.space, self.metric, self.mode, self.eta = space, metric, mode, eta
        self.schedule, self.rungs, self.states, self.audited = plan, rungs, states, audited
        self.rungs_computed, self.rungs_loaded = computed, loaded
        last = rungs[-1]
        scores = last.scores(metric, last.candidates)
        winner = int(last.candidates[ranked(scores, mode)[0]])
        self.best: dict[str, Any] = {
            "config": space.point(winner),
            "index": winner,
            "score": float(last.scores(metric, np.array([winner]))[0]),
            "steps": last.steps,
        }
        previous = [0] + [r.steps for r in rungs[:-1]]
        self.member_steps = sum(
            len(r.runs) * (r.steps - p) for r, p in zip(rungs, previous, strict=True)
        )
        self.fidelity = [self._spearman(r) for r in rungs]

    def _spearman(self, rung: Rung) -> float:
        if len(self.audited) < 3:
            return math.nan
        from scipy import stats

        def ranks(r: Rung) -> np.ndarray:
            order = ranked(r.scores(self.metric, self.audited), self.mode)
            return np.argsort(order)

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a constant rank vector: undefined, NaN
            rho = stats.spearmanr(ranks(rung), ranks(self.rungs[-1])).statistic
        return float(rho)

    def records(self) -> list[dict[str, Any]]:
        """One dict per run: its index, hyperparameters, the steps it reached and its metrics
        there, ranked as :meth:`table` (furthest rung first, then by ``metric``).

        Returns:
          A list of ``space.size`` dicts (NaN metrics for diverged runs).

        Example:
          >>> from jaxloss import sweep
          >>> trainer = sweep.Trainer(lambda x: x, lambda s, n, x: s,
          ...                         lambda s, x: {"loss": s * s})
          >>> r = sweep.halving(trainer, sweep.Grid(x=[2.0, -1.0]), metric="loss",
          ...                   min_steps=1, max_steps=2, eta=2)
          >>> r.records()[0]
          {'index': 1, 'x': -1.0, 'steps': 2, 'loss': 1.0}
        """
        records: list[dict[str, Any]] = []
        seen: set[int] = set()
        for rung in reversed(self.rungs):
            scores = rung.scores(self.metric, rung.candidates)
            for position in ranked(scores, self.mode):
                run = int(rung.candidates[position])
                if run in seen:
                    continue
                seen.add(run)
                row = int(np.searchsorted(rung.runs, run))
                metrics = {k: float(v[row]) for k, v in rung.metrics.items()}
                records.append({"index": run, **self.space.point(run), "steps": rung.steps,
                                **metrics})  # fmt: skip
        return records

    def table(self, top: int | None = None) -> str:
        """A Markdown table of runs, ranked by the rung they reached, then by ``metric`` there.

        Args:
          top: keep only the first ``top`` rows.

        Returns:
          The table: rank, hyperparameters, the steps reached and the metric there.

        Example:
          >>> from jaxloss import sweep
          >>> trainer = sweep.Trainer(lambda x: x, lambda s, n, x: s,
          ...                         lambda s, x: {"loss": s * s})
          >>> r = sweep.halving(trainer, sweep.Grid(x=[2.0, -1.0]), metric="loss",
          ...                   min_steps=1, max_steps=2, eta=2)
          >>> print(r.table())
          | rank | x | steps | loss |
          |---:|---:|---:|---:|
          | 1 | -1 | 2 | 1 |
          | 2 | 2 | 1 | 4 |
        """
        header = ["rank", *self.space.names, "steps", self.metric]
        lines = ["| " + " | ".join(header) + " |", "|" + "---:|" * len(header)]
        records = self.records()
        for rank, record in enumerate(records[:top] if top else records, start=1):
            cells = [f"{record[name]:g}" for name in self.space.names]
            score = record[self.metric]
            value = "diverged" if math.isnan(score) else f"{score:.4g}"
            lines.append("| " + " | ".join([str(rank), *cells, str(record["steps"]), value]) + " |")
        return "\n".join(lines)

    def to_json(self, path: str | os.PathLike) -> None:
        """The schedule, every rung's runs and metrics, the winner and the audit, as JSON.

        Args:
          path: the file to write (atomically).

        Returns:
          None.

        Example:
          >>> import json, tempfile, pathlib
          >>> from jaxloss import sweep
          >>> trainer = sweep.Trainer(lambda x: x, lambda s, n, x: s,
          ...                         lambda s, x: {"loss": s * s})
          >>> r = sweep.halving(trainer, sweep.Grid(x=[2.0, -1.0]), metric="loss",
          ...                   min_steps=1, max_steps=2, eta=2)
          >>> path = pathlib.Path(tempfile.mkdtemp()) / "halving.json"
          >>> r.to_json(path); json.loads(path.read_text())["schedule"]
          [[2, 1], [1, 2]]
        """
        document = {
            "space": self.space.describe(),
            "metric": self.metric,
            "mode": self.mode,
            "eta": self.eta,
            "schedule": [list(s) for s in self.schedule],
            "best": self.best,
            "member_steps": self.member_steps,
            "audited": self.audited.tolist(),
            "fidelity": [json_number(f) for f in self.fidelity],
            "rungs": [
                {
                    "steps": r.steps,
                    "candidates": r.candidates.tolist(),
                    "kept": r.kept.tolist(),
                    "runs": [
                        {
                            "index": int(run),
                            **self.space.point(int(run)),
                            **{k: json_number(v[i]) for k, v in r.metrics.items()},
                        }
                        for i, run in enumerate(r.runs)
                    ],
                }
                for r in self.rungs
            ],
        }
        atomic_write(path, json.dumps(document, indent=2).encode())


def _check_settings(space: Space, metric: object, min_steps: object, max_steps: object,
                    eta: object, mode: object, audit: object) -> None:  # fmt: skip
    def count(arg: str, value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ValueError(f"jaxloss.sweep.halving: {arg} must be an int >= 1; got {value!r}.")
        return int(value)

    if not isinstance(metric, str):
        raise TypeError(f"jaxloss.sweep.halving: metric must be a str; got {metric!r}.")
    low, high = count("min_steps", min_steps), count("max_steps", max_steps)
    if low > high:
        raise ValueError(
            f"jaxloss.sweep.halving: the first rung's budget min_steps={low} does not fit "
            f"max_steps={high}; use min_steps <= max_steps."
        )
    if isinstance(eta, bool) or not isinstance(eta, int | float) or not eta >= 2:
        raise ValueError(
            f"jaxloss.sweep.halving: eta must be a number >= 2 (keep the best 1/eta each rung); "
            f"got {eta!r}."
        )
    if mode not in ("min", "max"):
        raise ValueError(f"jaxloss.sweep.halving: mode must be 'min' or 'max'; got {mode!r}.")
    if isinstance(audit, bool) or not isinstance(audit, int) or not 0 <= audit <= space.size:
        raise ValueError(
            f"jaxloss.sweep.halving: audit must be an int in [0, {space.size}] (runs to train "
            f"through every rung); got {audit!r}."
        )


def halving(
    trainer: Trainer,
    space: Space,
    *,
    metric: str,
    min_steps: int,
    max_steps: int,
    eta: float = 3,
    mode: str = "min",
    audit: int = 0,
    audit_seed: int = 0,
    warn_below: float = 0.5,
    chunk_size: int | None = None,
    devices: Sequence[jax.Device] | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    progress: bool | Callable[[int, int], None] = False,
) -> HalvingResult:
    """Successive halving over ``space``, every rung one batched program on all devices.

    Rung 0 trains every run of the space for ``min_steps`` steps (``trainer.init``, then
    ``trainer.advance``); each later rung keeps the best ``⌈n_i/η⌉`` by ``metric`` (diverged
    NaN scores last, ties by run index) and continues them *from their states* for ``η×``
    the budget in all, up to ``max_steps`` (:func:`schedule`, equal to scikit-learn's
    ``HalvingRandomSearchCV``). A rung's runs are split over the devices (``shard_map``,
    no communication), in batches of ``chunk_size``.

    **Fidelity audit.** Short runs can favour the wrong configurations (large learning
    rates look best early). With ``audit=k``, ``k`` runs drawn at random
    (``numpy.random.default_rng(audit_seed)``) train through every rung whether or not they
    survive; :attr:`HalvingResult.fidelity` holds, per rung, Spearman's rank correlation
    between their scores there and at the last rung, and a ``UserWarning`` names the rungs
    whose correlation is below ``warn_below``: there, early scores cannot be trusted to
    prune, and a larger ``min_steps`` (or plain random search) is the safer choice.

    Args:
      trainer: the run protocol (:class:`Trainer`).
      space: a :class:`Grid`, :class:`Random` or :class:`Sobol`; every run is a candidate.
      metric: the key of ``trainer.evaluate``'s dict to rank by.
      min_steps: the first rung's budget (steps per run).
      max_steps: the largest budget.
      eta: the halving factor (``>= 2``).
      mode: ``"min"`` or ``"max"``: which end of ``metric`` is best.
      audit: the number of runs to train through every rung (0: no audit).
      audit_seed: the seed that draws them.
      warn_below: warn for rungs whose audit correlation is below this.
      chunk_size: runs per program call (rounded up to the device count); ``None``: each
        rung at once.
      devices: the devices; ``None`` for ``jax.devices()``.
      checkpoint_dir: if given, each finished rung (runs, metrics and states) is written
        there atomically beside a manifest that identifies the search (space, settings,
        the fingerprint of every compiled rung program, versions); a rerun loads finished
        rungs and computes the rest, and a folder of another search is refused before any
        compute.
      progress: print one line per rung, or a callable ``progress(rungs_done, rungs)``
        called after every rung (once it is saved to ``checkpoint_dir``), which may raise to
        stop the search there.

    Returns:
      A :class:`HalvingResult`.

    Raises:
      ValueError: for bad settings (min_steps > max_steps, eta < 2, ...), a hyperparameter
        the trainer does not take, or a metric ``evaluate`` does not return, before any
        compute.

    Example:
      >>> from jaxloss import sweep
      >>> trainer = sweep.Trainer(
      ...   init=lambda lr: 0.0 * lr,
      ...   advance=lambda w, num_steps, lr: w + num_steps * lr * (1.0 - w) / 100,
      ...   evaluate=lambda w, lr: {"gap": abs(1.0 - w)})
      >>> space = sweep.Random(9, lr=sweep.LogUniform(1e-2, 1.0), seed=0)
      >>> result = sweep.halving(trainer, space, metric="gap", min_steps=10, max_steps=90)
      >>> result.schedule, result.member_steps
      ([(9, 10), (3, 30), (1, 90)], 210)
    """
    trainer, space = check_trainer(trainer, space, "halving")
    _check_settings(space, metric, min_steps, max_steps, eta, mode, audit)
    if chunk_size is not None and (isinstance(chunk_size, bool) or chunk_size < 1):
        raise ValueError(f"jaxloss.sweep.halving: chunk_size must be >= 1; got {chunk_size!r}.")
    devices = _batched.device_list(devices, "halving")
    plan = schedule(space.size, min_steps, max_steps, eta)
    state_struct = state_shape(trainer, space, metric, "halving")  # checks the protocol
    audited = np.sort(np.random.default_rng(audit_seed).choice(space.size, audit, replace=False))
    directory = None if checkpoint_dir is None else pathlib.Path(checkpoint_dir)

    programs = []
    for i, (count, steps) in enumerate(plan):
        most = count + audit  # the rung's runs, at most (audited runs may be candidates)
        batch = _batched.batch_size(min(chunk_size or most, most), most, len(devices))
        start = 0 if i == 0 else plan[i - 1][1]
        programs.append(stage_program(
            trainer, space, steps=steps - start, first=i == 0, state=state_struct, batch=batch,
            devices=devices, metric=metric, owner="halving",
            with_fingerprint=directory is not None,
        ))  # fmt: skip
    if directory is not None:
        manifest = _manifest(space, metric, mode, eta, plan, audited, programs)
        _stages.check_manifest(directory, manifest, MANIFEST, "halving",
                               write=jax.process_index() == 0)  # fmt: skip
        if jax.process_count() > 1:
            multihost_utils.sync_global_devices("jaxloss.sweep.halving")

    points = space.points()
    rungs: list[Rung] = []
    states: PyTree = None
    computed = loaded = 0
    for i, ((n_candidates, steps), program) in enumerate(zip(plan, programs, strict=True)):
        candidates = np.arange(space.size) if i == 0 else rungs[-1].kept
        assert len(candidates) == n_candidates
        runs = np.union1d(candidates, audited)
        path = None if directory is None else _stages.stage_path(directory, "rung", i)
        if path is not None and path.exists():
            arrays, states = _stages.load(path, state_struct, len(runs))
            if not np.array_equal(arrays["runs"], runs):
                raise ValueError(
                    f"jaxloss.sweep.halving: {path} holds other runs than this search's rung "
                    f"{i}; the folder was changed by hand. Use a new checkpoint_dir."
                )
            metrics = {k.removeprefix("metric/"): v for k, v in arrays.items() if k != "runs"}
            loaded += 1
        else:
            inputs: PyTree = points
            index = runs
            if i > 0:
                previous = rungs[-1].runs
                inputs = {"state": states, "hp": {k: v[previous] for k, v in points.items()}}
                index = np.searchsorted(previous, runs)
            out = _call_in_batches(program, inputs, index)
            states, metrics = out["state"], out["metrics"]
            if path is not None and jax.process_index() == 0:
                arrays = {"runs": runs, **{f"metric/{k}": v for k, v in metrics.items()}}
                _stages.save(path, arrays, states)
            computed += 1
        last = i == len(plan) - 1
        keep = 0 if last else math.ceil(n_candidates / eta)
        scores = metrics[metric][np.searchsorted(runs, candidates)]
        kept = np.sort(candidates[ranked(scores, mode)[:keep]])
        rungs.append(Rung(steps, candidates, runs, metrics, kept))
        if callable(progress):
            progress(i + 1, len(plan))
        elif progress:
            print(f"jaxloss.sweep.halving: rung {i + 1}/{len(plan)}: {len(runs)} runs to "
                  f"{steps} steps", flush=True)  # fmt: skip

    result = HalvingResult(space, metric, mode, eta, plan, rungs, states, audited, computed,
                           loaded)  # fmt: skip
    _warn_low_fidelity(result, warn_below)
    return result


def _call_in_batches(program: _batched.Program, inputs: PyTree, index: np.ndarray) -> PyTree:
    """The program's outputs for ``inputs[index]``, in batches of the program's size."""
    batch = program.leaf_shapes[0].shape[0]
    parts = [
        _batched.call(program, inputs, index[start : start + batch], batch)
        for start in range(0, len(index), batch)
    ]
    leaves = [np.concatenate(column) for column in zip(*parts, strict=True)]
    return jax.tree.unflatten(program.treedef, leaves)


def _warn_low_fidelity(result: HalvingResult, threshold: float) -> None:
    low = [
        f"rung {i} ({rung.steps} steps): rho = {rho:.2f}"
        for i, (rung, rho) in enumerate(zip(result.rungs[:-1], result.fidelity, strict=False))
        if not math.isnan(rho) and rho < threshold
    ]
    if low:
        warnings.warn(
            f"jaxloss.sweep.halving: early scores rank the {len(result.audited)} audited runs "
            f"unlike their final scores ({'; '.join(low)}; Spearman, warn_below={threshold}). "
            "Pruning there may drop the best configurations: raise min_steps, or compare "
            "with random search of the same budget.",
            UserWarning,
            stacklevel=3,
        )


def _manifest(space: Space, metric: str, mode: str, eta: float, plan: list[tuple[int, int]],
              audited: np.ndarray, programs: list[_batched.Program]) -> dict[str, Any]:  # fmt: skip
    from .. import __version__

    return {
        "format": _stages.FORMAT,
        "search": "halving",
        "jaxloss": __version__,
        "jax": jax.__version__,
        "space": space.describe(),
        "metric": metric,
        "mode": mode,
        "eta": eta,
        "schedule": [list(s) for s in plan],
        "audited": audited.tolist(),
        "programs": [p.fingerprint for p in programs],
    }


class HyperbandResult:
    """What :func:`hyperband` returns: one :class:`HalvingResult` per bracket and the winner.

    Attributes:
      brackets: the successive-halving runs, most aggressive first (bracket ``s`` starts
        ``n_s`` fresh samples at ``max_steps / η^s`` steps).
      best: ``{"bracket", "config", "score", "steps"}``: the best final run over the
        brackets.
      member_steps: the steps of all runs of all brackets together.

    Example:
      >>> from jaxloss import sweep
      >>> trainer = sweep.Trainer(lambda lr: 0.0 * lr,
      ...                         lambda w, n, lr: w + n * lr * (1.0 - w) / 100,
      ...                         lambda w, lr: {"gap": abs(1.0 - w)})
      >>> space = sweep.Random(1, lr=sweep.LogUniform(1e-2, 1.0))
      >>> result = sweep.hyperband(trainer, space, metric="gap", min_steps=10, max_steps=90)
      >>> [b.schedule for b in result.brackets]
      [[(9, 10), (3, 30), (1, 90)], [(5, 30), (2, 90)], [(3, 90)]]
    """

    def __init__(self, brackets: list[HalvingResult], mode: str) -> None:
        self.brackets = brackets
        scores = np.array([b.best["score"] for b in brackets])
        order = ranked(scores, mode)
        winner = int(order[0])
        self.best: dict[str, Any] = {"bracket": winner, **{k: brackets[winner].best[k]
                                            for k in ("config", "score", "steps")}}  # fmt: skip
        self.member_steps = sum(b.member_steps for b in brackets)


def hyperband(
    trainer: Trainer,
    space: Random,
    *,
    metric: str,
    min_steps: int,
    max_steps: int,
    eta: float = 3,
    mode: str = "min",
    devices: Sequence[jax.Device] | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    progress: bool = False,
) -> HyperbandResult:
    """Hyperband (Li et al., 2018): successive halving in brackets from bold to cautious.

    With ``s_max = ⌊log_η(max_steps / min_steps)⌋``, bracket ``s = s_max, ..., 0`` draws
    ``n_s = ⌈(s_max + 1) η^s / (s + 1)⌉`` fresh configurations from ``space``
    (``space.resampled(n_s, space.sample_seed + s)``, list axes crossed as before) and runs
    :func:`halving` on them from ``⌊max_steps / η^s⌋`` steps: the first bracket prunes
    hardest from the shortest runs, the last trains a few configurations to the maximum
    without pruning, hedging against early scores that cannot be trusted.

    Args:
      trainer: the run protocol (:class:`Trainer`).
      space: a :class:`Random` or :class:`Sobol` to sample each bracket from (its ``n``
        is replaced by each bracket's ``n_s``).
      metric: the key of ``trainer.evaluate``'s dict to rank by.
      min_steps: the smallest first-rung budget.
      max_steps: the largest budget.
      eta: the halving factor (``>= 2``).
      mode: ``"min"`` or ``"max"``.
      devices: the devices; ``None`` for ``jax.devices()``.
      checkpoint_dir: if given, bracket ``s`` is checkpointed in ``bracket-s`` below it.
      progress: print one line per rung.

    Returns:
      A :class:`HyperbandResult`.

    Example:
      >>> from jaxloss import sweep
      >>> trainer = sweep.Trainer(lambda lr: 0.0 * lr,
      ...                         lambda w, n, lr: w + n * lr * (1.0 - w) / 100,
      ...                         lambda w, lr: {"gap": abs(1.0 - w)})
      >>> space = sweep.Sobol(1, lr=sweep.LogUniform(1e-2, 1.0))
      >>> result = sweep.hyperband(trainer, space, metric="gap", min_steps=10, max_steps=90)
      >>> result.best["steps"], result.member_steps
      (90, 750)
    """
    if not isinstance(space, Random):
        raise TypeError(
            "jaxloss.sweep.hyperband: the space must be a sweep.Random or sweep.Sobol (each "
            f"bracket draws its own configurations); got {type(space).__name__}."
        )
    _check_settings(space, metric, min_steps, max_steps, eta, mode, 0)
    s_max = _floor_log(max_steps // min_steps, eta)
    brackets = []
    for s in range(s_max, -1, -1):
        n = math.ceil((s_max + 1) * eta**s / (s + 1))
        folder = None if checkpoint_dir is None else pathlib.Path(checkpoint_dir) / f"bracket-{s}"
        brackets.append(halving(
            trainer, space.resampled(n, space.sample_seed + s), metric=metric,
            min_steps=int(max_steps / eta**s), max_steps=max_steps, eta=eta, mode=mode,
            devices=devices, checkpoint_dir=folder, progress=progress,
        ))  # fmt: skip
    return HyperbandResult(brackets, mode)
