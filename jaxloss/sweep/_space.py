"""Search spaces: distributions over hyperparameters, sampled at random or quasi-randomly.

A space is a set of runs laid out along named *dimensions*: a :class:`Grid` has one dimension
per axis; :class:`Random` and :class:`Sobol` have one ``trial`` dimension whose every index
carries one joint sample of all the distributions, crossed with a dimension per list axis
(``seed=range(4)``). Results are shaped like the dimensions, so averaging over seeds, ranking
and plotting work the same for every space.

Each distribution maps a unit number ``u ∈ [0, 1)`` to a value (its quantile function), with
NumPy on the host and with ``jax.numpy`` inside a compiled search (population-based
training resamples from it on the device): random search draws ``u`` from NumPy's PCG64,
Sobol search from a scrambled Sobol sequence.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any, cast

import jax.numpy as jnp
import numpy as np

TRIAL = "trial"  # the dimension of sampled configurations


def _axis_values(owner: str, name: str, values: Iterable[Any]) -> np.ndarray:
    """A list axis as an int32 or float32 NumPy array, refused unless numeric and finite."""
    try:
        array = np.asarray(list(values))
    except TypeError as err:
        raise TypeError(
            f"jaxloss.sweep.{owner}: axis {name!r} must be a sequence of numbers; got {values!r}."
        ) from err
    if array.ndim != 1 or array.size == 0:
        raise ValueError(
            f"jaxloss.sweep.{owner}: axis {name!r} must be a non-empty 1-D sequence of numbers; "
            f"got shape {array.shape}."
        )
    if array.dtype == bool or not np.issubdtype(array.dtype, np.number):
        raise TypeError(
            f"jaxloss.sweep.{owner}: axis {name!r} holds {array.dtype} values; expected ints or "
            "floats (a choice among models or losses is a separate sweep, or an int index)."
        )
    if np.issubdtype(array.dtype, np.integer):
        return array.astype(np.int32)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"jaxloss.sweep.{owner}: axis {name!r} holds non-finite values {array}.")
    return array.astype(np.float32)


def python_value(value: np.generic) -> float | int:
    """An axis value as the Python number it was written as (float32 0.001 -> 0.001)."""
    if np.issubdtype(value.dtype, np.integer):
        return int(value)
    return float(str(value))  # the shortest repr that round-trips through float32


def _finite_number(owner: str, arg: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise TypeError(f"jaxloss.sweep.{owner}: {arg} must be a number; got {value!r}.")
    if not math.isfinite(value):
        raise ValueError(f"jaxloss.sweep.{owner}: {arg} must be finite; got {value!r}.")
    return float(value)


def _ordered(owner: str, low: object, high: object) -> tuple[float, float]:
    lo, hi = _finite_number(owner, "low", low), _finite_number(owner, "high", high)
    if not lo < hi:
        raise ValueError(
            f"jaxloss.sweep.{owner}: low must be < high; got low={low!r}, high={high!r}."
        )
    return lo, hi


def _take(values: Any, index: Any) -> Any:
    """``values[index]`` for NumPy or traced indices."""
    if isinstance(index, np.ndarray):
        return np.asarray(values)[index]
    return jnp.asarray(values)[index]


def _xp(u: Any) -> Any:
    return np if isinstance(u, np.ndarray | float) else jnp


class Distribution:
    """A one-dimensional distribution of a hyperparameter (base of Uniform, LogUniform, ...).

    Subclasses define :meth:`from_unit`, the quantile function taking ``u ~ U[0, 1)`` to a
    sample, written once for NumPy arrays (host sampling) and traced arrays (a search that
    resamples on the device): if ``u`` is uniform, ``from_unit(u)`` has the distribution.

    Attributes:
      dtype: the samples' dtype (float32, or int32 for integer axes).
      log: whether the axis is log-distributed (plots use a log scale).
      bounds: the smallest and largest value a sample can take.

    Example:
      >>> from jaxloss import sweep
      >>> isinstance(sweep.LogUniform(1e-3, 1.0), sweep.Distribution), sweep.LogUniform.log
      (True, True)
    """

    dtype: np.dtype = np.dtype(np.float32)
    log: bool = False

    def from_unit(self, u: Any) -> Any:
        """The value at unit quantile ``u`` (an array in [0, 1)); NumPy or traced."""
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """A JSON-serialisable description."""
        raise NotImplementedError

    @property
    def bounds(self) -> tuple[float, float]:
        """The smallest and largest value a sample can take."""
        raise NotImplementedError


@dataclasses.dataclass(frozen=True)
class _Interval(Distribution):
    """A continuous distribution on ``[low, high]`` (finite, ``low < high``)."""

    low: float
    high: float
    _kind = ""

    def __post_init__(self) -> None:
        lo, hi = _ordered(type(self).__name__, self.low, self.high)
        object.__setattr__(self, "low", lo)
        object.__setattr__(self, "high", hi)

    @property
    def bounds(self) -> tuple[float, float]:
        return self.low, self.high

    def describe(self) -> dict[str, Any]:
        return {self._kind: [self.low, self.high]}


@dataclasses.dataclass(frozen=True)
class Uniform(_Interval):
    """Uniform on ``[low, high]``: ``x = low + u·(high − low)``; sampled as float32.

    Args:
      low: the lower bound (finite).
      high: the upper bound (finite, ``> low``).

    Attributes:
      low, high: the bounds, as floats.

    Example:
      >>> import numpy as np
      >>> from jaxloss import sweep
      >>> sweep.Uniform(0.1, 3.0).from_unit(np.array([0.0, 0.5])).astype(float).round(4).tolist()
      [0.1, 1.55]
    """

    _kind = "uniform"

    def from_unit(self, u: Any) -> Any:
        """The value at unit quantile ``u``."""
        return (
            _xp(u)
            .clip(self.low + u * (self.high - self.low), self.low, self.high)
            .astype(self.dtype)
        )


@dataclasses.dataclass(frozen=True)
class LogUniform(_Interval):
    """Log-uniform on ``[low, high]``: ``log x`` is uniform, ``x = low·(high/low)^u``.

    For scale parameters (learning rates, regularisation strengths) whose useful values span
    orders of magnitude: every decade gets the same share of the samples.

    Args:
      low: the lower bound (finite, ``> 0``).
      high: the upper bound (finite, ``> low``).

    Attributes:
      low, high: the bounds, as floats.

    Example:
      >>> import numpy as np
      >>> from jaxloss import sweep
      >>> x = sweep.LogUniform(1e-4, 1.0).from_unit(np.array([0.0, 0.5, 0.75]))
      >>> x.dtype, x.astype(float).round(6).tolist()
      (dtype('float32'), [0.0001, 0.01, 0.1])
    """

    log = True
    _kind = "loguniform"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.low <= 0:
            raise ValueError(
                f"jaxloss.sweep.LogUniform: low must be > 0 (a log axis); got low={self.low!r}. "
                "Use sweep.Uniform for an axis that reaches zero."
            )

    def from_unit(self, u: Any) -> Any:
        """The value at unit quantile ``u``."""
        xp = _xp(u)
        log_low, log_high = math.log(self.low), math.log(self.high)
        value = xp.exp(log_low + u * (log_high - log_low))
        return xp.clip(value, self.low, self.high).astype(self.dtype)


@dataclasses.dataclass(frozen=True)
class IntUniform(Distribution):
    """Uniform over the integers ``low, low + 1, ..., high`` (both included); int32.

    Args:
      low: the smallest integer.
      high: the largest integer (``> low``).

    Attributes:
      low, high: the bounds, as ints.

    Example:
      >>> import numpy as np
      >>> from jaxloss import sweep
      >>> sweep.IntUniform(1, 4).from_unit(np.array([0.0, 0.3, 0.99])).tolist()
      [1, 2, 4]
    """

    low: int
    high: int
    dtype = np.dtype(np.int32)

    def __post_init__(self) -> None:
        for arg in ("low", "high"):
            value = getattr(self, arg)
            if isinstance(value, bool) or not isinstance(value, int | np.integer):
                raise TypeError(f"jaxloss.sweep.IntUniform: {arg} must be an int; got {value!r}.")
        if not self.low < self.high:
            raise ValueError(
                f"jaxloss.sweep.IntUniform: low must be < high; got low={self.low!r}, "
                f"high={self.high!r}."
            )
        object.__setattr__(self, "low", int(self.low))
        object.__setattr__(self, "high", int(self.high))

    def from_unit(self, u: Any) -> Any:
        """The value at unit quantile ``u``."""
        xp = _xp(u)
        count = self.high - self.low + 1
        return xp.clip(self.low + xp.floor(u * count), self.low, self.high).astype(self.dtype)

    @property
    def bounds(self) -> tuple[float, float]:
        return self.low, self.high

    def describe(self) -> dict[str, Any]:
        return {"intuniform": [self.low, self.high]}


@dataclasses.dataclass(frozen=True, eq=False)
class Choice(Distribution):
    """One of ``values``, each with probability ``1/len(values)``.

    Args:
      values: a non-empty sequence of numbers (ints stay int32, floats become float32).

    Attributes:
      values: the choices, as a tuple of Python numbers.

    Example:
      >>> import numpy as np
      >>> from jaxloss import sweep
      >>> sweep.Choice([16, 32, 64]).from_unit(np.array([0.1, 0.5, 0.9])).tolist()
      [16, 32, 64]
    """

    values: Sequence[float | int]

    def __post_init__(self) -> None:
        array = _axis_values("Choice", "values", self.values)
        object.__setattr__(self, "values", tuple(python_value(v) for v in array))
        object.__setattr__(self, "dtype", array.dtype)

    def from_unit(self, u: Any) -> Any:
        """The value at unit quantile ``u``."""
        xp = _xp(u)
        count = len(self.values)
        index = xp.clip(xp.floor(u * count), 0, count - 1).astype(np.int32)
        return _take(np.asarray(self.values, self.dtype), index)

    @property
    def bounds(self) -> tuple[float, float]:
        return min(self.values), max(self.values)

    def describe(self) -> dict[str, Any]:
        return {"choice": list(self.values)}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Choice) and self.values == other.values

    def __hash__(self) -> int:
        return hash(self.values)


_KINDS: dict[str, Any] = {
    "uniform": Uniform, "loguniform": LogUniform, "intuniform": IntUniform,
    "choice": lambda values: Choice(values),
}  # fmt: skip


def distribution_from_description(description: dict[str, Any]) -> Distribution:
    """The distribution a :meth:`Distribution.describe` dict names."""
    ((kind, args),) = description.items()
    return _KINDS[kind](args) if kind == "choice" else _KINDS[kind](*args)


class Space:
    """The runs of a sweep, laid out along named dimensions (base of Grid, Random and Sobol).

    Every dimension holds one or more hyperparameter *columns* of equal length; the runs are
    the Cartesian product of the dimensions, in C order, and run ``i`` takes, for every
    column, its value at the dimension index of ``i``. Results are shaped like
    :attr:`shape`, so ``over=("seed",)`` averages over a seed dimension for any space.

    Attributes:
      dims: the dimension names; names: the hyperparameter names; shape; size.

    Example:
      >>> from jaxloss import sweep
      >>> space = sweep.Random(3, learning_rate=sweep.LogUniform(1e-3, 1.0), seed=range(2))
      >>> space.dims, space.shape, space.names
      (('trial', 'seed'), (3, 2), ('learning_rate', 'seed'))
    """

    _dimensions: dict[str, dict[str, np.ndarray]]

    @property
    def dims(self) -> tuple[str, ...]:
        """The dimension names: the axes of every result array, in order."""
        return tuple(self._dimensions)

    @property
    def names(self) -> tuple[str, ...]:
        """The hyperparameter names (``run_fn``'s keyword arguments), in order."""
        return tuple(name for columns in self._dimensions.values() for name in columns)

    @property
    def shape(self) -> tuple[int, ...]:
        """The length of each dimension."""
        return tuple(len(next(iter(c.values()))) for c in self._dimensions.values())

    @property
    def size(self) -> int:
        """The number of runs."""
        return int(np.prod(self.shape))

    def columns(self, dim: str) -> dict[str, np.ndarray]:
        """The hyperparameter columns of dimension ``dim`` (one per axis for a Grid).

        Args:
          dim: a name in :attr:`dims`.

        Returns:
          ``{name: values}``, each of the dimension's length.

        Example:
          >>> from jaxloss import sweep
          >>> sweep.Grid(a=[1.0, 2.0]).columns("a")["a"].tolist()
          [1.0, 2.0]
        """
        return self._dimensions[dim]

    def dim_of(self, name: str) -> str:
        """The dimension that carries hyperparameter ``name``.

        Args:
          name: a name in :attr:`names`.

        Returns:
          The dimension's name.

        Example:
          >>> from jaxloss import sweep
          >>> sweep.Random(2, lr=sweep.Uniform(0.1, 1.0), seed=[0, 1]).dim_of("lr")
          'trial'
        """
        for dim, columns in self._dimensions.items():
            if name in columns:
                return dim
        raise ValueError(f"jaxloss.sweep: {name!r} is not a hyperparameter of {self.names}.")

    def is_log(self, name: str) -> bool:
        """Whether hyperparameter ``name`` is best shown on a log scale."""
        values = self.points()[name]
        return bool(np.all(values > 0) and values.max() / values.min() > 50)

    def points(self) -> dict[str, np.ndarray]:
        """Every run's hyperparameters: one flat array of length ``size`` per name.

        Returns:
          A dict of 1-D arrays; run ``i`` gets element ``i`` of each.

        Example:
          >>> from jaxloss import sweep
          >>> sweep.Grid(a=[1.0, 2.0], seed=[0, 1]).points()["a"].tolist()
          [1.0, 1.0, 2.0, 2.0]
        """
        index = np.indices(self.shape).reshape(len(self.shape), -1)
        return {
            name: values[index[d]]
            for d, columns in enumerate(self._dimensions.values())
            for name, values in columns.items()
        }

    def point(self, index: int) -> dict[str, float | int]:
        """The hyperparameters of run ``index`` as Python numbers.

        Args:
          index: the flat run index, ``0 <= index < size``.

        Returns:
          A dict from hyperparameter name to value.

        Example:
          >>> from jaxloss import sweep
          >>> sweep.Grid(a=[1.0, 2.0], seed=[0, 1]).point(3)
          {'a': 2.0, 'seed': 1}
        """
        position = np.unravel_index(index, self.shape)
        return self.config(dict(zip(self.dims, (int(p) for p in position), strict=True)))

    def config(self, position: dict[str, int]) -> dict[str, float | int]:
        """The hyperparameters at an index of some dimensions, as Python numbers.

        Args:
          position: ``{dimension: index}`` for any subset of :attr:`dims`.

        Returns:
          The values of every column of those dimensions.

        Example:
          >>> from jaxloss import sweep
          >>> sweep.Grid(a=[1.0, 2.0], seed=[0, 1]).config({"a": 1})
          {'a': 2.0}
        """
        return {
            name: python_value(values[i])
            for dim, i in position.items()
            for name, values in self._dimensions[dim].items()
        }

    def describe(self) -> dict[str, Any]:
        """A JSON-serialisable description (stored with checkpoints to refuse other spaces)."""
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Space) and self.describe() == other.describe()

    __hash__ = None  # type: ignore[assignment]


