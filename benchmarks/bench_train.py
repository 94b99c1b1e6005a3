"""Training-step throughput: jaxloss's jitted, donated step and ``fit`` against PyTorch.

Two models on MSE with adam, on the same data: a linear model (64 features) and an MLP
(64 → 256 → 256 → 1, GELU), batches of 256. Measured in one run:

- ``jaxloss step``: ``jax.jit(train.make_step(...), donate_argnums=0)`` called in a Python
  loop (the batch already on the device);
- ``jaxloss fit``: ``train.fit`` with the whole loop in one compiled ``lax.scan``;
- ``torch loop``: the equivalent PyTorch loop (``zero_grad``, forward, ``backward``,
  ``Adam.step``), if PyTorch is installed.

Reported as steps/s and as ``ratio = time(peer) / time(jaxloss step)``. Run:
``pip install -e ".[bench]" && python benchmarks/bench_train.py``.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from _common import (
    argument_parser,
    machine,
    machine_line,
    publish,
    torch,
    torch_device,
)

import jaxloss
from jaxloss import models, train

FEATURES, HIDDEN, BATCH = 64, (256, 256), 256


def _data(n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, FEATURES)).astype(np.float32)
    y = (np.tanh(x @ rng.normal(size=FEATURES)) + 0.1 * rng.normal(size=n)).astype(np.float32)
    return x, y


def _jax_model(kind: str):
    if kind == "linear":
        return models.linear_init(None, FEATURES), models.linear_apply
    return models.mlp_init(jax.random.key(0), FEATURES, hidden=HIDDEN), models.mlp_apply


def _timed(fn, steps: int) -> float:
    fn(min(steps, 20))  # compile and warm up
    start = time.perf_counter()
    fn(steps)
    return (time.perf_counter() - start) / steps


def jaxloss_step(kind: str, x: np.ndarray, y: np.ndarray, steps: int) -> float:
    params, apply = _jax_model(kind)
    optimizer = optax.adam(1e-3)

    def objective(params, batch):
        return jaxloss.mse(apply(params, batch[0]), batch[1])

    step = jax.jit(train.make_step(objective, optimizer), donate_argnums=0)
    batch = (jnp.asarray(x[:BATCH]), jnp.asarray(y[:BATCH]))
    holder = {"state": train.TrainState.create(params, optimizer)}

    def run(n):
        state = holder["state"]
        for _ in range(n):
            state, _ = step(state, batch)
        jax.block_until_ready(state)
        holder["state"] = state

    return _timed(run, steps)


def jaxloss_fit(kind: str, x: np.ndarray, y: np.ndarray, steps: int) -> float:
    params, apply = _jax_model(kind)
    optimizer = optax.adam(1e-3)
    data = (jnp.asarray(x), jnp.asarray(y))

    def objective(params, batch):
        return jaxloss.mse(apply(params, batch[0]), batch[1])

    def run(n):
        result = train.fit(objective, params, optimizer, data, num_steps=n, batch_size=BATCH,
                           key=jax.random.key(0), log_every=n, progress=False)  # fmt: skip
        jax.block_until_ready(result)

    run(steps)  # compile the timed length too (num_steps is static)
    return _timed(run, steps)


def torch_loop(kind: str, x: np.ndarray, y: np.ndarray, steps: int) -> float:
    device = torch_device()
    if kind == "linear":
        model = torch.nn.Linear(FEATURES, 1)
    else:
        model = torch.nn.Sequential(
            torch.nn.Linear(FEATURES, HIDDEN[0]), torch.nn.GELU(),
            torch.nn.Linear(HIDDEN[0], HIDDEN[1]), torch.nn.GELU(),
            torch.nn.Linear(HIDDEN[1], 1),
        )  # fmt: skip
    model = model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    xb = torch.tensor(x[:BATCH], device=device)
    yb = torch.tensor(y[:BATCH], device=device)

    def run(n):
        for _ in range(n):
            optimizer.zero_grad(set_to_none=True)
            loss = torch.nn.functional.mse_loss(model(xb)[:, 0], yb)
            loss.backward()
            optimizer.step()
        if device == "cuda":
            torch.cuda.synchronize()

    return _timed(run, steps)


def run(steps: int, repeats: int) -> dict:
    x, y = _data(16 * BATCH)
    rows = []
    for kind in ("linear", "mlp"):
        impls = {"jaxloss step": jaxloss_step, "jaxloss fit": jaxloss_fit}
        if torch is not None:
            impls["torch loop"] = torch_loop
        seconds = {name: [] for name in impls}
        for _ in range(repeats):  # interleaved repeats, best of each
            for name, fn in impls.items():
                seconds[name].append(fn(kind, x, y, steps))
        rows.append({"model": kind, "seconds_per_step": {k: min(v) for k, v in seconds.items()}})
    return {"machine": machine(), "steps": steps, "batch": BATCH, "rows": rows}


def to_markdown(results: dict) -> str:
    lines = [
        "# Training-step benchmark",
        "",
        machine_line(results["machine"]),
        "",
        f"MSE + adam, batch {results['batch']}, {results['steps']} steps per timing (best of "
        f"the repeats); linear: {FEATURES} features; MLP: {FEATURES} → {HIDDEN[0]} → "
        f"{HIDDEN[1]} → 1, GELU. `ratio` is time(peer) / time(jaxloss step).",
        "",
        "| model | implementation | steps/s | µs/step | ratio |",
        "|---|---|---:|---:|---:|",
    ]
    for row in results["rows"]:
        base = row["seconds_per_step"]["jaxloss step"]
        for name, seconds in row["seconds_per_step"].items():
            lines.append(
                f"| {row['model']} | {name} | {1 / seconds:,.0f} | {seconds * 1e6:.1f} | "
                f"{seconds / base:.2f} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argument_parser(__doc__)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    return publish("train", run(args.steps, args.repeats), to_markdown, args.out)


if __name__ == "__main__":
    main()
