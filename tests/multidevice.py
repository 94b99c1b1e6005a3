"""Helpers for tests that start processes: N simulated CPU devices, a free loopback port."""

import os
import socket
import subprocess
import sys


def run_with_devices(script: str, devices: int = 4, timeout: float = 300) -> str:
    """Runs ``script`` with ``--xla_force_host_platform_device_count=devices``; returns stdout.

    The flag must be set before JAX starts, hence the separate process.
    """
    env = dict(
        os.environ,
        XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}",
        JAX_PLATFORMS="cpu",
    )
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def free_port() -> int:
    """A free TCP port on loopback, for a local jax.distributed coordinator."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