def _unit_random(n: int, d: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random((n, d))


def _unit_sobol(n: int, d: int, seed: int) -> np.ndarray:
    from scipy.stats import qmc

    generator = np.random.default_rng(seed)
    try:
        sampler = qmc.Sobol(d, scramble=True, rng=generator)
    except TypeError:  # scipy < 1.15 names the argument seed
        sampler = qmc.Sobol(d, scramble=True, seed=generator)
    # The first n points of the sequence, without scipy's warning for n not a power of 2
    # (the balance properties hold for powers of 2; the prefix is still low-discrepancy).
    return sampler.random_base2(max(0, math.ceil(math.log2(n))))[:n]


class Random(Space):
    """``n`` joint random samples of the distribution axes, crossed with the list axes.

    Each keyword is an axis: a :class:`Distribution` (``Uniform``, ``LogUniform``,
    ``IntUniform``, ``Choice``), sampled jointly ``n`` times along the ``trial`` dimension,
    or a list/range of numbers, crossed with every sample (its own dimension, as in a Grid).
    Samples come from ``numpy.random.default_rng(seed)``: the same seed gives the same
    samples on every machine.

    ``seed`` has two roles, told apart by type: an int is the sampling seed; a list or
    range is a crossed axis named ``seed`` (``seed=range(4)`` gives every sampled
    configuration four seeds), and the sampling seed is then ``sample_seed``.

    Args:
      n: the number of sampled configurations (``>= 1``).
      seed: the sampling seed (an int), or a crossed ``seed`` axis (a sequence).
      sample_seed: the sampling seed when ``seed`` is an axis (default 0).
      **axes: distributions or lists, by hyperparameter name.

    Attributes:
      n, sample_seed: as given.
      distributions: the distribution axes by name, in order.

    Example:
      >>> from jaxloss import sweep
      >>> space = sweep.Random(4, learning_rate=sweep.LogUniform(1e-3, 1.0),
      ...                      delta=sweep.Uniform(0.1, 3.0), seed=range(2))
      >>> space.shape, space.size
      ((4, 2), 8)
      >>> bool(0.1 <= space.point(0)["delta"] <= 3.0), space.point(1)["seed"]
      (True, 1)
    """

    _owner = "Random"
    _kind = "random"

    def __init__(
        self, n: int, seed: int | Iterable[int] = 0, *, sample_seed: int | None = None,
        **axes: Distribution | Iterable[Any],
    ) -> None:  # fmt: skip
        owner = self._owner
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
            raise ValueError(f"jaxloss.sweep.{owner}: n must be an int >= 1; got {n!r}.")
        if isinstance(seed, int | np.integer) and not isinstance(seed, bool):
            if sample_seed is not None:
                raise ValueError(
                    f"jaxloss.sweep.{owner}: seed={seed!r} is already the sampling seed; give "
                    "sample_seed only when seed is a crossed axis (seed=range(4))."
                )
            sample_seed = int(seed)
        else:
            axes = {"seed": cast(Iterable[Any], seed), **axes}
        sample_seed = 0 if sample_seed is None else sample_seed
        if isinstance(sample_seed, bool) or not isinstance(sample_seed, int | np.integer):
            raise TypeError(
                f"jaxloss.sweep.{owner}: the sampling seed must be an int; got {sample_seed!r}."
            )
        if TRIAL in axes:
            raise ValueError(
                f"jaxloss.sweep.{owner}: {TRIAL!r} names the dimension of sampled "
                "configurations; rename that axis."
            )
        self.n, self.sample_seed = int(n), int(sample_seed)
        self.distributions = {k: v for k, v in axes.items() if isinstance(v, Distribution)}
        if not self.distributions:
            raise ValueError(
                f"jaxloss.sweep.{owner}: give at least one distribution axis, e.g. "
                "learning_rate=sweep.LogUniform(1e-4, 1.0) (lists alone make a sweep.Grid)."
            )
        self.lists = {
            k: _axis_values(owner, k, v)
            for k, v in axes.items() if not isinstance(v, Distribution)
        }  # fmt: skip
        unit = self._unit(self.n, len(self.distributions), self.sample_seed)
        samples = {
            name: np.asarray(dist.from_unit(unit[:, j]))
            for j, (name, dist) in enumerate(self.distributions.items())
        }
        self._dimensions = {TRIAL: samples, **{k: {k: v} for k, v in self.lists.items()}}

    @staticmethod
    def _unit(n: int, d: int, seed: int) -> np.ndarray:
        return _unit_random(n, d, seed)

    def resampled(self, n: int, sample_seed: int) -> Random:
        """The same axes with ``n`` fresh samples drawn with ``sample_seed``.

        Args:
          n: the number of sampled configurations.
          sample_seed: the sampling seed.

        Returns:
          A space of the same type (Random or Sobol).

        Example:
          >>> from jaxloss import sweep
          >>> space = sweep.Random(4, range(2), lr=sweep.LogUniform(1e-3, 1.0))
          >>> space.resampled(8, 1).shape
          (8, 2)
        """
        lists = dict(self.lists)
        seed_axis = lists.pop("seed", None)
        axes: dict[str, Any] = {**self.distributions, **lists}
        if seed_axis is None:
            return type(self)(n, sample_seed, **axes)
        return type(self)(n, seed_axis.tolist(), sample_seed=sample_seed, **axes)

    def is_log(self, name: str) -> bool:
        dist = self.distributions.get(name)
        return dist.log if dist is not None else super().is_log(name)

    def describe(self) -> dict[str, Any]:
        """A JSON-serialisable description: the sampler, its axes and the samples drawn.

        Returns:
          ``{"kind", "n", "seed", "axes", "samples"}``; ``samples`` records the values, so
          a checkpoint names exactly the configurations it holds.

        Example:
          >>> from jaxloss import sweep
          >>> sweep.Random(1, a=sweep.IntUniform(3, 3 + 1), seed=[0]).describe()["axes"]
          {'a': {'intuniform': [3, 4]}, 'seed': [0]}
        """
        axes: dict[str, Any] = {k: d.describe() for k, d in self.distributions.items()}
        axes |= {k: [python_value(v) for v in values] for k, values in self.lists.items()}
        samples = {
            k: [python_value(v) for v in values] for k, values in self._dimensions[TRIAL].items()
        }
        return {"kind": self._kind, "n": self.n, "seed": self.sample_seed, "axes": axes,
                "samples": samples}  # fmt: skip

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in {**self.distributions, **self.lists}.items())
        return f"{type(self).__name__}({self.n}, sample_seed={self.sample_seed}, {inner})"


