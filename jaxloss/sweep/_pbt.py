"""Population-based training: a population trains, and the worst copy and perturb the best.

Every generation is one compiled program over the whole population: first *exploit and
explore* (from the second generation on: the bottom ``fraction`` by the previous
generation's scores copy the state and explored hyperparameters of a random member of the
top ``fraction``, then perturb each explored hyperparameter by ``× 0.8`` or ``× 1.25``, or
resample it from its distribution), then ``advance`` by ``interval`` steps and
``evaluate``, vmapped and sharded over the devices. Hyperparameters are traced inputs, so a
new learning rate costs no recompilation, and a member never exploited follows exactly the
trajectory of a plain run. The decisions are drawn from ``fold_in(key(seed), generation)``,
so they are reproducible and a resumed search (one checkpoint per generation) equals an
uninterrupted one.
"""

from __future__ import annotations

import json
import math
import os
import pathlib
import weakref
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import NamedSharding, PartitionSpec

from .._cache import WeakCache
from .._io import atomic_write
from . import _batched, _checkpoint, _stages
from ._result import json_number, ranked
from ._space import Distribution, IntUniform, Random, Space, python_value
from ._trainer import Trainer, check_trainer, example_hp, held_weakly, next_stage, state_shape

PyTree = Any
MANIFEST = "pbt.json"
_PROGRAMS = WeakCache()


def exploit(
    key: jax.Array, scores: jax.Array, members: int, fraction: float, mode: str
) -> tuple[jax.Array, jax.Array]:
    """Which member each member continues from: the bottom copy a random top member.

    Ranks the first ``members`` entries of ``scores`` (NaN last, ties by position; entries
    beyond ``members`` are padding and never chosen), takes ``q = max(1, ⌊fraction ·
    members⌋)`` from each end, and gives bottom member ``j`` (in rank order) the source
    ``top[randint(key, (q,), 0, q)[j]]``.

    Args:
      key: the exploit key.
      scores: the population's scores (padded).
      members: the real population size.
      fraction: the share of the population in the top and in the bottom.
      mode: ``"min"`` or ``"max"``.

    Returns:
      ``(sources, exploited)``: per member, the member to copy (itself when kept) and
      whether it copies.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from jaxloss import sweep
      >>> scores = jnp.array([0.1, 0.9, 0.5, 0.3])
      >>> sources, exploited = sweep.exploit(jax.random.key(0), scores, 4, 0.25, "min")
      >>> sources.tolist(), exploited.tolist()
      ([0, 0, 2, 3], [False, True, False, False])
    """
    size = scores.shape[0]
    ranked = scores if mode == "min" else -scores
    invalid = jnp.isnan(ranked) | (jnp.arange(size) >= members)
    order = jnp.argsort(jnp.where(invalid, jnp.inf, ranked), stable=True)
    q = max(1, int(fraction * members))
    top, bottom = order[:q], order[members - q : members]
    picks = jax.random.randint(key, (q,), 0, q)
    sources = jnp.arange(size).at[bottom].set(top[picks])
    exploited = jnp.zeros(size, jnp.bool_).at[bottom].set(True)
    return sources, exploited


