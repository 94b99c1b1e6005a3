"""Compiled programs cached per user function, for exactly as long as that function lives.

``fit`` and ``sweep.run`` compile one program per user function (an objective, a run
function) and configuration, and reuse it for repeated calls. A cache keyed strongly on the
function (``functools.lru_cache``, or a static ``jax.jit`` argument) would keep the function,
and every array it closes over, alive after the user dropped it. Here the function is held
weakly: its entries vanish with it. The cached value must not refer to the function
strongly, or it would keep itself alive; build it from the ``weakref.ref`` this module
passes (see :func:`cached`).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

Value = TypeVar("Value")


class WeakCache:
    """A cache of values per (user function, hashable key), holding the function weakly."""

    def __init__(self) -> None:
        self._entries: weakref.WeakKeyDictionary[Any, dict[Hashable, Any]] = (
            weakref.WeakKeyDictionary()
        )

    def get(
        self,
        owner: object,
        key: Hashable,
        build: Callable[[weakref.ref[Any] | Callable[[], Any]], Value],
    ) -> Value:
        """The value cached for ``(owner, key)``, built by ``build(ref)`` on a miss.

        Args:
          owner: the user function (or object of functions, e.g. a ``sweep.Trainer``) whose
            lifetime bounds the entry.
          key: everything else that determines the value.
          build: makes the value from ``ref``, a zero-argument callable returning ``owner``
            (a weak reference where ``owner`` supports one).

        Returns:
          The cached or newly built value. An ``owner`` that cannot be weakly referenced or
          hashed is not cached at all; a bound method, made afresh on each attribute access,
          is cached only while that one method object lives.
        """
        try:
            per_owner = self._entries.get(owner)
            ref: weakref.ref[Any] = weakref.ref(owner)
        except TypeError:
            return build(lambda: owner)
        if per_owner is None:
            per_owner = self._entries.setdefault(owner, {})
        if key not in per_owner:
            per_owner[key] = build(ref)
        return per_owner[key]

    def __len__(self) -> int:
        return len(self._entries)