class Sobol(Random):
    """Like :class:`Random`, with a scrambled Sobol sequence instead of random numbers.

    The unit points are ``scipy.stats.qmc.Sobol(d, scramble=True,
    rng=numpy.random.default_rng(seed))``'s first ``n`` (``d`` = the number of distribution
    axes), mapped through each distribution's quantile function: a quasi-random design that
    covers the space more evenly than random draws (best with ``n`` a power of 2).

    Args:
      n: the number of sampled configurations (``>= 1``).
      seed: the scrambling seed (an int), or a crossed ``seed`` axis (a sequence).
      sample_seed: the scrambling seed when ``seed`` is an axis (default 0).
      **axes: distributions or lists, by hyperparameter name.

    Attributes:
      n, sample_seed, distributions: as for :class:`Random`.

    Example:
      >>> from jaxloss import sweep
      >>> space = sweep.Sobol(8, learning_rate=sweep.LogUniform(1e-3, 1.0), seed=range(2))
      >>> space.shape
      (8, 2)
    """

    _owner = "Sobol"
    _kind = "sobol"

    @staticmethod
    def _unit(n: int, d: int, seed: int) -> np.ndarray:
        return _unit_sobol(n, d, seed)


def space_from_description(description: dict[str, Any]) -> Space:
    """The space a checkpoint's description names (a Grid's, or a sampled space's)."""
    from ._grid import Grid

    kind = description.get("kind")
    if not isinstance(kind, str):
        return Grid(**description)
    cls = {"random": Random, "sobol": Sobol}[kind]
    axes = description["axes"]
    lists = {k: v for k, v in axes.items() if isinstance(v, list)}
    dists = {k: distribution_from_description(v) for k, v in axes.items() if k not in lists}
    seed_axis = lists.pop("seed", None)
    axes_args: dict[str, Any] = {**dists, **lists}
    if seed_axis is None:
        space = cls(description["n"], description["seed"], **axes_args)
    else:
        space = cls(description["n"], seed_axis, sample_seed=description["seed"], **axes_args)
    # The recorded samples, not a fresh draw: a checkpoint names its own configurations.
    samples = {
        k: np.asarray(v, space.distributions[k].dtype) for k, v in description["samples"].items()
    }
    space._dimensions = {TRIAL: samples, **{k: {k: v} for k, v in space.lists.items()}}
    return space


