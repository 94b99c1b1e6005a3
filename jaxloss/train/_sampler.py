"""Minibatches drawn on the device: a fresh keyed permutation of the N examples per epoch."""

from __future__ import annotations

import dataclasses
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp


class SamplerState(NamedTuple):
    """Where the next minibatch starts: ``epoch`` and the ``start`` position within it."""

    epoch: jax.Array
    start: jax.Array
    key: jax.Array


def _mix32(x: jax.Array) -> jax.Array:
    """A bijective avalanche hash of uint32 (Wellons' lowbias32)."""
    x = x ^ (x >> 16)
    x = x * jnp.uint32(0x7FEB352D)
    x = x ^ (x >> 15)
    x = x * jnp.uint32(0x846CA68B)
    return x ^ (x >> 16)


def _divmod_product(steps: jax.Array, batch_size: int, size: int) -> tuple[jax.Array, jax.Array]:
    """``divmod(steps · batch_size, size)`` for ``batch_size <= size < 2³¹``, without overflow.

    The product can exceed int32 (a million examples, batches of 4096), so it is built bit by
    bit from the top of ``steps``, keeping ``value = quotient · size + remainder`` with
    ``remainder < size``: doubling or adding ``batch_size`` wraps the remainder at most once.
    """
    n, b = jnp.uint32(size), jnp.uint32(batch_size)
    s = steps.astype(jnp.uint32)

    def wrap(quotient: jax.Array, remainder: jax.Array) -> tuple[jax.Array, jax.Array]:
        over = remainder >= n
        return quotient + over.astype(jnp.int32), jnp.where(over, remainder - n, remainder)

    def bit(i: jax.Array, carry: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array]:
        quotient, remainder = wrap(2 * carry[0], 2 * carry[1])
        add = ((s >> jnp.asarray(30 - i, jnp.uint32)) & 1) == 1
        return wrap(quotient, jnp.where(add, remainder + b, remainder))

    start = (jnp.zeros((), jnp.int32), jnp.zeros((), jnp.uint32))
    quotient, remainder = jax.lax.fori_loop(0, 31, bit, start)
    return quotient, remainder.astype(jnp.int32)


@dataclasses.dataclass(frozen=True)
class Sampler:
    """Shuffled minibatches: a fresh pseudo-random permutation of the N examples per epoch.

    Batch ``s`` takes positions ``s·B .. s·B + B − 1`` of the concatenation of one
    permutation per epoch, so every epoch visits each example exactly once, for any N, and
    no example is dropped (a batch may straddle two epochs). The order is a function of the
    key and the step alone, so a run continued from step ``s`` draws exactly the batches an
    uninterrupted run would have drawn.

    The permutation is never materialised: position ``i`` of epoch ``e`` maps to
    ``π_e(i)``, a 4-round Feistel network keyed by ``(key, e)`` over the smallest even
    number of bits covering N, walked until it lands below N (cycle-walking; a bijection
    on [0, N)). That costs O(B) per step, where sorting N random keys per epoch costs
    ~1 ms at N = 4096 and ~14 ms at 65536 on a CPU, more than the steps themselves.

    Attributes:
      size: the number of examples N.
      batch_size: examples per batch B (``1 <= B <= N``).
    """

    size: int
    batch_size: int

    @property
    def _half_bits(self) -> int:
        return max(1, math.ceil(math.log2(max(self.size, 2)) / 2))

    def init(self, key: jax.Array, step: jax.Array | int = 0) -> SamplerState:
        """The state that draws the batch of step ``step`` next (0: the first batch)."""
        epoch, start = _divmod_product(jnp.asarray(step, jnp.int32), self.batch_size, self.size)
        return SamplerState(epoch=epoch, start=start, key=key)

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

    def draw(self, state: SamplerState) -> tuple[jax.Array, SamplerState]:
        """The next batch's example indices, and the state after it."""
        n = self.size
        positions = state.start + jnp.arange(self.batch_size, dtype=jnp.int32)
        in_next = positions >= n
        local = jnp.where(in_next, positions - n, positions)
        current = self._permute(local, state.key, state.epoch)
        following = self._permute(local, state.key, state.epoch + 1)
        indices = jnp.where(in_next, following, current)
        start = state.start + self.batch_size
        wrapped = start >= n
        return indices, SamplerState(
            epoch=state.epoch + wrapped.astype(jnp.int32),
            start=jnp.where(wrapped, start - n, start),
            key=state.key,
        )
