"""Runs every benchmark and writes one Markdown report: ``results/all/REPORT-<platform>.md``.

Each benchmark runs in its own process (so simulated-device runs can set their flags) with
settings that keep the whole run under 10 minutes on a 2-core CPU; on a GPU the same
command runs unchanged. The individual reports and raw JSON stay beside the summary.

Run: ``pip install -e ".[bench,cli]" && python benchmarks/run_all.py``.
"""

from __future__ import annotations

import pathlib
import subprocess
import sys
import time

from _common import argument_parser, machine, machine_line

HERE = pathlib.Path(__file__).resolve().parent
BENCHMARKS = {
    "losses": ["--min-seconds", "0.3"],
    "metrics": ["--min-seconds", "1.0"],
    "train": ["--steps", "1000", "--repeats", "2"],
    "sweep": ["--steps", "300"],
    "search": ["--max-steps", "2430"],
    "load": ["--rows", "1000000"],
}
# A smoke run of the whole pipeline (seconds, not minutes; the figures mean nothing).
QUICK = {
    "losses": ["--sizes", "8", "--min-seconds", "0", "--members", "8", "--forecasts", "16"],
    "metrics": ["--samples", "20000", "--batch", "5000", "--min-seconds", "0"],
    "train": ["--steps", "10", "--repeats", "1"],
    "sweep": ["--steps", "5", "--devices", "1", "--models", "linear"],
    "search": ["--max-steps", "27", "--trials", "3"],
    "load": ["--rows", "2000", "--repeats", "1"],
}


def main(argv: list[str] | None = None) -> int:
    parser = argument_parser(__doc__)
    # Its own folder: the per-benchmark defaults in results/ (quoted by the README) stay.
    parser.set_defaults(out=HERE / "results" / "all")
    parser.add_argument("--only", nargs="+", choices=list(BENCHMARKS), default=list(BENCHMARKS))
    parser.add_argument("--quick", action="store_true", help="tiny settings, to test the run")
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else BENCHMARKS
    args.out.mkdir(parents=True, exist_ok=True)
    platform = machine()["jax_platform"]
    sections, timings = [], []
    for name in args.only:
        start = time.perf_counter()
        command = [sys.executable, str(HERE / f"bench_{name}.py"), *settings[name],
                   "--out", str(args.out)]  # fmt: skip
        print(f"== {name}: {' '.join(command[1:])}", flush=True)
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        timings.append((name, time.perf_counter() - start))
        report = (args.out / f"{name}-{platform}.md").read_text()
        sections.append(report.replace("# ", "## ", 1))
    header = [
        "# jaxloss benchmarks",
        "",
        machine_line(machine()),
        "",
        "Reproduce with `python benchmarks/run_all.py`; each section below is also written "
        "on its own, with raw JSON, next to this file.",
        "",
        "| benchmark | settings | wall time |",
        "|---|---|---:|",
        *[f"| {n} | `{' '.join(settings[n])}` | {s:.0f} s |" for n, s in timings],
        "",
    ]
    (args.out / f"REPORT-{platform}.md").write_text("\n".join(header + sections) + "\n")
    print(f"report: {args.out / f'REPORT-{platform}.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
