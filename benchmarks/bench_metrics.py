"""Streaming throughput of ``jaxloss.metrics.Regression`` against torchmetrics and plain sums.

One pass streams N samples (default 10⁷) in batches (default 10⁵) through each
implementation and computes MSE and R² at the end. Every pass reads predictions and targets
once, 8 bytes per sample, so the time is also reported as samples/s and GB/s. The targets
are 311030 ± 5 (float32), the offset that breaks single-pass variance formulas, so the table
also shows the R² each implementation returns against the float64 reference:

- ``jaxloss scan``: ``Regression.update`` inside one jitted ``jax.lax.scan`` over batches;
- ``jaxloss loop``: a Python loop of a jitted ``update`` per batch (data already on device);
- ``jnp sums``: a jitted scan carrying the naive single-pass sums (n, Σr², Σt, Σt²), the speed
  of light for streaming on this machine and the formula that goes wrong;
- ``torchmetrics``: ``MeanSquaredError`` and ``R2Score`` updated per batch (if installed).

A second table streams the same N samples, ordered by target (the order that broke Keras'
streamed Pearson), through the metrics beyond MSE, each against its torchmetrics peer and
the float64 reference: Pearson ρ and Lin's CCC (``Regression``; it computes all its metrics
in the one pass, so its time is the same for both rows), the mean Tweedie deviance at power
1.5 (``Deviance``, which also gives D²) and the median absolute error from the
``ErrorQuantiles`` sketch (NumPy's exact median as the reference; torchmetrics has no
streaming quantile). Below it: the sketch's merge and ``quantile`` costs.

Run: ``pip install -e ".[bench]" && python benchmarks/bench_metrics.py [--samples 10000000]``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from _common import (
    argument_parser,
    format_seconds,
    machine,
    machine_line,
    publish,
    time_calls,
    torch,
    torch_device,
)

from jaxloss import metrics

try:
    import torchmetrics
except ImportError:  # optional peer
    torchmetrics = None


def _data(samples: int, batch: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    t = (311030 + rng.uniform(-5, 5, size=samples)).astype(np.float32)
    p = (t + rng.normal(scale=2.0, size=samples)).astype(np.float32)
    return p.reshape(-1, batch), t.reshape(-1, batch)


def _jaxloss_scan(p: jax.Array, t: jax.Array):
    @jax.jit
    def run(p, t):
        def body(state, batch):
            return state.update(*batch), None

        state, _ = jax.lax.scan(body, metrics.Regression.empty(), (p, t))
        return state.compute()

    return lambda: {k: float(v) for k, v in run(p, t).items() if k in ("mse", "r2")}


def _jaxloss_loop(p: jax.Array, t: jax.Array):
    update = jax.jit(lambda state, p, t: state.update(p, t))
    compute = jax.jit(lambda state: state.compute())

    def run():
        state = metrics.Regression.empty()
        for i in range(p.shape[0]):
            state = update(state, p[i], t[i])
        return {k: float(v) for k, v in compute(state).items() if k in ("mse", "r2")}

    return run


def _jnp_sums(p: jax.Array, t: jax.Array):
    @jax.jit
    def run(p, t):
        def body(sums, batch):
            pb, tb = batch
            r = pb - tb
            return sums + jnp.stack([pb.size, jnp.sum(r * r), jnp.sum(tb), jnp.sum(tb * tb)]), None

        (n, ss_res, sum_t, sum_t2), _ = jax.lax.scan(body, jnp.zeros(4), (p, t))
        return ss_res / n, 1.0 - ss_res / (sum_t2 - sum_t * sum_t / n)

    def call():
        mse, r2 = run(p, t)
        return {"mse": float(mse), "r2": float(r2)}

    return call


def _torchmetrics(p: np.ndarray, t: np.ndarray):
    device = torch_device()
    p_batches = [torch.tensor(b, device=device) for b in p]
    t_batches = [torch.tensor(b, device=device) for b in t]

    def run():
        mse = torchmetrics.MeanSquaredError().to(device)
        r2 = torchmetrics.R2Score().to(device)
        for pb, tb in zip(p_batches, t_batches, strict=True):
            mse.update(pb, tb)
            r2.update(pb, tb)
        return {"mse": float(mse.compute()), "r2": float(r2.compute())}

    return run


def _beyond_data(samples: int, batch: int) -> tuple[np.ndarray, np.ndarray]:
    """Gamma targets offset by 1000 (positive, for the deviance), ordered by size."""
    rng = np.random.default_rng(1)
    t = np.sort(1000 + rng.gamma(2.0, 50.0, size=samples)).astype(np.float32)
    p = (t * rng.uniform(0.8, 1.25, size=samples)).astype(np.float32)
    return p.reshape(-1, batch), t.reshape(-1, batch)


def _scan_accumulator(empty: Callable[[], Any], keys: dict[str, str], p: jax.Array,
                      t: jax.Array) -> Callable[[], dict[str, float]]:  # fmt: skip
    """One jitted scan of ``update`` over the batches, then ``compute``; ``keys`` maps the
    report's names to ``compute()``'s."""

    @jax.jit
    def run(p, t):
        state, _ = jax.lax.scan(lambda s, b: (s.update(*b), None), empty(), (p, t))
        computed = state.compute()
        return {name: computed[key] for name, key in keys.items()}

    return lambda: {k: float(v) for k, v in run(p, t).items()}


def _torchmetrics_peer(make: Callable[[], Any], name: str, p: np.ndarray, t: np.ndarray):
    device = torch_device()
    p_batches = [torch.tensor(b, device=device) for b in p]
    t_batches = [torch.tensor(b, device=device) for b in t]

    def run():
        metric = make().to(device)
        for pb, tb in zip(p_batches, t_batches, strict=True):
            metric.update(pb, tb)
        return {name: float(metric.compute())}

    return run


def _beyond_mse(samples: int, batch: int, min_seconds: float) -> dict:
    p_np, t_np = _beyond_data(samples, batch)
    p, t = jnp.asarray(p_np), jnp.asarray(t_np)
    correlations = {"pearson": "pearson", "ccc": "ccc"}
    rows = {
        "pearson": {"jaxloss": _scan_accumulator(metrics.Regression.empty, correlations, p, t)},
        "ccc": {},  # the same jaxloss pass: Regression computes both
        "tweedie deviance (p = 1.5)": {
            "jaxloss": _scan_accumulator(
                lambda: metrics.Deviance.empty(power=1.5), {"deviance": "deviance"}, p, t
            )
        },
        "median absolute error": {
            "jaxloss": _scan_accumulator(
                metrics.ErrorQuantiles.empty, {"median": "median_absolute_error"}, p, t
            )
        },
    }
    if torchmetrics is not None:
        rows["pearson"]["torchmetrics"] = _torchmetrics_peer(
            torchmetrics.PearsonCorrCoef, "pearson", p_np, t_np
        )
        rows["ccc"]["torchmetrics"] = _torchmetrics_peer(
            torchmetrics.ConcordanceCorrCoef, "ccc", p_np, t_np
        )
        rows["tweedie deviance (p = 1.5)"]["torchmetrics"] = _torchmetrics_peer(
            lambda: torchmetrics.TweedieDevianceScore(power=1.5), "deviance", p_np, t_np
        )
    calls = {f"{row}: {impl}": fn for row, impls in rows.items() for impl, fn in impls.items()}
    values = {name: call() for name, call in calls.items()}
    seconds = time_calls(calls, min_seconds=min_seconds, min_repeats=3)
    values["ccc: jaxloss"] = values["pearson: jaxloss"]
    seconds["ccc: jaxloss"] = seconds["pearson: jaxloss"]

    p64, t64 = p_np.astype(np.float64).ravel(), t_np.astype(np.float64).ravel()
    pc, tc = p64 - p64.mean(), t64 - t64.mean()
    covariance = np.mean(pc * tc)
    mu, y = p64, t64
    # 2(y^(2−p)/((1−p)(2−p)) − y μ^(1−p)/(1−p) + μ^(2−p)/(2−p)) at p = 1.5
    deviance = 2 * (y**0.5 / -0.25 + y * mu**-0.5 / 0.5 + mu**0.5 / 0.5)
    reference = {
        "pearson": covariance / np.sqrt(np.mean(pc**2) * np.mean(tc**2)),
        "ccc": 2 * covariance / (np.mean(pc**2) + np.mean(tc**2) + (p64.mean() - t64.mean()) ** 2),
        "deviance": float(np.mean(deviance)),
        "median": float(np.median(np.abs(p64 - t64))),
    }

    # The sketch: the cost of a merge (adding ~9,000 double-float buckets) and of a quantile.
    sketch = jax.jit(lambda p, t: metrics.ErrorQuantiles.empty().update(p, t))(p[0], t[0])
    merge = jax.jit(lambda a, b: a.merge(b))
    quantile = jax.jit(lambda s: s.quantile(jnp.array([0.5, 0.9, 0.99])))
    sketch_calls = {
        "merge": lambda: jax.block_until_ready(merge(sketch, sketch)),
        "quantile (3 probabilities)": lambda: jax.block_until_ready(quantile(sketch)),
    }
    return {
        "samples": samples,
        "values": values,
        "seconds": seconds,
        "reference": {k: float(v) for k, v in reference.items()},
        "sketch": {
            "buckets": int(sketch.counts[0].shape[-1]),
            "bytes": int(sum(x.nbytes for x in jax.tree.leaves(sketch))),
            "seconds": time_calls(sketch_calls, min_seconds=min_seconds / 4, min_repeats=20),
        },
    }


def run(samples: int, batch: int, min_seconds: float) -> dict:
    p_np, t_np = _data(samples, batch)
    p, t = jnp.asarray(p_np), jnp.asarray(t_np)
    calls = {
        "jaxloss scan": _jaxloss_scan(p, t),
        "jaxloss loop": _jaxloss_loop(p, t),
        "jnp sums": _jnp_sums(p, t),
    }
    if torchmetrics is not None:
        calls["torchmetrics"] = _torchmetrics(p_np, t_np)
    values = {name: call() for name, call in calls.items()}
    seconds = time_calls(calls, min_seconds=min_seconds, min_repeats=3)
    t64, r64 = t_np.astype(np.float64).ravel(), (p_np.astype(np.float64) - t_np).ravel()
    reference = {
        "mse": float(np.mean(r64**2)),
        "r2": float(1 - np.sum(r64**2) / np.sum((t64 - t64.mean()) ** 2)),
    }
    return {
        "machine": machine(),
        "torchmetrics": getattr(torchmetrics, "__version__", "not installed"),
        "samples": samples,
        "batch": batch,
        "seconds": seconds,
        "values": values,
        "reference": reference,
        "beyond_mse": _beyond_mse(samples, batch, min_seconds),
    }


def to_markdown(results: dict) -> str:
    samples, base = results["samples"], results["seconds"]["jaxloss scan"]
    ref = results["reference"]
    lines = [
        "# Streaming metrics benchmark",
        "",
        machine_line(results["machine"]) + f" torchmetrics {results['torchmetrics']}.",
        "",
        f"{samples:,} float32 samples in batches of {results['batch']:,}; targets 311030 ± 5. "
        "Each pass updates and computes MSE and R²; 8 bytes read per sample. `ratio` is "
        "time(peer) / time(jaxloss scan). Reference (float64 NumPy): "
        f"MSE {ref['mse']:.6f}, R² {ref['r2']:.6f}.",
        "",
        "| implementation | time | samples/s | GB/s | ratio | MSE | R² | R² error |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, seconds in results["seconds"].items():
        value = results["values"][name]
        lines.append(
            f"| {name} | {format_seconds(seconds)} | {samples / seconds:.3g} | "
            f"{8 * samples / seconds / 1e9:.2f} | {seconds / base:.2f} | {value['mse']:.6f} | "
            f"{value['r2']:.6f} | {abs(value['r2'] - ref['r2']):.1e} |"
        )
    return "\n".join(lines + _beyond_markdown(results["beyond_mse"]))


_KEYS = {"pearson": "pearson", "ccc": "ccc", "tweedie deviance (p = 1.5)": "deviance",
         "median absolute error": "median"}  # fmt: skip


def _beyond_markdown(beyond: dict) -> list[str]:
    samples, seconds, ref = beyond["samples"], beyond["seconds"], beyond["reference"]
    lines = [
        "",
        "## Beyond MSE",
        "",
        f"The same {samples:,} samples, targets 1000 + Gamma(2, 50) ordered by size, "
        "predictions × U(0.8, 1.25); one jitted scan per pass (jaxloss) or one `update` per "
        "batch (torchmetrics). `ratio` is time / time(jaxloss) in the same row; `error` is "
        "|value − float64 reference|. The jaxloss Pearson and CCC rows are one pass "
        "(`Regression` computes every metric).",
        "",
        "| metric | implementation | time | samples/s | ratio | value | reference | error |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row, key in _KEYS.items():
        base = seconds[f"{row}: jaxloss"]
        for name in (f"{row}: jaxloss", f"{row}: torchmetrics"):
            if name not in seconds:
                continue
            value = beyond["values"][name][key]
            lines.append(
                f"| {row} | {name.split(': ', 1)[1]} | {format_seconds(seconds[name])} | "
                f"{samples / seconds[name]:.3g} | {seconds[name] / base:.2f} | {value:.7g} | "
                f"{ref[key]:.7g} | {abs(value - ref[key]):.1e} |"
            )
    sketch = beyond["sketch"]
    lines += [
        "",
        f"`ErrorQuantiles` (relative accuracy 1%): {sketch['buckets']:,} buckets, "
        f"{sketch['bytes'] / 1024:.0f} KiB of state; "
        + ", ".join(f"{k} {format_seconds(v)}" for k, v in sketch["seconds"].items())
        + " (jitted).",
    ]
    return lines


def main(argv: list[str] | None = None) -> dict:
    parser = argument_parser(__doc__)
    parser.add_argument("--samples", type=int, default=10_000_000)
    parser.add_argument("--batch", type=int, default=100_000)
    parser.add_argument("--min-seconds", type=float, default=3.0)
    args = parser.parse_args(argv)
    if args.samples % args.batch:
        parser.error(f"--samples {args.samples} is not a multiple of --batch {args.batch}")
    return publish(
        "metrics", run(args.samples, args.batch, args.min_seconds), to_markdown, args.out
    )


if __name__ == "__main__":
    main()
