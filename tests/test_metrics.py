"""Streaming metrics against scikit-learn and float64 NumPy, on any split and merge order."""

from __future__ import annotations

import textwrap

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest
from sklearn import metrics as skm

from jaxloss import metrics

from .multidevice import run_with_devices
from .splits import stream

Regression = metrics.Regression
KEYS = ["mse", "rmse", "mae", "r2", "explained_variance", "max_error", "bias", "pearson", "ccc",
        "count"]  # fmt: skip


def _stream(rng, shape, p, t, weights=None, where=None):
    """Updates one Regression per random batch, then merges them as a random binary tree."""
    return stream(rng, lambda: Regression.empty(shape), p, t, weights=weights, where=where)


def _sklearn_reference(p, t, w, multioutput):
    """Every key from scikit-learn (float64) or, where it has none, a float64 formula."""
    p, t = p.astype(np.float64), t.astype(np.float64)
    named = isinstance(multioutput, str)
    raw = named and multioutput == "raw_values"
    multi = "uniform_average" if named and multioutput == "variance_weighted" else multioutput
    ref = {
        "mse": skm.mean_squared_error(t, p, sample_weight=w, multioutput=multi),
        "rmse": skm.root_mean_squared_error(t, p, sample_weight=w, multioutput=multi),
        "mae": skm.mean_absolute_error(t, p, sample_weight=w, multioutput=multi),
        "r2": skm.r2_score(t, p, sample_weight=w, multioutput=multioutput),
        "explained_variance": skm.explained_variance_score(
            t, p, sample_weight=w, multioutput=multioutput
        ),
    }
    ones = np.ones(len(t)) if w is None else w.astype(np.float64)
    # Weighted population moments in float64: Pearson's ρ and Lin's CCC per output.
    pm, tm = np.average(p, axis=0, weights=ones), np.average(t, axis=0, weights=ones)
    spp = np.average((p - pm) ** 2, axis=0, weights=ones)
    stt = np.average((t - tm) ** 2, axis=0, weights=ones)
    spt = np.average((p - pm) * (t - tm), axis=0, weights=ones)
    correlations = {
        "pearson": spt / np.sqrt(spp * stt),
        "ccc": 2 * spt / (spp + stt + (pm - tm) ** 2),
    }
    avg = None if named else multioutput
    for key, values in correlations.items():
        ref[key] = values if raw else np.average(values, weights=avg)
    per_output_max = np.array([skm.max_error(t[:, k], p[:, k]) for k in range(t.shape[1])])
    per_output_bias = np.average(p - t, axis=0, weights=w)
    total = np.full(t.shape[1], len(t) if w is None else w.sum())
    if raw:
        ref.update(max_error=per_output_max, bias=per_output_bias, count=total)
    else:
        avg = None if named else multioutput
        ref.update(
            max_error=per_output_max.max(),
            bias=np.average(per_output_bias, weights=avg),
            count=np.average(total, weights=avg),
        )
    return ref


MODES = ["raw_values", "uniform_average", "variance_weighted", np.array([0.2, 0.5, 0.3])]


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m if isinstance(m, str) else "weights")
@pytest.mark.parametrize("seed", range(2))
def test_matches_sklearn_on_random_splits_with_weights_and_masks(seed, mode):
    rng = np.random.default_rng(seed)
    n, k = 257, 3
    scales = np.array([1.0, 10.0, 0.1])
    t = (rng.normal(size=(n, k)) * scales + rng.normal(size=k) * 5).astype(np.float32)
    p = (t + rng.normal(size=(n, k)) * scales * 0.7 + 0.3).astype(np.float32)
    w = rng.uniform(0.0, 2.0, size=n).astype(np.float32)
    keep = rng.uniform(size=n) > 0.25
    p_masked = np.where(keep[:, None], p, np.nan)  # excluded rows hold garbage

    got = _stream(rng, (k,), p_masked, t, weights=w, where=keep).compute(mode)
    expected = _sklearn_reference(p[keep], t[keep], w[keep], mode)
    for key in KEYS:
        np.testing.assert_allclose(got[key], expected[key], rtol=2e-5, atol=1e-5, err_msg=key)


