"""Value-and-gradient throughput of jaxloss losses against optax, plain jnp and PyTorch.

For N float32 elements, each implementation computes the mean loss and its gradient with
respect to the predictions. The bytes that must move are 12·N (read predictions and targets,
write the gradient), so each time is also reported as achieved GB/s and as a fraction of the
machine's copy bandwidth, measured in the same run as a jitted ``x * 2`` (8·N bytes).
A second table measures a whole jitted training step that donates its buffers
(``p ← p − lr·∇ℓ(p)``, also 12·N bytes): the form the loss takes in a real loop. A third
times the probabilistic losses' value and gradient: ``crps_ensemble`` (members sorted,
O(M log M)) against the pairwise O(M²) form written in jnp, for M = 8 … 256 members, and
``crps_normal`` against its textbook formula in jnp.

Ratios are ``time(peer) / time(jaxloss)`` from one run, so >1 means jaxloss is faster and
1.00 ± noise means it costs nothing over the peer. Run:

    pip install -e ".[bench]"   # PyTorch is optional; without it its rows are skipped
    python benchmarks/bench_losses.py [--sizes 16 20 24] [--out benchmarks/results]
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from _common import (
    argument_parser,
    copy_bandwidth,
    format_seconds,
    machine,
    machine_line,
    publish,
    time_calls,
    torch,
    torch_device,
)

import jaxloss

if torch is not None:
    import torch.nn.functional as F

DELTA = 1.0
LEARNING_RATE = 1e-3


def _jax_value_and_grad(loss: Callable) -> Callable:
    fn = jax.jit(jax.value_and_grad(loss))
    return lambda p, t: jax.block_until_ready(fn(p, t))


def _jax_donated_step(loss: Callable) -> Callable:
    def step(p, t):
        value, grad = jax.value_and_grad(loss)(p, t)
        return p - LEARNING_RATE * grad, value

    # Donating p lets XLA write the new predictions into the old buffer: no allocation per call.
    return jax.jit(step, donate_argnums=0)


JAX_LOSSES: dict[str, dict[str, Callable]] = {
    "mse": {
        "jaxloss": lambda p, t: jaxloss.mse(p, t),
        "optax": lambda p, t: optax.losses.squared_error(p, t).mean(),
        "jnp": lambda p, t: jnp.mean((p - t) ** 2),
    },
    "huber": {
        "jaxloss": lambda p, t: jaxloss.huber(p, t, delta=DELTA),
        "optax": lambda p, t: optax.losses.huber_loss(p, t, delta=DELTA).mean(),
        "jnp": lambda p, t: jnp.mean(
            jnp.where(
                jnp.abs(p - t) <= DELTA, 0.5 * (p - t) ** 2, DELTA * (jnp.abs(p - t) - 0.5 * DELTA)
            )
        ),
    },
}


def _torch_losses() -> dict[str, Callable]:
    return {
        "mse": lambda p, t: F.mse_loss(p, t),
        "huber": lambda p, t: F.huber_loss(p, t, delta=DELTA),
    }


def _torch_call(loss: Callable, p_np: np.ndarray, t_np: np.ndarray, *, update: bool) -> Callable:
    """PyTorch's value and gradient (``.backward()``), and with ``update`` the SGD step."""
    device = torch_device()
    p = torch.tensor(p_np, device=device, requires_grad=True)
    t = torch.tensor(t_np, device=device)

    def run():
        p.grad = None
        value = loss(p, t)
        value.backward()
        if update:
            with torch.no_grad():
                p.sub_(LEARNING_RATE * p.grad)
        if device == "cuda":
            torch.cuda.synchronize()
        return value

    return run


def _donated_call(step: Callable, p_np: np.ndarray, t: jax.Array) -> Callable[[], None]:
    state = {"p": jnp.array(p_np)}

    def call():
        state["p"], _ = step(state["p"], t)
        jax.block_until_ready(state["p"])

    return call


def run(sizes: list[int], min_seconds: float) -> dict:
    bandwidth = copy_bandwidth(2 ** max(sizes), min_seconds)
    rows = []
    rng = np.random.default_rng(0)
    for log2n in sizes:
        n = 2**log2n
        p_np = rng.normal(size=n).astype(np.float32)
        t_np = rng.normal(size=n).astype(np.float32)
        p, t = jnp.asarray(p_np), jnp.asarray(t_np)
        for loss_name, impls in JAX_LOSSES.items():
            calls = {
                impl: functools.partial(_jax_value_and_grad(fn), p, t) for impl, fn in impls.items()
            }
            donated = {
                impl: _donated_call(_jax_donated_step(fn), p_np, t) for impl, fn in impls.items()
            }
            for kind, timed, update in (
                ("value_and_grad", calls, False),
                ("donated_step", donated, True),
            ):
                if torch is not None:
                    timed["torch"] = _torch_call(
                        _torch_losses()[loss_name], p_np, t_np, update=update
                    )
                seconds = time_calls(timed, min_seconds=min_seconds, min_repeats=5)
                rows.append({"kind": kind, "loss": loss_name, "log2n": log2n, "seconds": seconds})
    return {"machine": machine(), "copy_bandwidth_gbs": bandwidth / 1e9, "rows": rows}


def _pairwise_crps(x: jax.Array, t: jax.Array) -> jax.Array:
    """The fair ensemble CRPS over all M² member pairs (members on axis 0)."""
    m = x.shape[0]
    to_target = jnp.mean(jnp.abs(x - t[None]), axis=0)
    pairs = jnp.sum(jnp.abs(x[:, None] - x[None, :]), axis=(0, 1))
    return jnp.mean(to_target - pairs / (2.0 * m * (m - 1)))


