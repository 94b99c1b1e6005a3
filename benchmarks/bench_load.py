"""How fast the command line reads a table, and how much memory it takes.

Writes a numeric CSV of N rows × 21 columns (default 10⁶: ~190 MB) and reads it in fresh
processes: the command line's reader (pyarrow, then checks and encoding to float32), and
``numpy.loadtxt`` as a peer. Each process reports its wall time and its peak resident memory
less what it held after the imports, so the figure is the reading alone (Linux).

Run: ``pip install -e ".[cli]" && python benchmarks/bench_load.py [--rows 1000000]``.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
import tempfile

import numpy as np
from _common import argument_parser, machine, machine_line, publish

_MEASURE = """
import json, resource, sys, time
{imports}
# the resident memory now (not the peak so far, which an import may have set higher)
before = int(open("/proc/self/statm").read().split()[1]) * resource.getpagesize() // 1024
start = time.perf_counter()
{read}
seconds = time.perf_counter() - start
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"seconds": seconds, "peak_mib": (after - before) / 1024, "rows": rows}}))
"""

READERS = {
    "jaxloss (pyarrow)": (
        "from jaxloss.cli._table import read_table\nimport pyarrow.csv",
        "table = read_table(sys.argv[1], 'y', None)\nrows = len(table.y)",
    ),
    "numpy.loadtxt": (
        "import numpy as np",
        "data = np.loadtxt(sys.argv[1], delimiter=',', skiprows=1, dtype=np.float32)\n"
        "rows = len(data)",
    ),
}


def _write(path: pathlib.Path, rows: int) -> int:
    rng = np.random.default_rng(0)
    header = ",".join([f"x{i}" for i in range(20)] + ["y"])
    with path.open("w") as f:
        f.write(header + "\n")
        for start in range(0, rows, 100_000):
            block = rng.normal(size=(min(100_000, rows - start), 21))
            np.savetxt(f, block, delimiter=",", fmt="%.6f")
    return path.stat().st_size


def run(rows: int, repeats: int) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        path = pathlib.Path(folder) / "table.csv"
        size = _write(path, rows)
        results = {}
        for name, (imports, read) in READERS.items():
            code = _MEASURE.format(imports=imports, read=read)
            runs = []
            for _ in range(repeats):
                out = subprocess.run([sys.executable, "-c", code, str(path)], check=True,
                                     capture_output=True, text=True).stdout  # fmt: skip
                runs.append(json.loads(out.strip().splitlines()[-1]))
            best = min(runs, key=lambda r: r["seconds"])
            results[name] = best
    return {"machine": machine(), "rows": rows, "file_mib": size / 2**20, "readers": results}


def to_markdown(results: dict) -> str:
    file_mib = results["file_mib"]
    lines = [
        "# Reading a table",
        "",
        machine_line(results["machine"]),
        "",
        f"A numeric CSV of {results['rows']:,} rows × 21 columns ({file_mib:.0f} MiB), read "
        "in a fresh process (best of the repeats). `peak memory` is the process's peak "
        "resident memory less what it held after its imports.",
        "",
        "| reader | time | rows/s | peak memory | × file size |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, r in results["readers"].items():
        lines.append(
            f"| {name} | {r['seconds']:.2f} s | {r['rows'] / r['seconds']:.3g} | "
            f"{r['peak_mib']:.0f} MiB | {r['peak_mib'] / file_mib:.2f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argument_parser(__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    return publish("load", run(args.rows, args.repeats), to_markdown, args.out)


if __name__ == "__main__":
    main()
