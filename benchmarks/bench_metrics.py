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

Run: ``pip install -e ".[bench]" && python benchmarks/bench_metrics.py [--samples 10000000]``.
"""

from __future__ import annotations

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
    return "\n".join(lines)


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