def _textbook_crps_normal(p: jax.Array, t: jax.Array, sigma: float) -> jax.Array:
    z = (t - p) / sigma
    cdf, pdf = jax.scipy.stats.norm.cdf(z), jax.scipy.stats.norm.pdf(z)
    return jnp.mean(sigma * (z * (2.0 * cdf - 1.0) + 2.0 * pdf - 1.0 / np.sqrt(np.pi)))


def run_probabilistic(members: list[int], forecasts: int, log2n: int, min_seconds: float) -> list:
    rows = []
    rng = np.random.default_rng(1)
    t = jnp.asarray(rng.normal(size=forecasts).astype(np.float32))
    for m in members:
        x = jnp.asarray(rng.normal(size=(m, forecasts)).astype(np.float32))
        impls = {
            "jaxloss": lambda x, t: jaxloss.crps_ensemble(x, t),
            "pairwise jnp": _pairwise_crps,
        }
        calls = {k: functools.partial(_jax_value_and_grad(f), x, t) for k, f in impls.items()}
        agree = abs(float(impls["jaxloss"](x, t)) - float(_pairwise_crps(x, t)))
        seconds = time_calls(calls, min_seconds=min_seconds, min_repeats=5)
        rows.append({"loss": "crps_ensemble", "members": m, "n": forecasts, "seconds": seconds,
                     "max_abs_diff": agree})  # fmt: skip
    n = 2**log2n
    p = jnp.asarray(rng.normal(size=n).astype(np.float32))
    t = jnp.asarray(rng.normal(size=n).astype(np.float32))
    impls = {
        "jaxloss": lambda p, t: jaxloss.crps_normal(p, t, scale=0.7),
        "textbook jnp": lambda p, t: _textbook_crps_normal(p, t, 0.7),
    }
    calls = {k: functools.partial(_jax_value_and_grad(f), p, t) for k, f in impls.items()}
    agree = abs(float(impls["jaxloss"](p, t)) - float(impls["textbook jnp"](p, t)))
    seconds = time_calls(calls, min_seconds=min_seconds, min_repeats=5)
    rows.append({"loss": "crps_normal", "members": None, "n": n, "seconds": seconds,
                 "max_abs_diff": agree})  # fmt: skip
    return rows


def to_markdown(results: dict) -> str:
    m = results["machine"]
    bandwidth = results["copy_bandwidth_gbs"]
    lines = [
        "# Loss value-and-gradient benchmark",
        "",
        machine_line(m) + f" optax {optax.__version__}.",
        "",
        f"Copy bandwidth (jitted `x * 2` at the largest N, fresh or donated output, whichever is "
        f"faster; 8 bytes/element): **{bandwidth:.1f} GB/s**.",
        "Bytes per call: 12·N (read predictions and targets, write the gradient or the "
        "updated predictions). `ratio` is time(peer) / time(jaxloss): 1.00 means the same "
        "speed, >1 means jaxloss is faster. `%bw` is achieved GB/s over copy bandwidth.",
        "",
    ]
    for kind, title in [
        ("value_and_grad", "jax.value_and_grad of the mean loss"),
        ("donated_step", "jitted step p ← p − lr·∇ℓ, donated buffers"),
    ]:
        lines += [
            f"## {title}",
            "",
            "| loss | N | impl | time | GB/s | %bw | ratio |",
            "|---|---|---|---:|---:|---:|---:|",
        ]
        for row in (r for r in results["rows"] if r["kind"] == kind):
            base = row["seconds"]["jaxloss"]
            n = 2 ** row["log2n"]
            for impl, seconds in row["seconds"].items():
                gbs = 12 * n / seconds / 1e9
                lines.append(
                    f"| {row['loss']} | 2^{row['log2n']} | {impl} | {format_seconds(seconds)} | "
                    f"{gbs:.1f} | {100 * gbs / bandwidth:.0f}% | {seconds / base:.2f} |"
                )
        lines.append("")
    lines += [
        "## Probabilistic losses: jax.value_and_grad of the mean",
        "",
        "`crps_ensemble` (fair estimator) sorts the members, O(M log M) per forecast; the "
        "pairwise form sums all M² member pairs. `crps_normal` against the textbook formula "
        "with `jax.scipy.stats.norm`. `ratio` is time(peer) / time(jaxloss).",
        "",
        "| loss | members | forecasts | impl | time | ratio | |Δ value| |",
        "|---|---:|---:|---|---:|---:|---:|",
    ]
    for row in results.get("probabilistic", []):
        base = row["seconds"]["jaxloss"]
        for impl, seconds in row["seconds"].items():
            lines.append(
                f"| {row['loss']} | {row['members'] or ''} | {row['n']} | {impl} | "
                f"{format_seconds(seconds)} | {seconds / base:.2f} | {row['max_abs_diff']:.1e} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argument_parser(__doc__)
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[16, 20, 24], help="log2 of the element counts"
    )
    parser.add_argument(
        "--min-seconds", type=float, default=0.5, help="measure each entry for at least this long"
    )
    parser.add_argument("--members", type=int, nargs="+", default=[8, 32, 128, 256],
                        help="ensemble sizes for crps_ensemble")  # fmt: skip
    parser.add_argument("--forecasts", type=int, default=1024,
                        help="forecasts per crps_ensemble call")  # fmt: skip
    args = parser.parse_args(argv)
    results = run(args.sizes, args.min_seconds)
    results["probabilistic"] = run_probabilistic(args.members, args.forecasts, max(args.sizes),
                                                 args.min_seconds)  # fmt: skip
    return publish("losses", results, to_markdown, args.out)


if __name__ == "__main__":
    main()