def test_per_element_masks_give_per_output_metrics():
    rng = np.random.default_rng(10)
    t = rng.normal(size=(200, 2)).astype(np.float32)
    p = (t + rng.normal(size=(200, 2))).astype(np.float32)
    mask = rng.uniform(size=(200, 2)) > 0.4
    got = _stream(rng, (2,), p, t, where=mask).compute("raw_values")
    for k in range(2):
        sel = mask[:, k]
        expected = _sklearn_reference(p[sel, k : k + 1], t[sel, k : k + 1], None, "raw_values")
        for key in KEYS:
            np.testing.assert_allclose(got[key][k], expected[key][0], rtol=2e-5, atol=1e-6)


def test_scalar_outputs_and_unweighted():
    rng = np.random.default_rng(11)
    t = rng.normal(size=500).astype(np.float32)
    p = (0.8 * t + rng.normal(size=500) * 0.3).astype(np.float32)
    got = _stream(rng, (), p, t).compute()
    expected = _sklearn_reference(p[:, None], t[:, None], None, "uniform_average")
    for key in KEYS:
        np.testing.assert_allclose(got[key], expected[key], rtol=2e-5, atol=1e-6, err_msg=key)


# --------------------------------------------------------------------------------------------
# Numerics.
# --------------------------------------------------------------------------------------------


def test_offset_targets_r2_and_explained_variance_match_sklearn():
    rng = np.random.default_rng(12)
    n = 100_000
    t = (311030 + rng.uniform(-5, 5, size=n)).astype(np.float32)
    p = (t + rng.normal(scale=2.0, size=n) + 0.5).astype(np.float32)

    update = jax.jit(lambda s, p, t: s.update(p, t))
    state = Regression.empty()
    for start in range(0, n, 1000):
        state = update(state, p[start : start + 1000], t[start : start + 1000])
    got = state.compute()
    t64, p64 = t.astype(np.float64), p.astype(np.float64)
    r2 = skm.r2_score(t64, p64)
    np.testing.assert_allclose(got["r2"], r2, atol=1e-4)
    np.testing.assert_allclose(
        got["explained_variance"], skm.explained_variance_score(t64, p64), atol=1e-4
    )
    np.testing.assert_allclose(got["mse"], skm.mean_squared_error(t64, p64), rtol=1e-5)

    # The single-pass float32 formula this replaces is badly wrong on the same data.
    sum_t, sum_t2 = np.float32(0), np.float32(0)
    for start in range(0, n, 1000):
        sum_t += t[start : start + 1000].sum(dtype=np.float32)
        sum_t2 += (t[start : start + 1000] ** 2).sum(dtype=np.float32)
    naive_ss_tot = sum_t2 - sum_t * sum_t / np.float32(n)
    naive_r2 = 1 - np.sum((p64 - t64) ** 2) / naive_ss_tot
    assert abs(naive_r2 - r2) > 0.1


@pytest.mark.parametrize("dtype", [ml_dtypes.bfloat16, np.float16])
def test_half_precision_inputs_accumulate_in_float32(dtype):
    rng = np.random.default_rng(13)
    n = 1_000_000
    p = (rng.normal(size=n) + 2.0).astype(dtype)
    t = rng.normal(size=n).astype(dtype)
    state = jax.jit(lambda s, p, t: s.update(p, t))(Regression.empty(), p, t)
    state = state.update(p[:1000], t[:1000])  # and a second batch to merge
    p64 = np.r_[p, p[:1000]].astype(np.float64)
    t64 = np.r_[t, t[:1000]].astype(np.float64)
    got = state.compute()
    assert got["mse"].dtype == jnp.float32
    np.testing.assert_allclose(got["mse"], np.mean((p64 - t64) ** 2), rtol=1e-3)
    np.testing.assert_allclose(got["mae"], np.mean(np.abs(p64 - t64)), rtol=1e-3)


