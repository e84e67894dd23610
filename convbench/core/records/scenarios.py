"""Records of the serving scenarios (the scenarios suite): what one MLPerf LoadGen run reported
in its own detail log, and one scenario row built from one or more such runs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from convbench.core.records.results import Fraction, RowBase

SCENARIOS = ("single_stream", "offline", "server")
# How a Server row's system under test serves queries (the metric after "server_"): one worker
# and a one-thread session; one worker whose session uses every usable core; one one-thread
# session per usable core, each in its own worker; one worker that gathers queued queries into
# a batch (dynamic batching).
SERVER_SUT_WORDS = {"plain": "1 worker, 1 thread", "threads": "1 worker, every core's thread",
                    "sessions": "a 1-thread session per core", "batching": "dynamic batching"}
SERVER_SUTS = tuple(SERVER_SUT_WORDS)


@dataclass(kw_only=True)
class LoadGenRun:
    """One LoadGen test, as its detail log (mlperf_log_detail.txt, `:::MLLOG` lines) states it.
    Latencies are LoadGen's own, issue to completion, per query."""

    scenario: str                      # LoadGen's name: SingleStream | Offline | Server
    mode: str                          # PerformanceOnly | AccuracyOnly
    valid: bool                        # result_validity == VALID
    invalid_reason: str | None = None  # LoadGen's result_invalid_reason, or which of its checks failed
    log_dir: str = ""                  # LoadGen's outdir, relative to the run folder
    target_qps: float | None = None    # Server: the offered load (Poisson arrivals); Offline: expected
    target_latency_ms: float | None = None   # Server: the p99 bound it judged against
    query_count: int = 0               # result_query_count
    samples_per_query: int = 1
    samples_per_s: float | None = None  # Server: completed; Offline: result_samples_per_second; SingleStream: QPS
    min_duration_met: bool | None = None
    min_queries_met: bool | None = None
    perf_constraints_met: bool | None = None   # Server: the p99 bound held
    early_stopping_met: bool | None = None
    early_stopping_p90_ms: float | None = None  # SingleStream: LoadGen's early-stopping estimates
    early_stopping_p99_ms: float | None = None
    early_stopping_text: str = ""      # LoadGen's early_stopping_result, as it words it
    overlatency_queries: int | None = None     # Server: queries over the bound
    p50_ms: float | None = None
    p90_ms: float | None = None
    p99_ms: float | None = None
    p999_ms: float | None = None
    mean_ms: float | None = None
    max_ms: float | None = None
    min_duration_ms: int = 0           # the settings LoadGen says it used (effective_*)
    min_query_count: int = 0
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    # Not LoadGen's: the SUT's own perf_counter around each session call of the run (SingleStream,
    # served in the callback), the latency suite's clock on the very same queries. LoadGen's p90
    # minus this is LoadGen's path behind this model, free of the machine's drift between moments.
    sut_p90_ms: float | None = None
    sut_mean_ms: float | None = None   # and their mean, over the same queries as LoadGen's mean
    sut_calls: int = 0
    sweep_bytes: int = 0               # a cold reference run of the null runtime: bytes read before each call

    @property
    def path_ms(self) -> float | None:
        """LoadGen's own path per query at p90: its p90 minus the SUT's p90 of the same calls."""
        return None if self.p90_ms is None or self.sut_p90_ms is None else self.p90_ms - self.sut_p90_ms

    @property
    def mean_path_ms(self) -> float | None:
        """LoadGen's own path per query, on average: its mean minus the SUT's mean of the same
        calls (a mean of per-query differences, where a slow call counts on both sides alike)."""
        if self.mean_ms is None or self.sut_mean_ms is None or self.sut_calls != self.query_count:
            return None
        return self.mean_ms - self.sut_mean_ms


