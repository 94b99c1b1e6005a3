"""Sweep throughput: one vmapped program against a loop of jitted fits and a PyTorch loop.

A grid of 64 configurations (4 learning rates × 4 Huber deltas × 4 seeds), each a full
training run of ``--steps`` adam steps on minibatches of 64 from 512 examples, for a linear
model (8 features) and an MLP (8 → 32 → 32 → 1). Measured in one run:

- ``sweep (vmapped)``: ``jaxloss.sweep.run`` — the 64 runs as one compiled program;
- ``loop of jitted fit``: ``jax.jit(run_fn)`` called once per configuration;
- ``torch loop``: the equivalent PyTorch training, one configuration after another;

reported as runs/s (compilation excluded, measured separately) and as
``ratio = time(peer) / time(sweep)``; plus the vmapped sweep on 1, 2 and 4 simulated CPU
devices (``--xla_force_host_platform_device_count``), which share this machine's cores, and
on 1 and 2 processes (``jax.distributed`` over loopback with gloo), each pinned to a core of
its own with ``taskset``: the scaling a cluster of independent hosts would see.

Run: ``pip install -e ".[bench]" && python benchmarks/bench_sweep.py``.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time

import jax
import numpy as np
import optax
from _common import argument_parser, machine, machine_line, publish, torch

import jaxloss
from jaxloss import models, sweep, train

N, FEATURES, BATCH, HIDDEN = 512, 8, 64, (32, 32)
GRID = sweep.Grid(
    learning_rate=[1e-3, 3e-3, 1e-2, 3e-2], delta=[0.25, 0.5, 1.0, 2.0], seed=[0, 1, 2, 3]
)


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N, FEATURES)).astype(np.float32)
    y = (np.sin(x @ rng.normal(size=FEATURES)) + 0.1 * rng.normal(size=N)).astype(np.float32)
    y[::20] += 5.0
    return x, y


X, Y = _data()


def make_run_fn(kind: str, steps: int):
    def run_fn(learning_rate, delta, seed):
        key = jax.random.key(seed)
        if kind == "linear":
            params, apply = models.linear_init(key, FEATURES), models.linear_apply
        else:
            params, apply = models.mlp_init(key, FEATURES, hidden=HIDDEN), models.mlp_apply

        def objective(params, batch):
            return jaxloss.huber(apply(params, batch[0]), batch[1], delta=delta)

        result = train.fit(objective, params, optax.adam(learning_rate), (X, Y),
                           num_steps=steps, batch_size=BATCH, key=jax.random.fold_in(key, 1),
                           log_every=steps, progress=False)  # fmt: skip
        return {"mse": jaxloss.mse(apply(result.params, X), Y)}

    return run_fn


def time_sweep(kind: str, steps: int) -> tuple[float, float, np.ndarray]:
    run_fn = make_run_fn(kind, steps)
    start = time.perf_counter()
    sweep.run(run_fn, GRID)  # compiles (cached for the second call)
    first = time.perf_counter() - start
    start = time.perf_counter()
    result = sweep.run(run_fn, GRID)
    return time.perf_counter() - start, first, np.asarray(result["mse"])


def time_fit_loop(kind: str, steps: int) -> tuple[float, np.ndarray]:
    jitted = jax.jit(make_run_fn(kind, steps))
    points = [GRID.point(i) for i in range(GRID.size)]
    jax.block_until_ready(jitted(**points[0]))  # compile once
    start = time.perf_counter()
    out = [jax.block_until_ready(jitted(**p))["mse"] for p in points]
    return time.perf_counter() - start, np.asarray(out).reshape(GRID.shape)


def time_torch_loop(kind: str, steps: int) -> float:
    x, y = torch.tensor(X), torch.tensor(Y)
    start = time.perf_counter()
    for i in range(GRID.size):
        p = GRID.point(i)
        torch.manual_seed(p["seed"])
        if kind == "linear":
            model = torch.nn.Linear(FEATURES, 1)
        else:
            model = torch.nn.Sequential(
                torch.nn.Linear(FEATURES, HIDDEN[0]), torch.nn.GELU(),
                torch.nn.Linear(HIDDEN[0], HIDDEN[1]), torch.nn.GELU(),
                torch.nn.Linear(HIDDEN[1], 1),
            )  # fmt: skip
        optimizer = torch.optim.Adam(model.parameters(), lr=p["learning_rate"])
        generator = torch.Generator().manual_seed(p["seed"])
        order = torch.randperm(N, generator=generator)
        for s in range(steps):
            j = (s * BATCH) % N
            if j == 0 and s:
                order = torch.randperm(N, generator=generator)
            index = order[j : j + BATCH]
            optimizer.zero_grad(set_to_none=True)
            loss = torch.nn.functional.huber_loss(model(x[index])[:, 0], y[index], delta=p["delta"])
            loss.backward()
            optimizer.step()
    return time.perf_counter() - start


SCALING = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
import jax
from bench_sweep import GRID, make_run_fn
from jaxloss import sweep
run_fn = make_run_fn(sys.argv[2], int(sys.argv[3]))
sweep.run(run_fn, GRID)
start = time.perf_counter()
sweep.run(run_fn, GRID)
print(json.dumps({"devices": jax.device_count(), "seconds": time.perf_counter() - start}))
"""


PROCESS = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
import jax
port, index, count = int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
if count > 1:
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address=f"127.0.0.1:{port}", num_processes=count,
                               process_id=index, initialization_timeout=120)
