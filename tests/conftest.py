"""Strict by construction: an accidental broadcast or dtype promotion inside jaxloss fails here.

jaxloss casts every input to one compute dtype before it computes, so its formulas must run
under strict promotion, with no implicit rank promotion, and without a single warning
(``filterwarnings = error`` in pyproject.toml).
"""

import os

import jax
from hypothesis import settings

jax.config.update("jax_numpy_rank_promotion", "raise")
jax.config.update("jax_numpy_dtype_promotion", "strict")

settings.register_profile("default", max_examples=30, deadline=None, derandomize=True)
settings.register_profile("thorough", max_examples=1000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