def explore(
    key: jax.Array,
    values: jax.Array,
    exploited: jax.Array,
    distribution: Distribution,
    resample_probability: float,
    perturb: tuple[float, float],
    members: int | None = None,
) -> jax.Array:
    """New values of one explored hyperparameter for the members that copied.

    With keys ``k_r, k_d, k_u = split(key, 3)``: a member resamples from ``distribution``
    (at ``uniform(k_u)``) where ``uniform(k_r) < resample_probability``, else multiplies its
    copied value by ``perturb[1]`` where ``bernoulli(k_d, 0.5)`` and ``perturb[0]``
    otherwise, clipped to the distribution's bounds (integer and choice axes change only by
    resampling). Members that did not copy keep their value.

    Args:
      key: this hyperparameter's explore key.
      values: the copied values.
      exploited: which members copied.
      distribution: the hyperparameter's distribution.
      resample_probability: the probability of resampling.
      perturb: the two factors.
      members: the real population size (draws have this shape, so padding members,
        beyond it, never change the real members' draws); ``None``: all of ``values``.

    Returns:
      The new values.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from jaxloss import sweep
      >>> values = jnp.array([0.1, 0.1], jnp.float32)
      >>> new = sweep.explore(jax.random.key(0), values, jnp.array([False, True]),
      ...                     sweep.LogUniform(1e-3, 1.0), 0.0, (0.8, 1.25))
      >>> [round(float(v), 3) for v in new]
      [0.1, 0.125]
    """
    k_resample, k_direction, k_unit = jax.random.split(key, 3)
    size = values.shape[0]
    count = size if members is None else members

    def draw(sample: jax.Array) -> jax.Array:
        return jnp.concatenate([sample, jnp.zeros(size - count, sample.dtype)])

    resample = draw(jax.random.uniform(k_resample, (count,)) < resample_probability)
    fresh = distribution.from_unit(draw(jax.random.uniform(k_unit, (count,))))
    perturbed = values
    if not isinstance(distribution, IntUniform) and distribution.dtype == np.float32:
        up = draw(jax.random.bernoulli(k_direction, 0.5, (count,)))
        factor = jnp.where(up, np.float32(perturb[1]), np.float32(perturb[0]))
        low, high = distribution.bounds
        perturbed = jnp.clip(values * factor, np.float32(low), np.float32(high))
    return jnp.where(exploited, jnp.where(resample, fresh, perturbed), values)


class _Settings(NamedTuple):
    """The static settings of a PBT search (with the space's description, a cache key)."""

    space: Random
    metric: str
    mode: str
    interval: int
    fraction: float
    resample_probability: float
    perturb: tuple[float, float]
    seed: int

    def key(self) -> tuple:
        return (json.dumps(self.space.describe(), sort_keys=True), *self[1:])


def _generation_fn(trainer: Trainer, settings: _Settings, sharding: NamedSharding,
                   members: int) -> Callable[..., PyTree]:  # fmt: skip
    """One generation over the padded population: exploit/explore, then advance and evaluate."""
    space = settings.space
    stage = _batched.independent(
        next_stage(trainer, settings.interval, settings.metric, "pbt"), sharding
    )

    def generation(states: PyTree, hp: dict[str, jax.Array], scores: jax.Array,
                   index: jax.Array) -> PyTree:  # fmt: skip
        key = jax.random.fold_in(jax.random.key(settings.seed), index)
        k_exploit, k_explore = jax.random.split(key)
        sources, exploited = exploit(k_exploit, scores, members, settings.fraction,
                                     settings.mode)  # fmt: skip
        first = index == 0  # the first generation trains from init: nothing to copy yet
        sources = jnp.where(first, jnp.arange(sources.shape[0]), sources)
        exploited = exploited & ~first
        states = jax.tree.map(lambda leaf: leaf[sources], states)
        new_hp = dict(hp)
        for j, (name, dist) in enumerate(space.distributions.items()):
            new_hp[name] = explore(jax.random.fold_in(k_explore, j), hp[name][sources],
                                   exploited, dist, settings.resample_probability,
                                   settings.perturb, members)  # fmt: skip
        out = stage({"state": states, "hp": new_hp})
        return {"state": out["state"], "metrics": out["metrics"], "hp": new_hp,
                "sources": sources}  # fmt: skip

    return generation