from bench_sweep import GRID, make_run_fn
from jaxloss import sweep
run_fn = make_run_fn(sys.argv[2], int(sys.argv[3]))
sweep.run(run_fn, GRID)
start = time.perf_counter()
sweep.run(run_fn, GRID)
print(json.dumps({"processes": jax.process_count(), "seconds": time.perf_counter() - start}))
"""


def time_processes(kind: str, steps: int, count: int) -> float | None:
    """Seconds for the sweep on ``count`` processes, process ``i`` pinned to core ``i``."""
    if shutil.which("taskset") is None or (os.cpu_count() or 1) < count:
        return None
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=1",
               JAX_PLATFORMS="cpu")  # fmt: skip
    folder = os.path.dirname(os.path.abspath(__file__))
    procs = [
        subprocess.Popen(["taskset", "-c", str(i), sys.executable, "-c", PROCESS, folder, kind,
                          str(steps), str(port), str(i), str(count)], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for i in range(count)
    ]  # fmt: skip
    outputs = [p.communicate(timeout=600) for p in procs]
    for p, (_, err) in zip(procs, outputs, strict=True):
        if p.returncode:
            raise RuntimeError(f"bench_sweep: a process failed: {err[-2000:]}")
    return max(json.loads(out.strip().splitlines()[-1])["seconds"] for out, _ in outputs)


def time_devices(kind: str, steps: int, count: int) -> float:
    env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={count}",
               JAX_PLATFORMS=os.environ.get("JAX_PLATFORMS", "cpu"))  # fmt: skip
    folder = os.path.dirname(os.path.abspath(__file__))
    out = subprocess.run([sys.executable, "-c", SCALING, folder, kind, str(steps)], env=env,
                         capture_output=True, text=True, check=True, timeout=600)  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])["seconds"]


def run(steps: int, devices: list[int], kinds: list[str], processes: list[int]) -> dict:
    rows = []
    for kind in kinds:
        seconds, compile_and_run, sweep_mse = time_sweep(kind, steps)
        loop_seconds, loop_mse = time_fit_loop(kind, steps)
        row = {
            "model": kind,
            "seconds": {"sweep (vmapped)": seconds, "loop of jitted fit": loop_seconds},
            "first_call_seconds": compile_and_run,
            "max_abs_diff_vs_loop": float(np.max(np.abs(sweep_mse - loop_mse))),
            "devices": {str(c): time_devices(kind, steps, c) for c in devices},
            "processes": {str(c): time_processes(kind, steps, c) for c in processes},
        }
        if torch is not None:
            row["seconds"]["torch loop"] = time_torch_loop(kind, steps)
        rows.append(row)
    return {"machine": machine(), "steps": steps, "runs": GRID.size, "rows": rows}


def to_markdown(results: dict) -> str:
    runs = results["runs"]
    lines = [
        "# Sweep benchmark",
        "",
        machine_line(results["machine"]),
        "",
        f"{runs} configurations (4 learning rates × 4 Huber deltas × 4 seeds), each "
        f"{results['steps']} adam steps on minibatches of {BATCH} from {N} examples. Times "
        "exclude compilation (shown separately for the sweep). `ratio` is time(peer) / "
        "time(sweep).",
        "",
        "| model | implementation | total | runs/s | ratio |",
        "|---|---|---:|---:|---:|",
    ]
    for row in results["rows"]:
        base = row["seconds"]["sweep (vmapped)"]
        for name, seconds in row["seconds"].items():
            lines.append(
                f"| {row['model']} | {name} | {seconds:.2f} s | {runs / seconds:.1f} | "
                f"{seconds / base:.2f} |"
            )
    lines += ["", "First sweep call, compilation included, and agreement with the loop:", ""]
    for row in results["rows"]:
        lines.append(
            f"- {row['model']}: {row['first_call_seconds']:.2f} s; max |Δ mse| vs the loop of "
            f"fits {row['max_abs_diff_vs_loop']:.1e}"
        )
    lines += ["", "Vmapped sweep on simulated CPU devices (they share the same cores):", "",
              "| model | devices | total | runs/s |", "|---|---:|---:|---:|"]  # fmt: skip
    for row in results["rows"]:
        one = row["devices"].get("1")
        for count, seconds in row["devices"].items():
            ratio = "" if one is None else f" ({seconds / one:.2f}× the time of 1)"
            lines.append(f"| {row['model']} | {count} | {seconds:.2f} s | "
                         f"{runs / seconds:.1f}{ratio} |")  # fmt: skip
    lines += ["", "Processes over loopback (jax.distributed, gloo), each pinned to its own core "
              "with taskset (target: 2 processes at least 1.7× the throughput of 1):", "",
              "| model | processes | total | runs/s |", "|---|---:|---:|---:|"]  # fmt: skip
    for row in results["rows"]:
        one = row["processes"].get("1")
        for count, seconds in row["processes"].items():
            if seconds is None:
                lines.append(f"| {row['model']} | {count} | (no taskset or too few cores) | |")
                continue
            speedup = "" if not one else f" ({one / seconds:.2f}× the throughput of 1)"
            lines.append(f"| {row['model']} | {count} | {seconds:.2f} s | "
                         f"{runs / seconds:.1f}{speedup} |")  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argument_parser(__doc__)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--devices", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--models", nargs="+", choices=["linear", "mlp"], default=["linear", "mlp"])
    args = parser.parse_args(argv)
    results = run(args.steps, args.devices, args.models, args.processes)
    return publish("sweep", results, to_markdown, args.out)


if __name__ == "__main__":
    main()
