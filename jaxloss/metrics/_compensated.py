"""Double-float ("two-sum") accumulators: about 48 significant bits from float32 pairs.

A running float32 total stops growing once it is 2^24 times larger than what it adds: a count
of float32 ones sticks at 16,777,216, and a running mean of targets near 3e5 drifts by whole
units over thousands of updates. Keeping each total as an unevaluated sum ``hi + lo`` of two
float32 numbers, with the rounding error of every addition carried in ``lo`` (Knuth's
TwoSum, which is exact in IEEE arithmetic), keeps integer counts exact to 2^48 and sums
accurate to ~1e-14 relative, without ``jax_enable_x64`` and on every backend.

XLA keeps IEEE semantics for these operations on CPU, GPU and TPU (no reassociation), which
TwoSum relies on, but XLA on CPU contracts ``a·c + b`` into a fused multiply-add: a product
fed straight into ``two_sum`` is used unrounded in one place and rounded in another, and the
pair is then off by the product's rounding error. Callers feed it reductions, or products
whose rounding error is negligible (a merge's small pull between means).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def two_sum(a: jax.Array, b: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``s, e`` with ``s = fl(a + b)`` and ``a + b = s + e`` exactly (Knuth)."""
    s = a + b
    b_virtual = s - a
    a_virtual = s - b_virtual
    return s, (a - a_virtual) + (b - b_virtual)


def add(hi: jax.Array, lo: jax.Array, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(hi, lo) + x`` as a renormalised double-float."""
    s, e = two_sum(hi, x)
    return two_sum(s, e + lo)


def add_pairs(
    a: tuple[jax.Array, jax.Array], b: tuple[jax.Array, jax.Array]
) -> tuple[jax.Array, jax.Array]:
    """``a + b`` for two double-floats (commutative, as a merge needs)."""
    s, e = two_sum(a[0], b[0])
    return two_sum(s, e + (a[1] + b[1]))


def difference(a: tuple[jax.Array, jax.Array], b: tuple[jax.Array, jax.Array]) -> jax.Array:
    """``a − b`` rounded once to float32: exact-ish even when ``a ≈ b`` are large."""
    return (a[0] - b[0]) + (a[1] - b[1])


def value(pair: tuple[jax.Array, jax.Array]) -> jax.Array:
    return pair[0] + pair[1]


def zeros(shape: tuple[int, ...]) -> tuple[jax.Array, jax.Array]:
    return jnp.zeros(shape, jnp.float32), jnp.zeros(shape, jnp.float32)
