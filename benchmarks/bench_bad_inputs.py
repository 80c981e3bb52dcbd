"""The bad-input corpus (tests/badinput/) as a report: how many cases, and how many crashed (a
traceback, or an exit code other than the documented one), hung (killed at twice the case's
bound), were slower than their bound, or did not say what the case expects (an unclear message);
and the slowest cases. The goal is 0 crashes, 0 hangs, 0 unclear messages.

    python benchmarks/bench_bad_inputs.py [--only PREFIX] [--slowest 5] [--parallel N]

Cases run --parallel at a time (default 1, so that each case's time is its own).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.badinput.framework import assert_handled, run_case  # noqa: E402
from tests.test_bad_inputs import all_cases  # noqa: E402


def classify(case, folder: Path, outcome) -> str:
    if outcome.exit is None:
        return "hang"
    if "Traceback (most recent call last)" in outcome.output or outcome.exit != case.exit:
        return "crash"
    if outcome.seconds > case.seconds:
        return "slow"
    try:
        assert_handled(case, folder, outcome)
    except AssertionError:
        return "unclear"
    return "ok"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="", help="run the cases whose name starts with this")
    parser.add_argument("--slowest", type=int, default=5)
    parser.add_argument("--parallel", type=int, default=1)
    args = parser.parse_args()
    cases = [case for case in all_cases() if case.name.startswith(args.only)]

    def judge(case):
        with tempfile.TemporaryDirectory() as tmp:
            outcome = run_case(case, Path(tmp))
            return outcome.seconds, classify(case, Path(tmp), outcome)

    with ThreadPoolExecutor(max_workers=args.parallel) as pool:
        judged = list(pool.map(judge, cases))
    counts: Counter[str] = Counter(verdict for _, verdict in judged)
    timings = [(seconds, case.name) for case, (seconds, _) in zip(cases, judged)]
    failures = [f"{verdict}: {case.name}" for case, (_, verdict) in zip(cases, judged) if verdict != "ok"]
    areas = Counter(case.name.split("/")[0] for case in cases)
    print(f"cases: {len(cases)} ({', '.join(f'{n} {area}' for area, n in sorted(areas.items()))})")
    print(" | ".join(f"{kind}: {counts[kind]}" for kind in ("ok", "crash", "hang", "slow", "unclear")))
    for line in failures:
        print(f"  {line}")
    print("slowest:")
    for seconds, name in sorted(timings, reverse=True)[: args.slowest]:
        print(f"  {seconds:6.2f} s  {name}")
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