def check_space(space: object, owner: str) -> Space:
    """``space`` if it is a Grid, Random or Sobol; a TypeError naming ``owner`` otherwise."""
    if not isinstance(space, Space):
        raise TypeError(
            f"jaxloss.sweep.{owner}: the space must be a sweep.Grid, sweep.Random or "
            f"sweep.Sobol; got {type(space).__name__}."
        )
    return space


def check_takes(
    fn: Callable[..., Any], names: Iterable[str], owner: str, what: str, skip: int = 0
) -> None:
    """Refuses hyperparameters that ``fn`` does not take, and parameters it needs but lacks.

    The first ``skip`` parameters (a state, a step count) are the caller's, not the space's.
    Functions whose signature cannot be read (some builtins) or that take ``**kwargs`` pass.
    """
    try:
        parameters = list(inspect.signature(fn).parameters.values())[skip:]
    except (TypeError, ValueError):
        return
    names = list(names)
    keyword = {p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    if not any(p.kind == p.VAR_KEYWORD for p in parameters):
        unknown = [n for n in names if n not in keyword]
        if unknown:
            raise ValueError(
                f"jaxloss.sweep.{owner}: the space has {unknown}, which {what} does not take "
                f"(it takes {sorted(keyword)}); rename the axis or add the parameter."
            )
    required = [
        p.name for p in parameters
        if p.default is p.empty and p.name in keyword and p.name not in names
    ]  # fmt: skip
    if required:
        raise ValueError(
            f"jaxloss.sweep.{owner}: {what} needs {required}, which the space does not have "
            f"(its axes: {names})."
        )