def test_counts_exact_past_2_to_the_31_without_x64():
    assert not jax.config.jax_enable_x64
    state = Regression.empty()
    batch = np.zeros(4096, np.float32)
    for _ in range(3):  # 3 · 4096 · 2^20 = 3 · 2^32
        state = state.update(batch, batch, weights=np.float32(2.0**20))
    state = state.update(batch[:1], batch[:1])
    assert int(state.exact_count()) == 3 * 2**32 + 1
    # float32 alone cannot tell these apart
    assert np.float32(3 * 2**32) == np.float32(3 * 2**32 + 1)


def test_counts_exact_over_many_updates_in_scan():
    weight = np.float32(2**20 + 1)  # not a power of two: every addition rounds in float32

    def body(state, _):
        return state.update(jnp.ones(1), jnp.zeros(1), weights=weight), None

    state, _ = jax.lax.scan(body, Regression.empty(), length=5000)
    assert int(state.exact_count()) == 5000 * (2**20 + 1)  # > 2^32
    np.testing.assert_allclose(state.compute()["mse"], 1.0)
    float32_total = np.float32(0)
    for _ in range(5000):
        float32_total += weight
    assert int(float32_total) != 5000 * (2**20 + 1)


def test_unit_counts_exact_past_2_to_the_24():
    state = Regression.empty().update(np.zeros(1), np.zeros(1), weights=np.float32(2.0**24))
    state = state.update(np.zeros(3), np.zeros(3))
    assert int(state.exact_count()) == 2**24 + 3


def test_running_mean_does_not_drift_over_many_small_batches():
    rng = np.random.default_rng(14)
    t = (311030 + rng.uniform(-5, 5, size=(2000, 10))).astype(np.float32)
    p = (t + rng.normal(size=(2000, 10))).astype(np.float32)

    def body(state, batch):
        return state.update(*batch), None

    state, _ = jax.lax.scan(body, Regression.empty(), (p, t))
    t64, p64 = t.ravel().astype(np.float64), p.ravel().astype(np.float64)
    np.testing.assert_allclose(state.compute()["r2"], skm.r2_score(t64, p64), atol=1e-4)


# --------------------------------------------------------------------------------------------
# Edge cases.
# --------------------------------------------------------------------------------------------


def test_no_samples_gives_nan_and_zero_count():
    for state in (
        Regression.empty((2,)),
        Regression.empty((2,)).update(np.ones((3, 2)), np.zeros((3, 2)), where=np.zeros(3, bool)),
        Regression.empty((2,)).update(np.ones((3, 2)), np.zeros((3, 2)), weights=np.zeros(3)),
    ):
        got = state.compute("raw_values")
        for key in KEYS[:-1]:
            assert np.all(np.isnan(got[key])), key
        assert np.all(got["count"] == 0)


def test_one_sample_has_undefined_r2_and_explained_variance_one_like_sklearn():
    got = Regression.empty().update(np.array([2.0]), np.array([1.0])).compute()
    assert np.isnan(got["r2"])
    assert float(got["explained_variance"]) == skm.explained_variance_score([1.0], [2.0]) == 1.0
    weighted = Regression.empty().update(np.array([2.0, 7.0]), np.array([1.0, 0.0]),
                                         weights=np.array([3.0, 0.0]))  # fmt: skip
    expected = skm.explained_variance_score([1.0, 0.0], [2.0, 7.0], sample_weight=[3.0, 0.0])
    assert float(weighted.compute()["explained_variance"]) == expected == 1.0
    np.testing.assert_allclose([got["mse"], got["mae"], got["bias"], got["max_error"]], 1.0)
    with pytest.warns(Warning, match="less than two samples"):
        assert np.isnan(skm.r2_score([1.0], [2.0]))


