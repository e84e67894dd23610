"""What sets LoadGen's own path per query (a script, not part of `make test`): SingleStream over
a session that computes nothing but spins for a while, or reads a buffer, before returning. The
system under test times each call itself, so LoadGen's p90 minus the p90 of the same calls is
LoadGen's path behind that kind of query, free of the machine's drift between moments.

    .venv/bin/python -m convbench.benchmarks.loadgen_path --repeats 2

Prints one line per run: what the query did, LoadGen's p90, the same calls' p90, the path."""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from convbench.benchmarks.loadgen_sut import LoadGenSettings, ServingSut, run_loadgen
from convbench.benchmarks.scenarios import CacheSweep
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spins-us", type=float, nargs="+", default=[0, 50, 100, 200, 400])
    parser.add_argument("--reads-mib", type=float, nargs="+", default=[1, 4, 16])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--queries", type=int, default=1024)
    args = parser.parse_args(argv)
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