def _programs(
    trainer: Trainer,
    settings: _Settings,
    state: PyTree,
    size: int,
    devices: list[jax.Device],
    members: int,
    with_fingerprint: bool,
) -> tuple[_batched.Program, Any, str | None]:
    """The init program and the compiled generation program, cached while the trainer lives.

    ``state`` is one member's state as shape-dtype structs (computed once by the caller).
    """
    space = settings.space
    key = ("pbt", settings.key(), size, tuple(devices), members, with_fingerprint)

    def build(ref: weakref.ref[Any] | Callable[[], Any]) -> tuple[Any, Any, str | None]:
        proxy = held_weakly(ref)
        hp = example_hp(space)
        init = _batched.compile_program(lambda h: proxy.init(**h), hp, size, devices,
                                        with_fingerprint)  # fmt: skip
        sharding = _batched.mesh_sharding(devices)
        replicated = NamedSharding(sharding.mesh, PartitionSpec())

        def batched(s: jax.ShapeDtypeStruct) -> jax.ShapeDtypeStruct:
            return jax.ShapeDtypeStruct((size, *s.shape), s.dtype, sharding=sharding)

        args = (jax.tree.map(batched, state), jax.tree.map(batched, hp),
                batched(jax.ShapeDtypeStruct((), jnp.float32)),
                jax.ShapeDtypeStruct((), jnp.int32, sharding=replicated))  # fmt: skip
        fn = _generation_fn(proxy, settings, sharding, members)
        traced = jax.jit(fn, out_shardings=sharding).trace(*args)
        lowered = traced.lower()
        fingerprint = None
        if with_fingerprint:
            text = lowered.as_text() + (init.fingerprint or "")
            fingerprint = _checkpoint.fingerprint(text, traced.jaxpr.consts)
        return init, lowered.compile(), fingerprint

    return _PROGRAMS.get(trainer, key, build)


