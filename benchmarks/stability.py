"""Pick stability (a script, not part of `make test`): bench the same artifacts folder N times,
report each run, and count per device and model how often the recommendation picked the same
fastest row (variant and format) and the same smallest download, optionally with a CPU hog
spinning on one core the whole time. The pick may come from a named tie group (report/ties.py);
the tie groups seen are listed too.

    .venv/bin/python -m convbench.benchmarks.stability --out artifacts --runs 10 --hog -- --suites latency

Arguments after `--` go to `convbench bench` as they are (--quick, --models, --suites latency
...). Exit status 1 when some model's most frequent pick came up in fewer than --agree of the runs
(default 0.9: 9 of 10)."""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

from convbench.core.child import child_python
from convbench.core.records import RECOMMENDATION_FILE, Recommendation, load_run, read_record
from convbench.core.tables import print_lines, print_table


def _spin() -> None:
    """The hog: one core, busy until terminated (a child: the parent only waits)."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    while True:
        pass


def bench_once(out: Path, bench_args: list[str]) -> tuple[int, Path]:
    """One `convbench bench` then `convbench report`: (bench's exit status, the new run folder).
    A bench that fails a check (exit 1) still publishes its run; what failed is in its record."""
    runs = Path(out) / "runs"
    before = set(runs.iterdir()) if runs.is_dir() else set()
    cli = child_python("-m", "convbench.cli")
    rc = subprocess.run([*cli, "bench", "--out", str(out), *bench_args], stdout=subprocess.DEVNULL).returncode
    (run_dir,) = [p for p in runs.iterdir() if p not in before and not p.name.startswith(".")]
    subprocess.run([*cli, "report", str(run_dir)], check=True, stdout=subprocess.DEVNULL)
    return rc, run_dir


# Which check a failed row's reason comes from (the messages of benchmarks/results.py and test_audit.py).
CHECKS = {"of its roof": "roof check", "faster when repeated": "caching audit",
          "perf_counter loop": "harness-overhead audit", "add up to": "per-layer sum"}


def failures_of(run_dir: Path) -> list[str]:
    """What failed the run, one line per failed row: the check, then the row's reason."""
    return [next((name for text, name in CHECKS.items() if text in f.reason), "other") + ": " + f.reason[:160]
            for f in load_run(run_dir).record.failed]


def picks_of(run_dir: Path) -> dict[tuple[str, str], tuple[str, str, str]]:
    """(device, model) -> (fastest pick, its tie group, smallest download) of one run."""
    rec = read_record(run_dir / RECOMMENDATION_FILE, Recommendation)
    out = {}
    for device, models in rec.devices.items():
        for model, m in models.items():
            group = ", ".join(sorted({f"{t.variant}/{t.format}" for t in m.speed_ties}))
            smallest = f"{m.smallest.variant}/{m.smallest.format}" if m.smallest else "-"
            out[device, model] = (f"{m.fastest.variant}/{m.fastest.format}", group, smallest)
    for device, models in rec.not_recommended.items():
        for model in models:
            out[device, model] = ("none", "", "-")
    return out


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    bench_args = argv[argv.index("--") + 1:] if "--" in argv else []
    own = argv[:argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="artifacts", help="artifacts folder (default artifacts/)")
    parser.add_argument("--runs", type=int, default=10, help="benches of the same artifacts (default 10)")
    parser.add_argument("--hog", action="store_true", help="keep one core busy with a spinning process meanwhile")
    parser.add_argument("--agree", type=float, default=0.9, help="share of runs the top pick needs (default 0.9)")
    args = parser.parse_args(own)
    hog = multiprocessing.Process(target=_spin, daemon=True) if args.hog else None
    if hog:
        hog.start()
    seen: dict[tuple[str, str], list[tuple[str, str, str]]] = defaultdict(list)
    failed_runs, rows_timed, failures = 0, 0, []
    try:
        for i in range(args.runs):
            rc, run_dir = bench_once(Path(args.out), bench_args)
            failed_runs += rc != 0
            rows_timed += len(load_run(run_dir).results)
            failures += failures_of(run_dir)
            for key, picked in picks_of(run_dir).items():
                seen[key].append(picked)
            print_lines([f"run {i + 1}/{args.runs}: {run_dir.name} exit {rc}: "
                         + "; ".join(f"{m} {p[0]}" for (_, m), p in sorted(picks_of(run_dir).items()))])
    finally:
        if hog:
            hog.terminate()
            hog.join()
    need = math.ceil(args.agree * args.runs)
    rows, unstable = [], []
    for (device, model), picks in sorted(seen.items()):
        fastest, groups, smallest = (Counter(p[i] for p in picks) for i in range(3))
        (top, count), = fastest.most_common(1)
        if count < need:
            unstable.append(f"{device}/{model}")
        rows.append([device, model, f"{top} ({count}/{len(picks)})",
                     "; ".join(f"{p} {n}" for p, n in fastest.most_common()[1:]) or "-",
                     len(groups), "; ".join(f"{p} {n}" for p, n in smallest.most_common())])
    print_table(["device", "model", "fastest pick (runs)", "other picks", "tie groups seen", "smallest download"],
                rows, title=f"{args.runs} benches of {args.out}" + (" with a CPU hog on one core" if args.hog else ""))
    given = " ".join(bench_args) or "(defaults)"
    print_lines([f"bench arguments: {given}; the top pick needs {need}/{args.runs} runs: "
                 + (f"UNSTABLE: {', '.join(unstable)}" if unstable else "every model's pick held"),
                 f"checks on unchanged inputs: {failed_runs}/{args.runs} benches exited non-zero; {len(failures)} "
                 f"failed rows of {rows_timed}", *(f"  {f}" for f in failures)])
    return 1 if unstable else 0


if __name__ == "__main__":
    raise SystemExit(main())
