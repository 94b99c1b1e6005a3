"""Value-and-gradient throughput of jaxloss losses against optax, plain jnp and PyTorch.

For N float32 elements, each implementation computes the mean loss and its gradient with
respect to the predictions. The bytes that must move are 12·N (read predictions and targets,
write the gradient), so each time is also reported as achieved GB/s and as a fraction of the
machine's copy bandwidth, measured in the same run as a jitted ``x * 2`` (8·N bytes).
A second table measures a whole jitted training step that donates its buffers
(``p ← p − lr·∇ℓ(p)``, also 12·N bytes): the form the loss takes in a real loop.

Ratios are ``time(peer) / time(jaxloss)`` from one run, so >1 means jaxloss is faster and
1.00 ± noise means it costs nothing over the peer. Run:

    pip install -e ".[bench]"   # PyTorch is optional; without it its rows are skipped
    python benchmarks/bench_losses.py [--sizes 16 20 24] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import datetime
import functools
import json
import os
import pathlib
import platform
import random
import statistics
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxloss

# PyTorch's OpenMP threads otherwise spin for a while after each call, stealing the cores
# from whichever implementation is timed next.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # optional peer
    torch = None

DELTA = 1.0
LEARNING_RATE = 1e-3


def _time(
    calls: dict[str, Callable[[], object]], *, min_seconds: float, min_repeats: int
) -> dict[str, float]:
    """Median seconds per call of each entry, after warm-up.

    The entries are called in rounds, each round in a new random order, so a slow phase of
    the machine (another process, a frequency change) and cache effects hit all alike.
    """
    for fn in calls.values():
        for _ in range(3):
            fn()
    times: dict[str, list[float]] = {name: [] for name in calls}
    budget_end = time.perf_counter() + min_seconds * len(calls)
    order = list(calls)
    shuffle = random.Random(0).shuffle
    rounds = 0
    while rounds < min_repeats or time.perf_counter() < budget_end:
        # A fresh order each round: whoever runs right after another implementation finds the
        # caches full of that one's data (30% slower at 2^20 elements, even for identical
        # programs), so no entry may always follow the same neighbour.
        shuffle(order)
        for name in order:
            fn = calls[name]
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
        rounds += 1
    return {name: statistics.median(ts) for name, ts in times.items()}


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


def _torch_device() -> str:
    return "cuda" if torch is not None and torch.cuda.is_available() else "cpu"


def _torch_value_and_grad(loss: Callable, p_np: np.ndarray, t_np: np.ndarray) -> Callable:
    device = _torch_device()
    p = torch.tensor(p_np, device=device, requires_grad=True)
    t = torch.tensor(t_np, device=device)

    def run():
        p.grad = None
        value = loss(p, t)
        value.backward()
        if device == "cuda":
            torch.cuda.synchronize()
        return value

    return run


def _torch_step(loss: Callable, p_np: np.ndarray, t_np: np.ndarray) -> Callable:
    device = _torch_device()
    p = torch.tensor(p_np, device=device, requires_grad=True)
    t = torch.tensor(t_np, device=device)

    def run():
        p.grad = None
        value = loss(p, t)
        value.backward()
        with torch.no_grad():
            p.sub_(LEARNING_RATE * p.grad)
        if device == "cuda":
            torch.cuda.synchronize()
        return value

    return run


def copy_bandwidth(n: int, min_seconds: float) -> float:
    """Bytes per second of the best jitted op that reads and writes n float32 values.

    Both a fresh output (``x * 2``, which also pays for new pages) and an in-place one (the
    same with the input donated) are timed; the faster is the machine's practical limit.
    """
    fresh = jax.jit(lambda x: x * 2.0)
    in_place = jax.jit(lambda x: x * 2.0, donate_argnums=0)
    x = jnp.ones(n, jnp.float32)
    state = {"x": jnp.ones(n, jnp.float32)}

    def donated():
        state["x"] = in_place(state["x"])
        state["x"].block_until_ready()

    seconds = _time(
        {"fresh": lambda: fresh(x).block_until_ready(), "donated": donated},
        min_seconds=min_seconds,
        min_repeats=10,
    )
    return 8 * n / min(seconds.values())


def machine() -> dict[str, str]:
    device = jax.devices()[0]
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if "model name" in line)
    except (OSError, StopIteration):
        pass
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "jax_platform": device.platform,
        "jax_device": device.device_kind,
        "cpu": cpu,
        "cpu_count": str(os.cpu_count()),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "optax": optax.__version__,
        "torch": "not installed" if torch is None else f"{torch.__version__} ({_torch_device()})",
    }


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
            calls = {}
            for impl, fn in impls.items():
                value_and_grad = _jax_value_and_grad(fn)
                calls[impl] = functools.partial(value_and_grad, p, t)
            if torch is not None:
                calls["torch"] = _torch_value_and_grad(_torch_losses()[loss_name], p_np, t_np)
            rows.append(
                {
                    "kind": "value_and_grad",
                    "loss": loss_name,
                    "log2n": log2n,
                    "seconds": _time(calls, min_seconds=min_seconds, min_repeats=5),
                }
            )

            calls = {
                impl: _donated_call(_jax_donated_step(fn), p_np, t) for impl, fn in impls.items()
            }
            if torch is not None:
                calls["torch"] = _torch_step(_torch_losses()[loss_name], p_np, t_np)
            rows.append(
                {
                    "kind": "donated_step",
                    "loss": loss_name,
                    "log2n": log2n,
                    "seconds": _time(calls, min_seconds=min_seconds, min_repeats=5),
                }
            )
    return {"machine": machine(), "copy_bandwidth_gbs": bandwidth / 1e9, "rows": rows}


def to_markdown(results: dict) -> str:
    m = results["machine"]
    bandwidth = results["copy_bandwidth_gbs"]
    lines = [
        "# Loss value-and-gradient benchmark",
        "",
        f"Machine: {m['jax_platform']} ({m['jax_device']}), {m['cpu']}, {m['cpu_count']} cores; "
        f"Python {m['python']}, jax {m['jax']}, optax {m['optax']}, torch {m['torch']}; "
        f"{m['date']}.",
        "",
        f"Copy bandwidth (jitted `x * 2` at the largest N, fresh or donated output, whichever is "
        f"faster; 8 bytes/element): **{bandwidth:.1f} GB/s**. PyTorch runs with "
        f"`OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}` so that its idle threads do not "
        "spin on the cores the next implementation is timed on.",
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
                    f"| {row['loss']} | 2^{row['log2n']} | {impl} | {_fmt_time(seconds)} | "
                    f"{gbs:.1f} | {100 * gbs / bandwidth:.0f}% | {seconds / base:.2f} |"
                )
        lines.append("")
    return "\n".join(lines)


def _fmt_time(seconds: float) -> str:
    return f"{seconds * 1e3:.2f} ms" if seconds >= 1e-3 else f"{seconds * 1e6:.0f} µs"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[16, 20, 24], help="log2 of the element counts"
    )
    parser.add_argument(
        "--min-seconds", type=float, default=0.5, help="measure each entry for at least this long"
    )
    parser.add_argument(
        "--out", type=pathlib.Path, default=pathlib.Path(__file__).parent / "results"
    )
    args = parser.parse_args(argv)

    if torch is not None:
        torch.set_num_threads(os.cpu_count() or 1)
    results = run(args.sizes, args.min_seconds)
    report = to_markdown(results)
    print(report)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = f"losses-{results['machine']['jax_platform']}"
    (args.out / f"{stem}.md").write_text(report + "\n")
    (args.out / f"{stem}.json").write_text(json.dumps(results, indent=2) + "\n")
    return results


if __name__ == "__main__":
    main()
