"""Losses on arrays sharded over 4 simulated CPU devices equal the single-device result."""

import textwrap

import pytest

from .multidevice import run_with_devices

SCRIPT = textwrap.dedent(
    """
    import jax, jax.numpy as jnp, numpy as np
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
    import jaxloss

    assert jax.device_count() == 4, jax.devices()
    rng = np.random.default_rng(0)
    p, t = rng.normal(size=(2, 64, 3)).astype(np.float32)
    w = rng.uniform(0, 2, size=64).astype(np.float32)
    mask = rng.uniform(size=64) > 0.2

    def objective(p, t, w, mask):
        return jaxloss.huber(p, t, delta=0.5, weights=w, where=mask, axis=0)

    def total(p, t, w, mask):
        return jnp.sum(objective(p, t, w, mask))

    expected = jax.jit(objective)(p, t, w, mask), jax.jit(jax.grad(total))(p, t, w, mask)
    mesh = Mesh(np.array(jax.devices()), ("data",))
    rows = NamedSharding(mesh, P("data"))
    args = [jax.device_put(x, rows) for x in (p, t, w, mask)]
    got = jax.jit(objective)(*args), jax.jit(jax.grad(total))(*args)
    assert len(got[1].sharding.device_set) == 4
    for g, e in zip(got, expected):
        np.testing.assert_allclose(np.asarray(g), np.asarray(e), rtol=1e-6, atol=1e-7)
    print("ok")
    """
)


@pytest.mark.slow
def test_sharded_loss_and_gradient_equal_single_device():
    assert run_with_devices(SCRIPT, devices=4).strip() == "ok"