@pytest.mark.parametrize("perfect", [True, False])
def test_constant_targets_follow_sklearn_force_finite(perfect):
    t = np.full(10, 3.0, np.float32)
    p = t.copy() if perfect else t + np.linspace(-1, 1, 10).astype(np.float32)
    got = Regression.empty().update(p, t).compute()
    assert float(got["r2"]) == skm.r2_score(t, p) == (1.0 if perfect else 0.0)
    assert float(got["explained_variance"]) == skm.explained_variance_score(t, p)


def test_variance_weighted_with_all_constant_outputs_falls_back_to_uniform():
    t = np.ones((5, 2), np.float32)
    p = t.copy()
    p[:, 1] += np.arange(5)
    got = Regression.empty((2,)).update(p, t).compute("variance_weighted")
    np.testing.assert_allclose(got["r2"], skm.r2_score(t, p, multioutput="variance_weighted"))


# --------------------------------------------------------------------------------------------
# Transformations and devices.
# --------------------------------------------------------------------------------------------


def test_vmap_one_accumulator_per_member():
    rng = np.random.default_rng(15)
    t = rng.normal(size=(64, 2)).astype(np.float32)
    p = (t[None] + rng.normal(size=(5, 64, 2))).astype(np.float32)  # 5 members

    def evaluate(p_member):
        state = Regression.empty((2,))
        for start in range(0, 64, 16):
            state = state.update(p_member[start : start + 16], t[start : start + 16])
        return state.compute()

    got = jax.jit(jax.vmap(evaluate))(p)
    for m in range(5):
        np.testing.assert_allclose(got["r2"][m], skm.r2_score(t, p[m]), atol=1e-5)
        np.testing.assert_allclose(got["mse"][m], skm.mean_squared_error(t, p[m]), rtol=1e-5)


def test_update_inside_scan_over_batches_equals_one_update():
    rng = np.random.default_rng(16)
    t = rng.normal(size=(8, 32)).astype(np.float32)
    p = (t + rng.normal(size=(8, 32))).astype(np.float32)
    w = rng.uniform(size=(8, 32)).astype(np.float32)

    def body(state, batch):
        return state.update(batch[0], batch[1], weights=batch[2]), None

    scanned, _ = jax.lax.scan(body, Regression.empty(), (p, t, w))
    once = Regression.empty().update(p.ravel(), t.ravel(), weights=w.ravel())
    for key in KEYS:
        np.testing.assert_allclose(scanned.compute()[key], once.compute()[key], rtol=1e-5)


CROSS_DEVICE = textwrap.dedent(
    """
    import jax, jax.numpy as jnp, numpy as np
    from jax.sharding import Mesh, PartitionSpec as P
    from jaxloss import metrics

    assert jax.device_count() == 4
    rng = np.random.default_rng(0)
    t = (rng.normal(size=(400, 3)) + 100).astype(np.float32)
    p = (t + rng.normal(size=(400, 3))).astype(np.float32)
    w = rng.uniform(size=400).astype(np.float32)

    def local(p, t, w):
        state = metrics.Regression.empty((3,)).update(p, t, weights=w)
        return state.merge_across("data").compute("raw_values")

    mesh = Mesh(np.array(jax.devices()), ("data",))
    sharded = jax.jit(jax.shard_map(local, mesh=mesh, in_specs=P("data"), out_specs=P()))
    got = sharded(p, t, w)

    # pmap over the same four shards
    pmapped = jax.pmap(local, axis_name="data")(
        p.reshape(4, 100, 3), t.reshape(4, 100, 3), w.reshape(4, 100))

    # the host: the same four shard states, merged in order
    host = metrics.Regression.empty((3,))
    for k in range(4):
        s = slice(100 * k, 100 * (k + 1))
        host = host.merge(metrics.Regression.empty((3,)).update(p[s], t[s], weights=w[s]))
    expected = host.compute("raw_values")
    for key, value in expected.items():
        np.testing.assert_allclose(np.asarray(got[key]), np.asarray(value), rtol=1e-6, err_msg=key)
        for d in range(4):
            np.testing.assert_allclose(np.asarray(pmapped[key][d]), np.asarray(value),
                                       rtol=1e-6, err_msg=key)
    single = metrics.Regression.empty((3,)).update(p, t, weights=w).compute("raw_values")
    for key, value in single.items():
        np.testing.assert_allclose(np.asarray(got[key]), np.asarray(value), rtol=1e-5, err_msg=key)
    print("ok")
    """
)


