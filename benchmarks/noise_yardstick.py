"""How often the between-runs rule (core/stats.py: `distinguishable`) is right, measured on this
machine: bench the same artifacts twice with --repeat, then count

* same files, same machine, two runs: rows called "not distinguishable" (target: >= 95 %);
* real differences across the two runs: a row's 1-thread rounds against its 2-thread rounds,
  fp32 against int8 of one model, both where the two runs' pooled medians differ by 10 % or
  more; and every row of the second run slowed by exactly 10 % (its measured rounds scaled by
  1.10: the noise is the run's own, the step is known): rows called distinguishable
  (target: >= 95 %);
* the price: the latency suite's seconds per round.

    python -m convbench.benchmarks.noise_yardstick --out artifacts --repeat 3 --models lesson5_custom

Not a test: it takes two latency suites (minutes), and its figures depend on the machine."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from statistics import median

from convbench.core.child import child_python
from convbench.core.formats import TFLITE_FP32, TFLITE_INT8
from convbench.core.records import LatencyResult, load_run
from convbench.core.stats import between_runs_ratio, distinguishable, max_spread, run_to_run_spread

REAL_STEP = 1.10           # "a real difference of about 10 % and more"
INJECTED_SLOWDOWN = 1.10


@dataclass(frozen=True)
class Tally:
    what: str
    told_apart: int
    pairs: int

    @property
    def share(self) -> float:
        return self.told_apart / self.pairs if self.pairs else float("nan")


def bench_twice(out: Path, repeat: int, extra: list[str]) -> list[Path]:
    runs = []
    for _ in range(2):
        proc = subprocess.run([*child_python("-m", "convbench.cli", "bench"), "--out", str(out), "--suites", "latency",
                               "--repeat", str(repeat), *extra], capture_output=True, text=True)
        folder = next((line.split("full results: ", 1)[1].strip() for line in proc.stdout.splitlines()
                       if line.startswith("full results: ")), None)
        if folder is None:
            raise SystemExit(f"bench failed (exit {proc.returncode}):\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
        runs.append(Path(folder).parent if Path(folder).name == "bench.json" else Path(folder))
    return runs


def rounds_by_key(run) -> dict:
    return {r.key: r for r in run.latency if isinstance(r, LatencyResult) and len(r.repeat_p50_ms) >= 2
            and r.runtime != "null"}


def tally(what: str, pairs, spread: float | None, expect_apart: bool) -> Tally:
    calls = [distinguishable(between_runs_ratio(a, b), spread) for a, b in pairs]
    return Tally(what, sum(bool(c) == expect_apart for c in calls), len(calls))


def far_apart(a: list[float], b: list[float]) -> bool:
    step = median(b) / median(a)
    return step >= REAL_STEP or step <= 1 / REAL_STEP


def measure(first, second) -> tuple[list[Tally], float | None]:
    a, b = rounds_by_key(first), rounds_by_key(second)
    spread = max_spread(run_to_run_spread(r.repeat_p50_ms for r in a.values()),
                        run_to_run_spread(r.repeat_p50_ms for r in b.values()))
    same = [(a[k].repeat_p50_ms, b[k].repeat_p50_ms) for k in a.keys() & b.keys()]
    threads, precision = [], []
    for key, row in a.items():
        two = next((r for k, r in b.items() if k.threads == "2" and key.threads == "1"
                    and (k.model, k.variant, k.format, k.runtime, k.batch)
                    == (key.model, key.variant, key.format, key.runtime, key.batch)), None)
        if two is not None:
            threads.append((row.repeat_p50_ms, two.repeat_p50_ms))
        if key.variant == key.format == TFLITE_FP32:
            int8 = next((r for k, r in b.items() if k.variant == k.format == TFLITE_INT8 and
                         (k.model, k.runtime, k.batch, k.threads) == (key.model, key.runtime, key.batch, key.threads)),
                        None)
            if int8 is not None:
                precision.append((row.repeat_p50_ms, int8.repeat_p50_ms))
    slowed = [(x, [p * INJECTED_SLOWDOWN for p in y]) for x, y in same]
    return [tally("same files, two runs: not distinguishable", same, spread, expect_apart=False),
            tally("1 vs 2 threads (steps >= 10 %): distinguishable", [p for p in threads if far_apart(*p)], spread,
                  expect_apart=True),
            tally("fp32 vs int8 (steps >= 10 %): distinguishable", [p for p in precision if far_apart(*p)], spread,
                  expect_apart=True),
            tally("second run +10 % injected: distinguishable", slowed, spread, expect_apart=True)], spread


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path("artifacts"), help="an optimized artifacts folder")
    p.add_argument("--repeat", type=int, default=3, help="rounds per run (default 3)")
    p.add_argument("--runs", nargs=2, type=Path, metavar="RUN", help="two run folders made with --repeat instead")
    p.add_argument("--json", type=Path, help="also write the figures here")
    args, extra = p.parse_known_args(argv)
    runs = args.runs or bench_twice(args.out, args.repeat, extra)
    first, second = (load_run(r) for r in runs)
    tallies, spread = measure(first, second)
    seconds = [run.record.suite_seconds.get("latency") for run in (first, second)]
    rounds = max((len(r.repeat_p50_ms) for r in first.latency), default=1)
    print(f"runs: {runs[0]} and {runs[1]}; machine: {first.record.machine.summary}")
    print(f"run-to-run spread (median over rows of slowest round / fastest): x{spread:.3f}" if spread
          else "no rows with rounds: bench with --repeat 2 or more")
    for t in tallies:
        print(f"  {t.what}: {t.told_apart} of {t.pairs} ({t.share:.1%})")
    if all(seconds):
        print(f"price: the latency suite took {seconds[0]:.0f} s and {seconds[1]:.0f} s for {rounds} rounds "
              f"(~{median(seconds) / rounds:.0f} s per round)")
    if args.json:
        args.json.write_text(json.dumps({"runs": [str(r) for r in runs], "spread": spread, "rounds": rounds,
                                         "latency_suite_s": seconds,
                                         "tallies": [t.__dict__ for t in tallies]}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