class PBTResult:
    """What :func:`pbt` returns: every generation's scores, hyperparameters and parents.

    Arrays are shaped ``(generations, population)``; member ``i`` is run ``i`` of the space.

    Attributes:
      space: the space the population was drawn from.
      metric, mode, interval: the settings.
      scores: ``trainer.evaluate``'s values at the end of each generation, by key.
      hyperparameters: the hyperparameters each member trained with in each generation.
      parents: the member whose state each member started each generation from (itself
        unless it was exploited then; generation 0 starts from ``init``).
      states: the final states (a pytree of NumPy arrays, one row per member).
      best: ``{"member", "score", "config"}``: the best member at the end, its score and
        final hyperparameters.
      member_steps: ``population × interval × generations``.
      generations_computed, generations_loaded: by this call, and from ``checkpoint_dir``.

    Example:
      >>> from jaxloss import sweep
      >>> trainer = sweep.Trainer(lambda lr: 0.0 * lr,
      ...                         lambda w, n, lr: w + n * lr * (1.0 - w) / 10,
      ...                         lambda w, lr: {"gap": abs(1.0 - w)})
      >>> space = sweep.Random(4, lr=sweep.LogUniform(1e-3, 0.1))
      >>> result = sweep.pbt(trainer, space, metric="gap", interval=5, generations=3)
      >>> result.scores["gap"].shape, result.parents.shape
      ((3, 4), (3, 4))
    """

    def __init__(self, space: Space, metric: str, mode: str, interval: int,
                 records: list[dict[str, np.ndarray]], states: PyTree, computed: int,
                 loaded: int) -> None:  # fmt: skip
        self.space, self.metric, self.mode, self.interval = space, metric, mode, interval
        self.scores = {
            k.removeprefix("metric/"): np.stack([r[k] for r in records])
            for k in records[0] if k.startswith("metric/")
        }  # fmt: skip
        self.hyperparameters = {
            name: np.stack([r[f"hp/{name}"] for r in records]) for name in space.names
        }
        self.parents = np.stack([r["sources"] for r in records])
        self.states = states
        self.generations_computed, self.generations_loaded = computed, loaded
        final = self.scores[metric][-1]
        member = int(ranked(final, mode)[0])
        self.best: dict[str, Any] = {
            "member": member,
            "score": float(final[member]),
            "config": self._config(len(records) - 1, member),
        }
        self.member_steps = final.shape[0] * interval * len(records)

    def _config(self, generation: int, member: int) -> dict[str, float | int]:
        return {k: python_value(v[generation, member]) for k, v in self.hyperparameters.items()}

    def lineage(self, member: int) -> list[dict[str, Any]]:
        """The chain of members whose training led to ``member``'s final state.

        Args:
          member: a member index.

        Returns:
          One dict per generation, oldest first: ``{"generation", "member", "score",
          **hyperparameters}``: which member trained the state in that generation, with
          which hyperparameters (its schedule), and its score at the end.

        Example:
          >>> from jaxloss import sweep
          >>> trainer = sweep.Trainer(lambda lr: 0.0 * lr, lambda w, n, lr: w + n * lr,
          ...                         lambda w, lr: {"gap": abs(1.0 - w)})
          >>> r = sweep.pbt(trainer, sweep.Random(4, lr=sweep.Uniform(0.0, 0.1)),
          ...               metric="gap", interval=2, generations=3)
          >>> [step["generation"] for step in r.lineage(r.best["member"])]
          [0, 1, 2]
        """
        chain = [member]
        for generation in range(self.parents.shape[0] - 1, 0, -1):
            chain.append(int(self.parents[generation, chain[-1]]))
        chain.reverse()
        return [
            {"generation": g, "member": m, "score": float(self.scores[self.metric][g, m]),
             **self._config(g, m)}
            for g, m in enumerate(chain)
        ]  # fmt: skip

    def table(self, top: int | None = None) -> str:
        """A Markdown table of the final population ranked by ``metric``.

        Args:
          top: keep only the best ``top`` rows.

        Returns:
          The table: rank, member, its final hyperparameters, how many times it copied
          another member, and its final score.

        Example:
          >>> from jaxloss import sweep
          >>> trainer = sweep.Trainer(lambda lr: 0.0 * lr, lambda w, n, lr: w + n * lr,
          ...                         lambda w, lr: {"gap": abs(1.0 - w)})
          >>> r = sweep.pbt(trainer, sweep.Random(4, lr=sweep.Uniform(0.0, 0.1)),
          ...               metric="gap", interval=2, generations=2)
          >>> r.table().splitlines()[0]
          '| rank | member | lr | copies | gap |'
        """
        header = ["rank", "member", *self.hyperparameters, "copies", self.metric]
        lines = ["| " + " | ".join(header) + " |", "|" + "---:|" * len(header)]
        records = self.records()
        for rank, record in enumerate(records[:top] if top else records, start=1):
            cells = [f"{record[name]:g}" for name in self.hyperparameters]
            score = record[self.metric]
            value = "diverged" if math.isnan(score) else f"{score:.4g}"
            lines.append("| " + " | ".join([str(rank), str(record["member"]), *cells,
                                            str(record["copies"]), value]) + " |")  # fmt: skip
        return "\n".join(lines)

    def records(self) -> list[dict[str, Any]]:
        """The final population, best first: one dict per member with its final
        hyperparameters, how many times it copied another member, and its final metrics.

        Returns:
          A list of ``population`` dicts.

        Example:
          >>> from jaxloss import sweep
          >>> trainer = sweep.Trainer(lambda lr: 0.0 * lr, lambda w, n, lr: w + n * lr,
          ...                         lambda w, lr: {"gap": abs(1.0 - w)})
          >>> r = sweep.pbt(trainer, sweep.Random(4, lr=sweep.Uniform(0.0, 0.1)),
          ...               metric="gap", interval=2, generations=2)
          >>> sorted(r.records()[0])
          ['copies', 'gap', 'lr', 'member']
        """
        final = self.scores[self.metric][-1]
        copies = (self.parents != np.arange(final.shape[0])).sum(axis=0)
        return [
            {"member": int(m), **self._config(-1, int(m)), "copies": int(copies[m]),
             **{k: float(v[-1, m]) for k, v in self.scores.items()}}
            for m in ranked(final, self.mode)
        ]  # fmt: skip

    def to_json(self, path: str | os.PathLike) -> None:
        """Every generation's scores, hyperparameters and parents, and the winner, as JSON.

        Args:
          path: the file to write (atomically).

        Returns:
          None.

        Example:
          >>> import json, tempfile, pathlib
          >>> from jaxloss import sweep
          >>> trainer = sweep.Trainer(lambda lr: 0.0 * lr, lambda w, n, lr: w + n * lr,
          ...                         lambda w, lr: {"gap": abs(1.0 - w)})
          >>> r = sweep.pbt(trainer, sweep.Random(4, lr=sweep.Uniform(0.0, 0.1)),
          ...               metric="gap", interval=2, generations=2)
          >>> path = pathlib.Path(tempfile.mkdtemp()) / "pbt.json"
          >>> r.to_json(path); len(json.loads(path.read_text())["generations"])
          2
        """

        def numbers(values: np.ndarray) -> list[float | int | None]:
            return [json_number(v) for v in values.tolist()]

        document = {
            "space": self.space.describe(),
            "metric": self.metric,
            "mode": self.mode,
            "interval": self.interval,
            "best": self.best,
            "best_lineage": self.lineage(self.best["member"]),
            "member_steps": self.member_steps,
            "generations": [
                {"scores": {k: numbers(v[g]) for k, v in self.scores.items()},
                 "hyperparameters": {k: numbers(v[g]) for k, v in self.hyperparameters.items()},
                 "parents": self.parents[g].tolist()}
                for g in range(self.parents.shape[0])
            ],
        }  # fmt: skip
        atomic_write(path, json.dumps(document, indent=2).encode())


