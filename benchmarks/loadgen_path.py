"""What sets LoadGen's own path per query (a script, not part of `make test`): SingleStream over
a session that computes nothing but spins for a while, or reads a buffer, before returning. The
system under test times each call itself, so LoadGen's p90 minus the p90 of the same calls is
LoadGen's path behind that kind of query, free of the machine's drift between moments.

    .venv/bin/python -m convbench.benchmarks.loadgen_path --repeats 2

Prints one line per run: what the query did, LoadGen's p90, the same calls' p90, the path.

With --faults, how well the report's check (records.beyond_own_path_ms: a row's mean path no
longer than the longest behind a cold null query in the same run) catches work outside the
model's call: the scenarios suite's primary files, each between two cold null runs as in the
suite, served by a SUT that spins a while after its own timer stops (LoadGen counts it, the
latency suite would not); per repeat, every file at every spin is held to that repeat's longest
cold path.

    .venv/bin/python -m convbench.benchmarks.loadgen_path --faults --out artifacts --repeats 3"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from convbench.benchmarks.loadgen_sut import LoadGenSettings, ServingSut, run_loadgen
from convbench.benchmarks.scenarios import CacheSweep, ScenarioRow, scenario_result
from convbench.core.records import ScenarioResult, beyond_own_path_ms, cold_null_paths_ms
from convbench.core.tables import print_table


class Spin:
    """A session of one number in, nothing out, that holds the CPU (and the GIL) for `seconds`."""

    batch, input_shape = 1, (1, 1)

    def __init__(self, seconds: float):
        self.seconds = seconds

    def prepare(self, x):
        return x

    def run(self, feed):
        end = time.perf_counter() + self.seconds
        while time.perf_counter() < end:
            pass


def path_of(session, queries: int, folder: Path) -> tuple[float, float]:
    """(LoadGen's p90, the same calls' p90) in ms, one SingleStream test."""
    sut = ServingSut([{1: session}], np.zeros((1024, 1), np.float32), inline=True)
    settings = LoadGenSettings("single_stream", min_duration_s=0.4, min_queries=queries, expected_latency_s=1e-4)
    run = run_loadgen(sut, settings, folder, folder.parent)
    return run.p90_ms, run.sut_p90_ms


class LateSut(ServingSut):
    """A SUT that spins `late_s` after its own timer stops and before LoadGen hears the query is
    done: the fault the check is for."""

    late_s = 0.0

    def _serve(self, sessions, sizes, batch, lg):
        served = super()._serve(sessions, sizes, batch, lg)
        Spin(self.late_s).run(None)
        return served


class LateRow(ScenarioRow):
    """The scenarios suite's SingleStream row (its cold null runs before and after included), its
    own performance run served by a LateSut."""

    late_s = 0.0

    def performance_sut(self, session) -> ServingSut:
        sut = LateSut([{1: session}], self.images, inline=True)
        sut.late_s = self.late_s
        return sut


def fault_rows(out: Path, late_us: float, folder: Path) -> list[ScenarioResult]:
    """Each primary SingleStream file of the scenarios suite, measured as the suite measures it
    (on random images, no accuracy run), its SUT `late_us` late."""
    from convbench.benchmarks.bench import BenchOptions
    from convbench.benchmarks.machine import private_cache_bytes
    from convbench.benchmarks.matrix import scenario_cases
    from convbench.core.records import read_manifest
    from convbench.core.runtimes import RUNTIMES

    if private_cache_bytes() is None:
        raise SystemExit("Linux does not say how large this core's own caches are: no cold reference")
    options = BenchOptions(out=out, suites=("scenarios",))
    cases = [c for c in scenario_cases(read_manifest(out / "manifest.json"), options)
             if c.metric == "single_stream" and c.runtime != "null"]
    rows = []
    for n, case in enumerate(cases):
        shape = RUNTIMES[case.runtime].load(case.path, device="cpu", threads=case.threads, batch=1).input_shape
        images = np.random.default_rng(n).random((1024, *shape[1:]), dtype=np.float32)
        row = LateRow(case, RUNTIMES[case.runtime], images, None, "", folder / f"{n}-{late_us:g}",
                      options.scenario_budget, None)
        row.late_s = late_us / 1e6
        rows.append(scenario_result(row.single_stream(), {}, {}, row.load_s))
    return rows


def faults(out: Path, lates_us: list[float], repeats: int) -> int:
    caught: dict[float, list[bool]] = {late: [] for late in lates_us}
    paths: dict[float, list[float]] = {late: [] for late in lates_us}
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(repeats):
            for late in lates_us:   # each late value is one run's worth of rows, held to its own cold runs
                rows = fault_rows(out, late, Path(tmp) / f"repeat{k}")
                cold = cold_null_paths_ms(rows)
                caught[late] += [b > 0 for r in rows if (b := beyond_own_path_ms(r, cold)) is not None]
                paths[late] += [r.headline.mean_path_ms * 1e3 for r in rows
                                if r.headline and r.headline.mean_path_ms is not None]
                print(f"repeat {k + 1}, {late:g} µs late: the longest of {len(cold)} cold null paths "
                      f"{max(cold) * 1e3:.1f} µs", flush=True)
    print_table(["late after the SUT's timer (µs)", "rows beyond LoadGen's own path", "their mean paths (µs)"],
                [[f"{late:g}", f"{sum(c)} of {len(c)}", f"{min(paths[late]):.1f}-{max(paths[late]):.1f}"]
                 for late, c in caught.items()],
                title="LoadGen SingleStream: the path check against injected work")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spins-us", type=float, nargs="+", default=[0, 50, 100, 200, 400])
    parser.add_argument("--reads-mib", type=float, nargs="+", default=[1, 4, 16])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--queries", type=int, default=1024)
    parser.add_argument("--faults", action="store_true", help="measure the path check against injected work")
    parser.add_argument("--late-us", type=float, nargs="+", default=[0, 3, 6, 10, 20])
    parser.add_argument("--out", type=Path, default=Path("artifacts"), help="artifacts folder (--faults)")
    args = parser.parse_args(argv)
    if args.faults:
        return faults(args.out, args.late_us, args.repeats)
    kinds = ([(f"spin {us:g} µs", lambda us=us: Spin(us / 1e6)) for us in args.spins_us]
             + [(f"read {mib:g} MiB", lambda mib=mib: CacheSweep(Spin(0.0), int(mib * 2**20)))
                for mib in args.reads_mib])
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n, (what, make) in enumerate(kinds):
            for k in range(args.repeats):
                lg, own = path_of(make(), args.queries, Path(tmp) / f"{n:02d}-{k}")
                rows.append([what, f"{lg * 1e3:,.1f}", f"{own * 1e3:,.1f}", f"{(lg - own) * 1e3:+,.1f}"])
    print_table(["query", "LoadGen p90 (µs)", "same calls p90 (µs)", "LoadGen's path (µs)"], rows,
                title="LoadGen SingleStream behind a null query")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
