"""Random splits of a data set into batches, merged back in a random tree: "any split"."""

from __future__ import annotations

import jax
import numpy as np


def random_batches(rng: np.random.Generator, n: int) -> list[np.ndarray]:
    """Random cut points into 2 to 7 batches of consecutive samples, some of them empty."""
    cuts = np.sort(rng.choice(np.arange(0, n + 1), size=rng.integers(1, 7), replace=True))
    return [np.arange(a, b) for a, b in zip(np.r_[0, cuts], np.r_[cuts, n], strict=True)]


def stream(rng, empty, *arrays, weights=None, where=None, **operands):
    """``empty()`` updated once per random batch, then the states merged as a random binary
    tree, each merge in a random order, all compiled.

    A batch is the whole data with ``where`` selecting its samples (and the caller's mask),
    so every update has one shape and compiles once; the merges see states of any sizes,
    including empty ones and single samples, which is what "any split" tests.
    """
    n = len(arrays[-1])
    update = jax.jit(lambda state, *a, **k: state.update(*a, **k))
    merge = jax.jit(lambda a, b: a.merge(b))
    states = []
    for batch in random_batches(rng, n):
        member = np.zeros(n, bool)
        member[batch] = True
        if where is not None:
            member = member.reshape((n,) + (1,) * (where.ndim - 1)) & where
        kwargs = dict(operands, where=member)
        if weights is not None:
            kwargs["weights"] = weights
        states.append(update(empty(), *arrays, **kwargs))
    while len(states) > 1:
        i, j = sorted(rng.choice(len(states), size=2, replace=False))
        merged = merge(states[i], states[j]) if rng.uniform() < 0.5 else merge(states[j], states[i])
        states = [s for k, s in enumerate(states) if k not in (i, j)] + [merged]
    return states[0]
