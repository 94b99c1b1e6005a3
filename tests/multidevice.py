"""Runs a script in a fresh process that sees N simulated CPU devices."""

import os
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