@pytest.mark.slow
def test_cross_device_merge_on_four_devices_equals_single_device():
    assert run_with_devices(CROSS_DEVICE, devices=4).strip().endswith("ok")


# --------------------------------------------------------------------------------------------
# Errors.
# --------------------------------------------------------------------------------------------


def test_update_checks_shapes_like_the_losses():
    state = Regression.empty((2,))
    with pytest.raises(ValueError, match=r"predictions shape \(4, 2\) and targets shape \(4,\)"):
        state.update(np.zeros((4, 2)), np.zeros(4))
    with pytest.raises(
        ValueError,
        match=r"one sample has shape \(3,\); this accumulator "
        r"expects samples of shape \(2,\)",
    ):
        state.update(np.zeros((4, 3)), np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"weights must be >= 0"):
        state.update(np.zeros((4, 2)), np.zeros((4, 2)), weights=-np.ones(4))
    with pytest.raises(ValueError, match=r"weights has shape \(2,\)"):
        state.update(np.zeros((4, 2)), np.zeros((4, 2)), weights=np.ones(2))


def test_merge_and_compute_errors():
    with pytest.raises(ValueError, match=r"output shapes \(2,\) and \(\) cannot be merged"):
        Regression.empty((2,)).merge(Regression.empty())
    with pytest.raises(TypeError, match=r"expected a Regression"):
        Regression.empty().merge({"mse": 1.0})
    with pytest.raises(ValueError, match=r"multioutput='mean' is not one of 'raw_values'"):
        Regression.empty((2,)).compute("mean")
    with pytest.raises(ValueError, match=r"multioutput weights have shape \(3,\)"):
        Regression.empty((2,)).compute(np.ones(3))


# --------------------------------------------------------------------------------------------
# Bias-variance decomposition.
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_bias_variance_identity_and_float64_reference(axis):
    rng = np.random.default_rng(17)
    t = rng.normal(size=(40, 3)).astype(np.float32)
    members = (t[None] + 0.3 + rng.normal(size=(6, 40, 3))).astype(np.float32)
    w = rng.uniform(0, 2, size=40).astype(np.float32)
    predictions = np.moveaxis(members, 0, axis)
    got = metrics.bias_variance(predictions, t, axis=axis, weights=w)

    m64, t64 = members.astype(np.float64), t.astype(np.float64)
    w64 = np.broadcast_to(w[:, None], t.shape)
    mean_mse = np.mean([np.average((m - t64) ** 2, weights=w64) for m in m64])
    ensemble = m64.mean(axis=0)
    bias2 = np.average((ensemble - t64) ** 2, weights=w64)
    variance = np.mean([np.average((m - ensemble) ** 2, weights=w64) for m in m64])
    np.testing.assert_allclose(got["mse"], mean_mse, rtol=1e-5)
    np.testing.assert_allclose(got["bias_squared"], bias2, rtol=1e-5)
    np.testing.assert_allclose(got["variance"], variance, rtol=1e-5)
    np.testing.assert_allclose(got["mse"], got["bias_squared"] + got["variance"], rtol=1e-5)


def test_bias_variance_errors():
    with pytest.raises(
        ValueError,
        match=r"members of shape \(4,\) along axis 0, but targets "
        r"have shape \(5,\)",
    ):
        metrics.bias_variance(np.zeros((3, 4)), np.zeros(5))
    with pytest.raises(ValueError, match=r"axis=2 is invalid"):
        metrics.bias_variance(np.zeros((3, 4)), np.zeros(4), axis=2)
