"""What every benchmark shares: fair timing, the machine's description, its copy bandwidth.

Imported by the ``bench_*.py`` scripts of this folder (run them as scripts, from anywhere).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import platform
import random
import statistics
import time
from collections.abc import Callable

# PyTorch's OpenMP threads otherwise spin for a while after each call, stealing the cores
# from whichever implementation is timed next. Must be set before torch is imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import jax
import jax.numpy as jnp

try:
    import torch
except ImportError:  # optional peer
    torch = None
else:
    torch.set_num_threads(os.cpu_count() or 1)


def time_calls(
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


def torch_device() -> str:
    return "cuda" if torch is not None and torch.cuda.is_available() else "cpu"


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

    seconds = time_calls(
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
        "torch": "not installed" if torch is None else f"{torch.__version__} ({torch_device()})",
    }


def machine_line(m: dict[str, str]) -> str:
    return (
        f"Machine: {m['jax_platform']} ({m['jax_device']}), {m['cpu']}, {m['cpu_count']} cores; "
        f"Python {m['python']}, jax {m['jax']}, torch {m['torch']}; {m['date']}. "
        f"PyTorch runs with `OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}` so that its "
        "idle threads do not spin on the cores the next implementation is timed on."
    )


def write_results(out: pathlib.Path, stem: str, results: dict, report: str) -> None:
    """Writes ``<stem>-<platform>.md`` and ``.json`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    name = f"{stem}-{results['machine']['jax_platform']}"
    (out / f"{name}.md").write_text(report + "\n")
    (out / f"{name}.json").write_text(json.dumps(results, indent=2) + "\n")


def format_seconds(seconds: float) -> str:
    return f"{seconds * 1e3:.2f} ms" if seconds >= 1e-3 else f"{seconds * 1e6:.0f} µs"


def argument_parser(doc: str) -> argparse.ArgumentParser:
    """A parser with the script's first docstring line and the shared ``--out``."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument(
        "--out",
        type=pathlib.Path,
        default=pathlib.Path(__file__).parent / "results",
        help="where to write <stem>-<platform>.md and .json",
    )
    return parser


def publish(
    stem: str, results: dict, to_markdown: Callable[[dict], str], out: pathlib.Path
) -> dict:
    """Prints the Markdown report and writes it, with the raw results, into ``out``."""
    report = to_markdown(results)
    print(report)
    write_results(out, stem, results, report)
    return results