@dataclass(kw_only=True)
class ScenarioResult(RowBase):
    """One serving-scenario row (kind "scenario", metric: single_stream | offline |
    server_<sut>): the LoadGen runs it took, and its headline. A row whose headline run is
    INVALID has no headline figure: it is reported as INVALID with LoadGen's reason."""

    kind: Literal["scenario"] = "scenario"
    metric: str                        # single_stream | offline | server_plain | server_batching | ...
    scenario: str                      # single_stream | offline | server
    sut: str = "plain"                 # SERVER_SUTS (Server rows); plain elsewhere
    workers: int = 1                   # the SUT's worker threads, each with its own session
    max_batch: int = 1                 # batching: queries gathered into one call at most
    max_wait_us: float | None = None   # batching: how long the first query waits for more
    slo_ms: float | None = None        # Server: the p99 bound
    slo_source: str = ""               # where the bound came from: the model's default or --slo-ms
    runs: list[LoadGenRun] = field(default_factory=list)   # in the order they ran (a search: each step)
    search: str = ""                   # Server: how the offered loads were chosen
    valid: bool = False                # the headline run is VALID
    invalid_reason: str | None = None
    max_qps: float | None = None       # Server: the highest offered load whose run was VALID
    samples_per_s: float | None = None  # Offline: LoadGen's samples/s; Server: completed at max_qps
    p90_ms: float | None = None        # the headline run's LoadGen percentiles
    p99_ms: float | None = None
    early_stopping_p90_ms: float | None = None
    early_stopping_p99_ms: float | None = None
    # SingleStream: the same session called in a plain perf_counter loop (no LoadGen) over the
    # same feeds, right before and right after LoadGen's performance run: each loop's p90. They
    # show how far the machine moves between moments; LoadGen's own path is measured on the same
    # calls instead (LoadGenRun.sut_p90_ms).
    loop_p90_before_ms: float | None = None
    loop_p90_after_ms: float | None = None
    accuracy: Fraction | None = None   # SingleStream: LoadGen's AccuracyOnly run, every held-out image
    accuracy_direct: Fraction | None = None   # the same session's predict_all over the same images
    accuracy_images: int = 0
    accuracy_note: str | None = None
    load_ms: float = 0.0

    @property
    def loop_p90_ms(self) -> float | None:
        """The plain loop's p90 beside LoadGen's run: the mean of the loops before and after it."""
        loops = [p for p in (self.loop_p90_before_ms, self.loop_p90_after_ms) if p is not None]
        return sum(loops) / len(loops) if loops else None

    @property
    def cold_runs(self) -> list[LoadGenRun]:
        """SingleStream: the null runtime on the same file with its caches swept before each call,
        run right before and right after the row's own run (where Linux says the cache size)."""
        return [r for r in self.runs if r.sweep_bytes]

    @property
    def cold_path_ms(self) -> float | None:
        """LoadGen's mean path behind a cold null query beside this row: the larger of the VALID
        cold runs' (before and after), or None."""
        paths = [r.mean_path_ms for r in self.cold_runs if r.valid and r.mean_path_ms is not None]
        return max(paths) if paths else None

    @property
    def headline(self) -> LoadGenRun | None:
        """The run the row's figures come from: a Server row's highest VALID offered load, else the
        last performance run."""
        perf = [r for r in self.runs if r.mode == "PerformanceOnly" and not r.sweep_bytes]
        if self.scenario == "server":
            valid = [r for r in perf if r.valid]
            return max(valid, key=lambda r: r.target_qps or 0) if valid else (perf[-1] if perf else None)
        return perf[-1] if perf else None


def cold_null_paths_ms(rows: list[ScenarioResult]) -> tuple[float, ...]:
    """LoadGen's mean path behind every VALID cold null query of these SingleStream rows (the
    runs right before and after each): LoadGen's own path as this run measured it."""
    return tuple(c.mean_path_ms for r in rows if r.scenario == "single_stream" for c in r.cold_runs
                 if c.valid and c.mean_path_ms is not None)


def beyond_own_path_ms(row: ScenarioResult, cold_paths_ms: tuple[float, ...]) -> float | None:
    """How much longer LoadGen's mean path behind `row` is than the longest it took behind a cold
    null query in the same run (<= 0: within LoadGen's own path, so LoadGen's SingleStream and
    the latency suite's clock agree up to it), or None where either is missing. The run's
    longest, not the reference beside the row: LoadGen's path moves between runs a minute apart,
    behind the null runtime as behind a model, and a yes/no against the two runs beside a row
    flipped on unchanged files. Its false "no"s and the work it catches are measured by
    `python -m convbench.benchmarks.loadgen_path --faults` (figures: docs/serving.md)."""
    path = row.headline.mean_path_ms if row.headline else None
    if not cold_paths_ms or path is None or row.runtime == "null":
        return None
    return path - max(cold_paths_ms)
