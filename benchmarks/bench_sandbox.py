"""Sandbox start-up overhead: the same script run as a plain subprocess, with the "none" backend and
with bwrap.

Two scripts: a trivial one (the cost of starting a sandbox at all) and `import torch` (what a
notebook-grading harness pays before any student code). Each is run --repeat times per method,
alternating methods so that machine noise spreads evenly; the table gives the median wall time
seen by the caller and its ratio to the plain subprocess.

    python benchmarks/bench_sandbox.py [--repeat 10] [--torch-repeat 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from grader.sandbox import bwrap
from grader.sandbox.models import Limits
from grader.sandbox.runner import run_python

SCRIPTS = {"trivial": "pass\n", "import torch": "import torch\n"}
LIMITS = Limits(wall_seconds=120, cpu_seconds=120, memory_mib=2048)


def methods(script: Path) -> dict[str, Callable[[], None]]:
    def plain() -> None:
        subprocess.run([sys.executable, str(script)], check=True, stdin=subprocess.DEVNULL)

    def sandboxed(backend: str) -> Callable[[], None]:
        def run() -> None:
            result = run_python(script, files={}, limits=LIMITS, backend=backend)
            if result.exit_code != 0:
                raise RuntimeError(f"{backend}: {result.reason}\n{result.stderr}")
        return run

    found = {"plain subprocess": plain, "sandbox, none": sandboxed("none")}
    if bwrap.availability().usable:
        found["sandbox, bwrap"] = sandboxed("bwrap")
    else:
        print(f"(bwrap skipped: {bwrap.availability().reason})\n")
    return found


def measure(runs: dict[str, Callable[[], None]], repeat: int) -> dict[str, float]:
    """Median seconds per method, after one untimed warm-up run of each."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for name, run in runs.items():
        run()
    for _ in range(repeat):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10, help="timed runs per method, trivial script")
    parser.add_argument("--torch-repeat", type=int, default=5, help="timed runs per method, import torch")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, "
          f"{'root' if os.geteuid() == 0 else 'normal user'}\n")
    print("| script | method | median s | vs plain |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        for label, source in SCRIPTS.items():
            script = Path(folder) / f"{label.replace(' ', '_')}.py"
            script.write_text(source)
            repeat = args.torch_repeat if "torch" in source else args.repeat
            medians = measure(methods(script), repeat)
            baseline = medians["plain subprocess"]
            for name, seconds in medians.items():
                print(f"| {label} | {name} | {seconds:.3f} | {seconds / baseline:.2f}x |")


if __name__ == "__main__":
    main()