def _check_settings(space: Space, interval: object, generations: object, mode: object,
                    fraction: object, resample_probability: object, perturb: object,
                    seed: object) -> None:  # fmt: skip
    if not isinstance(space, Random):
        raise TypeError(
            "jaxloss.sweep.pbt: the space must be a sweep.Random or sweep.Sobol: PBT resamples "
            f"hyperparameters from its distributions; got {type(space).__name__}."
        )
    for arg, value in (("interval", interval), ("generations", generations)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ValueError(f"jaxloss.sweep.pbt: {arg} must be an int >= 1; got {value!r}.")
    if space.size < 2:
        raise ValueError(f"jaxloss.sweep.pbt: the population needs >= 2 members; got {space.size}.")
    if mode not in ("min", "max"):
        raise ValueError(f"jaxloss.sweep.pbt: mode must be 'min' or 'max'; got {mode!r}.")
    if (
        isinstance(fraction, bool)
        or not isinstance(fraction, int | float)
        or not 0 < fraction <= 0.5
    ):
        raise ValueError(
            "jaxloss.sweep.pbt: fraction must be in (0, 0.5] (the share of the population in "
            f"the top and in the bottom); got {fraction!r}."
        )
    p = resample_probability
    if isinstance(p, bool) or not isinstance(p, int | float) or not 0 <= p <= 1:
        raise ValueError(f"jaxloss.sweep.pbt: resample_probability must be in [0, 1]; got {p!r}.")
    factors = perturb if isinstance(perturb, tuple) else ()
    if len(factors) != 2 or not all(
        isinstance(f, int | float) and math.isfinite(f) and f > 0 for f in factors
    ):
        raise ValueError(
            f"jaxloss.sweep.pbt: perturb must be two positive factors, e.g. (0.8, 1.25); got "
            f"{perturb!r}."
        )
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise TypeError(f"jaxloss.sweep.pbt: seed must be an int; got {seed!r}.")


def pbt(
    trainer: Trainer,
    space: Random,
    *,
    metric: str,
    interval: int,
    generations: int,
    mode: str = "min",
    fraction: float = 0.25,
    resample_probability: float = 0.25,
    perturb: tuple[float, float] = (0.8, 1.25),
    seed: int = 0,
    devices: Sequence[jax.Device] | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    progress: bool | Callable[[int, int], None] = False,
) -> PBTResult:
    """Population-based training (Jaderberg et al., 2017), each generation one program.

    The population is the runs of ``space`` (a :class:`Random` or :class:`Sobol`, whose
    distribution axes are *explored*; list axes such as ``seed`` stay with their member and
    are never copied). Generation ``g`` runs, in one compiled program sharded over the
    devices: for ``g >= 1``, exploit (:func:`exploit`: the bottom ``fraction`` by the
    previous generation's ``metric`` copy the state and explored hyperparameters of a
    random top-``fraction`` member) and explore (:func:`explore`: perturb by ``perturb``
    or resample with ``resample_probability``), drawn from ``fold_in(key(seed), g)``; then
    ``trainer.advance`` by ``interval`` steps and ``trainer.evaluate``. In total
    ``interval × generations`` steps per member.

    Args:
      trainer: the run protocol (:class:`Trainer`).
      space: the population: a :class:`Random` or :class:`Sobol` (>= 2 runs).
      metric: the key of ``trainer.evaluate``'s dict to rank by.
      interval: steps per generation.
      generations: the number of generations.
      mode: ``"min"`` or ``"max"``.
      fraction: the share of the population in the top and bottom, in (0, 0.5].
      resample_probability: the chance that an explored hyperparameter is resampled from
        its distribution instead of perturbed.
      perturb: the two factors a perturbation multiplies by (each with probability 1/2).
      seed: the seed of the exploit/explore decisions.
      devices: the devices; ``None`` for ``jax.devices()``.
      checkpoint_dir: if given, each generation (states, hyperparameters, scores, parents)
        is written there atomically beside a manifest identifying the search; a rerun
        resumes after the last finished generation and a folder of another search is
        refused before any compute.
      progress: print one line per generation, or a callable
        ``progress(generations_done, generations)`` called after every generation (once it
        is saved to ``checkpoint_dir``), which may raise to stop the search there.

    Returns:
      A :class:`PBTResult`.

    Raises:
      ValueError: for bad settings (fraction outside (0, 0.5], interval < 1, ...), a
        hyperparameter the trainer does not take, or a metric ``evaluate`` does not return,
        before any compute.

    Example:
      >>> from jaxloss import sweep
      >>> trainer = sweep.Trainer(lambda lr: 0.0 * lr,
      ...                         lambda w, n, lr: w + n * lr * (1.0 - w) / 10,
      ...                         lambda w, lr: {"gap": abs(1.0 - w)})
      >>> space = sweep.Random(8, lr=sweep.LogUniform(1e-3, 0.1), seed=1)
      >>> result = sweep.pbt(trainer, space, metric="gap", interval=5, generations=4)
      >>> bool(result.best["score"] <= result.scores["gap"][0].min()), result.member_steps
      (True, 160)
    """
    trainer, _ = check_trainer(trainer, space, "pbt")
    _check_settings(space, interval, generations, mode, fraction, resample_probability,
                    perturb, seed)  # fmt: skip
    if not isinstance(metric, str):
        raise TypeError(f"jaxloss.sweep.pbt: metric must be a str; got {metric!r}.")
    state_struct = state_shape(trainer, space, metric, "pbt")  # checks the protocol
    devices = _batched.device_list(devices, "pbt")
    members = space.size
    size = _batched.batch_size(None, members, len(devices))
    settings = _Settings(space, metric, mode, int(interval), float(fraction),
                         float(resample_probability), (float(perturb[0]), float(perturb[1])),
                         int(seed))  # fmt: skip
    directory = None if checkpoint_dir is None else pathlib.Path(checkpoint_dir)
    init, program, fingerprint = _programs(trainer, settings, state_struct, size, devices,
                                           members, directory is not None)  # fmt: skip
    if directory is not None:
        manifest = _manifest(settings, int(generations), fingerprint)
        _stages.check_manifest(directory, manifest, MANIFEST, "pbt",
                               write=jax.process_index() == 0)  # fmt: skip
        if jax.process_count() > 1:
            multihost_utils.sync_global_devices("jaxloss.sweep.pbt")

    # Padding members copy member 0; they are never ranked, copied from, or reported.
    rows = np.concatenate([np.arange(members), np.zeros(size - members, np.int64)])
    hp = {k: v[rows] for k, v in space.points().items()}
    scores = np.zeros(size, np.float32)
    records = [] if directory is None else _finished(directory, int(generations))
    states: PyTree = None
    if records:  # resume after the last finished generation
        assert directory is not None
        last = _stages.stage_path(directory, "generation", len(records) - 1)
        _, states = _stages.load(last, state_struct, size)
        hp = {k: records[-1][f"hp/{k}"] for k in hp}
        scores = records[-1][f"metric/{metric}"]
    else:
        states = jax.tree.unflatten(init.treedef, _batched.call(init, hp, np.arange(size), size))
    loaded = len(records)
    for g in range(loaded, int(generations)):
        out = _call_generation(program, init.sharding, states, hp, scores, g)
        states, hp, scores = out["state"], out["hp"], out["metrics"][metric]
        arrays = {"sources": out["sources"], **{f"hp/{k}": v for k, v in hp.items()},
                  **{f"metric/{k}": v for k, v in out["metrics"].items()}}  # fmt: skip
        if directory is not None and jax.process_index() == 0:
            _stages.save(_stages.stage_path(directory, "generation", g), arrays, states)
        records.append(arrays)
        if callable(progress):
            progress(g + 1, int(generations))
        elif progress:
            real = scores[:members]
            best = np.nanmin(real) if mode == "min" else np.nanmax(real)
            print(f"jaxloss.sweep.pbt: generation {g + 1}/{generations}: best {metric} "
                  f"{best:.4g}", flush=True)  # fmt: skip
    computed = int(generations) - loaded
    trimmed = [{k: v[:members] for k, v in r.items()} for r in records]
    final = jax.tree.map(lambda leaf: np.asarray(leaf)[:members], states)
    return PBTResult(space, metric, mode, int(interval), trimmed, final, computed, loaded)


def _finished(directory: pathlib.Path, generations: int) -> list[dict[str, np.ndarray]]:
    """The records of the generations finished in ``directory``, in order, up to a gap."""
    records = []
    for g in range(generations):
        path = _stages.stage_path(directory, "generation", g)
        if not path.exists():
            break
        records.append(_stages.read_arrays(path))
    return records


def _call_generation(program: Any, sharding: NamedSharding, states: PyTree,
                     hp: dict[str, np.ndarray], scores: np.ndarray, g: int) -> PyTree:  # fmt: skip
    """One generation on the devices; every process gets the whole population back."""
    replicated = NamedSharding(sharding.mesh, PartitionSpec())
    args = jax.tree.map(lambda v: _batched.sharded(np.asarray(v), sharding), (states, hp, scores))
    index = jax.make_array_from_callback((), replicated, lambda _: np.int32(g))
    out = program(*args, index)
    if jax.process_count() > 1:
        out = multihost_utils.process_allgather(out, tiled=True)
    return jax.tree.map(np.asarray, jax.device_get(out))


def _manifest(settings: _Settings, generations: int, fingerprint: str | None) -> dict[str, Any]:
    from .. import __version__

    return {
        "format": _stages.FORMAT,
        "search": "pbt",
        "jaxloss": __version__,
        "jax": jax.__version__,
        "space": settings.space.describe(),
        "metric": settings.metric,
        "mode": settings.mode,
        "interval": settings.interval,
        "generations": generations,
        "fraction": settings.fraction,
        "resample_probability": settings.resample_probability,
        "perturb": list(settings.perturb),
        "seed": settings.seed,
        "programs": [fingerprint],
    }
