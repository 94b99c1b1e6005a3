"""Independent runs as one compiled program: ``jit(shard_map(vmap(one_run)))`` over devices.

Every search in :mod:`jaxloss.sweep` (a grid, sampled configurations, a rung of successive
halving, a generation of population-based training) calls one per-run function on a batch
of runs whose leading axis is split over a 1-D mesh of devices, each device computing its
own slice with no communication. This module compiles such a program for a batch shape,
fingerprints it for checkpoints, and feeds it padded batches.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from . import _checkpoint

PyTree = Any
RUNS = "runs"


class Program(NamedTuple):
    """One batch shape's compiled program, what its output looks like, and its fingerprint."""

    compiled: Any
    sharding: NamedSharding
    leaf_shapes: list[jax.ShapeDtypeStruct]
    treedef: Any
    outputs: list[dict[str, Any]]
    fingerprint: str | None


def device_list(devices: Sequence[jax.Device] | None, owner: str) -> list[jax.Device]:
    devices = list(jax.devices() if devices is None else devices)
    if not devices:
        raise ValueError(f"jaxloss.sweep.{owner}: devices is empty.")
    return devices


def mesh_sharding(devices: Sequence[jax.Device]) -> NamedSharding:
    return NamedSharding(Mesh(np.array(devices), (RUNS,)), PartitionSpec(RUNS))


def independent(fn: Callable[..., PyTree], sharding: NamedSharding) -> Callable[..., PyTree]:
    """``vmap(fn)`` with its leading axis split over the mesh, each device on its own runs.

    Under a plain jit of the vmapped function the partitioner turns every vmapped
    while-loop predicate ("is any run still going?") into an all-reduce across the devices,
    inside the training loop; under shard_map the predicate is local and the program holds
    no collective at all. check_vma=False: the runs never communicate, and a user's loop may
    start its carry from constants (which shard_map's varying-axes check would refuse to mix
    with per-device values).
    """
    spec = PartitionSpec(RUNS)
    return jax.shard_map(jax.vmap(fn), mesh=sharding.mesh, in_specs=spec, out_specs=spec,
                         check_vma=False)  # fmt: skip


def compile_program(
    fn: Callable[..., PyTree],
    example: PyTree,
    batch: int,
    devices: Sequence[jax.Device],
    with_fingerprint: bool,
) -> Program:
    """``jit(shard_map(vmap(fn)))`` for ``batch`` runs of inputs shaped like ``example``.

    Args:
      fn: one run, a function of one argument (a pytree of per-run arrays).
      example: that argument's per-run ``ShapeDtypeStruct`` pytree.
      batch: runs per call (a multiple of the device count).
      devices: the mesh.
      with_fingerprint: whether to fingerprint the lowered program (for checkpoints).
    """
    sharding = mesh_sharding(devices)
    batched = jax.tree.map(
        lambda s: jax.ShapeDtypeStruct((batch, *s.shape), s.dtype, sharding=sharding), example
    )
    traced = jax.jit(independent(fn, sharding), in_shardings=(sharding,),
                     out_shardings=sharding).trace(batched)  # fmt: skip
    leaf_shapes, treedef = jax.tree.flatten(traced.out_info)
    lowered = traced.lower()
    fingerprint = None
    if with_fingerprint:
        fingerprint = _checkpoint.fingerprint(lowered.as_text(), traced.jaxpr.consts)
    outputs = _checkpoint.describe_outputs(traced.out_info)
    return Program(lowered.compile(), sharding, leaf_shapes, treedef, outputs, fingerprint)


def batch_size(requested: int | None, runs: int, devices: int) -> int:
    """``requested`` (default: every run at once) rounded up to a multiple of ``devices``."""
    return -(-(requested or runs) // devices) * devices


def sharded(values: np.ndarray, sharding: NamedSharding) -> jax.Array:
    """A global array of ``values`` laid out by ``sharding``; each process fills its own part."""
    return jax.make_array_from_callback(values.shape, sharding, lambda index: values[index])


def call(program: Program, inputs: PyTree, index: np.ndarray, batch: int) -> list[np.ndarray]:
    """Runs ``inputs[index]`` (every leaf's leading axis) as one padded batch.

    The batch is padded with copies of its first run (valid inputs; results dropped), and
    the results of every process are gathered. Returns the output leaves, ``len(index)``
    rows each.
    """
    padded = np.concatenate([index, np.full(batch - len(index), index[0], index.dtype)])
    args = jax.tree.map(lambda v: sharded(np.asarray(v)[padded], program.sharding), inputs)
    out = program.compiled(args)
    if jax.process_count() > 1:
        out = multihost_utils.process_allgather(out, tiled=True)
    return [np.asarray(leaf)[: len(index)] for leaf in jax.tree.leaves(jax.device_get(out))]
