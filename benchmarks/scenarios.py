"""The serving scenarios, measured through MLPerf LoadGen (benchmarks/loadgen_sut.py): each
row's settings (the p99 bound, durations, the Server SUT's shape) and how a row is measured:
SingleStream with LoadGen's AccuracyOnly pass, Offline at one batch, Server by a bounded search
for the highest offered load whose run is VALID (as LoadGen's FindPeakPerformance mode does:
grow until a run fails, then bisect)."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from convbench.benchmarks.loadgen_log import accuracy_outputs
from convbench.benchmarks.machine import private_cache_bytes
from convbench.benchmarks.loadgen_sut import (EARLY_STOPPING_MIN_QUERIES, PERFORMANCE_SAMPLES, LoadGenSettings,
                                              ServingSut, run_loadgen)
from convbench.core import classes
from convbench.core.errors import UserError
from convbench.core.records import SERVER_SUTS, LoadGenRun, ScenarioResult
from convbench.core.runtimes import RUNTIMES

# The p99 bound of the Server scenario per lesson convnet, when --slo-ms is not given. MLPerf
# sets its bounds at several times a model's single-stream latency on the reference systems
# (ResNet-50: 15 ms); the lessons run in 0.03-0.2 ms per image on a 2-core VM (docs/measurements),
# so 5 ms leaves the tail to queueing and scheduling, which is what the Server scenario measures.
# A model that is not a lesson (--model) gets OTHER_MODEL_SLO_MS.
DEFAULT_SLO_MS = {"lesson1_transfer": 5.0, "lesson4_strided": 5.0, "lesson5_custom": 5.0,
                  "lesson6_augmented": 5.0}
OTHER_MODEL_SLO_MS = 10.0

# Dynamic batching: a worker serves at most this many queued queries in one call, and the first
# waits at most this long for others (sessions loaded at 1, 2, 4 and 8; a call is zero-padded up
# to the next one).
# The Server search starts at this share of what a few warm calls say the SUT could serve: a run
# above capacity takes longer (LoadGen waits for every query it issued), and from half the
# capacity most searches on 2 shared cores spent their first runs above it (docs/measurements).
START_FRACTION = 0.3
DYNAMIC_BATCH_MAX = 8
DYNAMIC_BATCH_WAIT_US = 200.0


@dataclass(frozen=True)
class ScenarioBudget:
    """How long each LoadGen test runs at least (both minimums hold), and how many tests one
    Server search may take."""

    min_duration_s: float = 0.4
    min_queries: int = 1024
    server_runs: int = 3
    precision: float = 1.15       # the search stops once the failing load is within 15 % of the passing one

    def __post_init__(self) -> None:
        if not self.min_duration_s > 0:
            raise ValueError(f"min duration {self.min_duration_s} s: must be > 0")
        if self.min_queries < EARLY_STOPPING_MIN_QUERIES[0.99]:
            raise ValueError(f"{self.min_queries} queries: LoadGen's early stopping needs at least "
                             f"{EARLY_STOPPING_MIN_QUERIES[0.99]} for p99")
        if self.server_runs < 1 or not self.precision > 1:
            raise ValueError(f"server runs {self.server_runs} (>= 1) and precision {self.precision} (> 1)")


DEFAULT_SCENARIO_BUDGET = ScenarioBudget()
QUICK_SCENARIO_BUDGET = ScenarioBudget(min_duration_s=0.2, min_queries=EARLY_STOPPING_MIN_QUERIES[0.99],
                                       server_runs=3, precision=1.3)
# LoadGen pre-generates a SingleStream test's queries from the expected latency (about twice the
# minimum duration's worth), and a run that uses them up is INVALID. Behind the null runtime a
# whole query took 3.5-6 µs on the development machine (LoadGen's own path; the call itself
# 0.1 µs): a floor of 10 µs ran out once in 32 null rows over eight runs ("Decrease the expected
# latency"). At 3 µs a 0.4 s run pre-generates ~270,000 queries, a few tens of MB.
MIN_EXPECTED_LATENCY_S = 3e-6
# SingleStream's plain loop before and after LoadGen's run: half of LoadGen's query count each
# (the two together as many calls as LoadGen times), over the feeds LoadGen's QSL loads.
LOOP_MIN_CALLS = 200


# The null runtime's cold run reads this many times the largest private cache before each call,
# so that every call leaves LoadGen's and Python's code and data out of the core's own caches, as
# a real model's call does (docs/serving.md: LoadGen's path grew with the bytes a query read).
SWEEP_PRIVATE_CACHES = 4


class CacheSweep:
    """A session that reads `nbytes` of its own memory before each call of the wrapped one (the
    null runtime's): LoadGen's path behind a query that leaves the core's caches cold."""

    def __init__(self, session, nbytes: int):
        self.session, self.nbytes = session, nbytes
        self.batch, self.input_shape = session.batch, session.input_shape
        self._buffer = np.ones(max(1, nbytes // 8))

    def prepare(self, x):
        return self.session.prepare(x)

    def run(self, feed):
        self._buffer.sum()
        return self.session.run(feed)


def slo_ms_for(model: str, given: float | None) -> tuple[float, str]:
    """(the p99 bound, where it came from)."""
    if given is not None:
        return float(given), "--slo-ms"
    if model in DEFAULT_SLO_MS:
        return DEFAULT_SLO_MS[model], f"the default for {model}"
    return OTHER_MODEL_SLO_MS, "the default for a model that is not a lesson"


def usable_cores() -> int:
    return len(os.sched_getaffinity(0))


@dataclass(frozen=True)
class SutShape:
    """How a Server row's SUT is built: workers, each with sessions at these batches of `threads`."""

    workers: int
    threads: int
    batches: tuple[int, ...] = (1,)
    max_wait_us: float | None = None


def sut_shape(sut: str, cores: int) -> SutShape:
    if sut == "plain":
        return SutShape(1, 1)
    if sut == "threads":
        return SutShape(1, cores)
    if sut == "sessions":
        return SutShape(cores, 1)
    if sut == "batching":
        sizes = tuple(b for b in (1, 2, 4, 8, 16, 32) if b <= DYNAMIC_BATCH_MAX)
        return SutShape(1, 1, sizes, DYNAMIC_BATCH_WAIT_US)
    raise ValueError(f"unknown Server SUT {sut!r}")


def loop_p90_ms(session, images: np.ndarray, calls: int) -> float:
    """The p90 of `calls` warm batch-1 calls in a plain perf_counter loop, over the images' feeds
    prepared ahead (as LoadGen's QSL and the latency suite prepare theirs): SingleStream's
    reference without LoadGen, on the same session and within a second of LoadGen's run."""
    from convbench.benchmarks.harness import plain_pedantic

    feeds = [session.prepare(np.ascontiguousarray(images[i:i + 1], dtype=np.float32))
             for i in range(min(len(images), PERFORMANCE_SAMPLES))]
    session.run(feeds[0])   # not a warm call
    turn = iter(range(calls))
    times = plain_pedantic(session.run, lambda: ((feeds[next(turn) % len(feeds)],), {}), calls)
    return float(np.percentile(times, 90)) * 1e3


def service_seconds(session, images: np.ndarray, calls: int = 20, within_s: float = 0.05) -> float:
    """The median of a few warm calls (up to `calls`, or as many as fit in `within_s`, 3 at least):
    only where LoadGen's schedule needs a guess to start from (its expected latency, expected QPS,
    the search's first load, Offline's batch); no figure is reported from it."""
    x = images[:session.batch] if len(images) >= session.batch else np.resize(images, (session.batch,
                                                                                        *images.shape[1:]))
    feed = session.prepare(np.ascontiguousarray(x, dtype=np.float32))
    session.run(feed)   # the first call is not a warm one
    times: list[float] = []
    end = time.perf_counter() + within_s
    while len(times) < calls and (len(times) < 3 or time.perf_counter() < end):
        start = time.perf_counter()
        session.run(feed)
        times.append(time.perf_counter() - start)
    return max(float(np.median(times)), 1e-6)


def find_peak_qps(run_at: Callable[[float], LoadGenRun], start_qps: float, max_runs: int,
                  precision: float) -> tuple[list[LoadGenRun], str]:
    """LoadGen runs at offered loads chosen like FindPeakPerformance: double from `start_qps`
    while runs are VALID (halve while they are not), then bisect between the highest VALID and
    the lowest INVALID load, until they are within `precision` of each other or `max_runs`
    tests have run. -> (the runs in order, how the loads were chosen)."""
    runs: list[LoadGenRun] = []
    lo = hi = None
    qps = start_qps
    while len(runs) < max_runs:
        run = run_at(qps)
        runs.append(run)
        if run.valid:
            lo = qps if lo is None else max(lo, qps)
        else:
            hi = qps if hi is None else min(hi, qps)
        if lo is not None and hi is not None:
            if hi / lo <= precision:
                break
            qps = (lo * hi) ** 0.5     # bisect in ratio: the loads span orders of magnitude
        else:
            qps = qps * 2 if hi is None else qps / 2
    how = (f"from {START_FRACTION:.0%} of the capacity a few warm calls estimate, doubling the offered load while "
           f"runs are VALID and halving it while INVALID, then bisecting until within {precision - 1:.0%}; "
           f"at most {max_runs} LoadGen runs")
    return runs, how


class ScenarioRow:
    """Measures one scenario case: its sessions loaded through the one runtime interface, its
    LoadGen tests logged under <run folder>/loadgen/<row>/."""

    def __init__(self, case, runtime, images: np.ndarray, labels: np.ndarray | None, why_not: str,
                 run_folder: Path, budget: ScenarioBudget, slo_ms: float | None):
        self.case, self.runtime, self.images, self.labels, self.why_not = case, runtime, images, labels, why_not
        self.run_folder, self.budget, self.slo_ms_given = Path(run_folder), budget, slo_ms
        self.log_root = self.run_folder / "loadgen" / case.id
        self._n = 0
        self.load_s = 0.0
        self.first_session = None   # where the row really ran (its device, providers)

    def session(self, batch: int, threads: int | None):
        start = time.perf_counter()
        s = self.runtime.load(self.case.path, device=self.case.device, threads=threads, batch=batch)
        self.load_s += time.perf_counter() - start
        self.first_session = self.first_session or s
        return s

    def _run(self, sut: ServingSut, settings: LoadGenSettings, label: str) -> LoadGenRun:
        self._n += 1
        return run_loadgen(sut, settings, self.log_root / f"{self._n:02d}-{label}", self.run_folder)

    def _base(self, scenario: str, **kw) -> dict:
        c = self.case
        return dict(model=c.model, variant=c.variant, format=c.format, runtime=c.runtime, device=c.device,
                    batch=c.batch, threads=c.threads, metric=c.metric, scenario=scenario, **kw)

    def expected_latency_s(self, session) -> float:
        return max(MIN_EXPECTED_LATENCY_S, service_seconds(session, self.images))

    def performance_settings(self, session) -> LoadGenSettings:
        return LoadGenSettings("single_stream", min_duration_s=self.budget.min_duration_s,
                               min_queries=self.budget.min_queries, expected_latency_s=self.expected_latency_s(session))

    def single_stream(self) -> dict:
        session = self.session(1, self.case.threads)
        fields: dict = {}
        if self.labels is not None and self.case.runtime != "null":
            sut = ServingSut([{1: session}], self.images, respond=True, inline=True)
            acc_run = self._run(sut, LoadGenSettings("single_stream", accuracy=True,
                                                     expected_latency_s=self.expected_latency_s(session)),
                                "accuracy")
            logged = accuracy_outputs(self.run_folder / acc_run.log_dir)
            outputs = np.stack([np.frombuffer(logged[i], np.float32) for i in range(len(self.images))])
            fields.update(accuracy=classes.accuracy(outputs, self.labels),
                          accuracy_direct=classes.accuracy(session.predict_all(self.images), self.labels),
                          accuracy_images=len(self.images))
            runs = [acc_run]
        else:
            fields["accuracy_note"] = "the null runtime runs no model" if self.case.runtime == "null" else self.why_not
            runs = []
        settings = self.performance_settings(session)
        calls = max(LOOP_MIN_CALLS, self.budget.min_queries // 2)
        fields["loop_p90_before_ms"] = loop_p90_ms(session, self.images, calls)
        # LoadGen's path behind a null query that leaves the caches cold, right before and right
        # after this row's own run: the reference moves with the moment (1.6x between two moments a
        # minute apart), so it is measured beside each row, not once per model.
        swept = self.swept_null(session)
        if swept is not None:
            runs.append(self.cold_single_stream(swept, "cold-before"))
        runs.append(self._run(self.performance_sut(session), settings, "performance"))
        if swept is not None:
            runs.append(self.cold_single_stream(swept, "cold-after"))
        fields["loop_p90_after_ms"] = loop_p90_ms(session, self.images, calls)
        return self._base("single_stream", runs=runs, **fields)

    def performance_sut(self, session) -> ServingSut:
        """The SUT of the row's own SingleStream performance run: served in LoadGen's callback
        (benchmarks/loadgen_path.py --faults hands in one that is late on purpose)."""
        return ServingSut([{1: session}], self.images, inline=True)

    def swept_null(self, session) -> CacheSweep | None:
        """The null runtime on this row's file (the row's own session where it is the null's),
        reading SWEEP_PRIVATE_CACHES x the core's largest own cache before each call; None where
        Linux does not say how large that cache is."""
        cache = private_cache_bytes()
        if cache is None:
            return None
        null = session if self.case.runtime == "null" else RUNTIMES["null"].load(self.case.path, device="cpu",
                                                                                   threads=1, batch=1)
        return CacheSweep(null, SWEEP_PRIVATE_CACHES * cache)

    def cold_single_stream(self, swept: CacheSweep, label: str) -> LoadGenRun:
        """The null runtime's SingleStream with its caches swept before each call: LoadGen's path
        behind a query that leaves the core's caches cold, as a real model's call does."""
        run = self._run(ServingSut([{1: swept}], self.images, inline=True), self.performance_settings(swept), label)
        return replace(run, sweep_bytes=swept.nbytes)

    def offline(self, batches: tuple[int, ...]) -> dict:
        """LoadGen's Offline at the batch of `batches` that a few warm calls say is fastest per
        image (one LoadGen test, not one per batch: the budget of the default run)."""
        rates = {}
        for b in batches:
            candidate = self.session(b, self.case.threads)
            rates[b] = (b / service_seconds(candidate, self.images), candidate)
        batch = max(rates, key=lambda b: rates[b][0])
        expected, session = rates[batch]
        runs = []
        for _ in range(2):   # LoadGen sizes its one query from the expected rate: a slow guess is retried once
            settings = LoadGenSettings("offline", min_duration_s=self.budget.min_duration_s,
                                       min_queries=self.budget.min_queries, target_qps=expected)
            runs.append(self._run(ServingSut([{batch: session}], self.images), settings, f"performance-b{batch}"))
            if runs[-1].valid or runs[-1].min_duration_met is not False:
                break
            expected *= 2
        base = self._base("offline", runs=runs)
        base["batch"] = batch   # the row ran at the batch it chose (its case asked for the best one: 0)
        return base

    def server(self, sut: str, cores: int, target_qps: float | None) -> dict:
        shape = sut_shape(sut, cores)
        sessions = [{b: self.session(b, shape.threads) for b in shape.batches} for _ in range(shape.workers)]
        slo_ms, source = slo_ms_for(self.case.model, self.slo_ms_given)
        wait_s = (shape.max_wait_us or 0.0) / 1e6

        def run_at(qps: float) -> LoadGenRun:
            settings = LoadGenSettings("server", min_duration_s=self.budget.min_duration_s,
                                       min_queries=self.budget.min_queries, target_qps=qps, slo_ms=slo_ms)
            return self._run(ServingSut(sessions, self.images, max_wait_s=wait_s), settings, f"server-{qps:.0f}qps")

        if target_qps is not None:
            runs, how = [run_at(target_qps)], f"one run at {target_qps:g} QPS (--target-qps)"
        else:
            capacity = shape.workers / service_seconds(sessions[0][1], self.images)
            runs, how = find_peak_qps(run_at, capacity * START_FRACTION, self.budget.server_runs, self.budget.precision)
        return self._base("server", sut=sut, workers=shape.workers, max_batch=max(shape.batches),
                          max_wait_us=shape.max_wait_us, slo_ms=slo_ms, slo_source=source, runs=runs, search=how)


def scenario_result(fields: dict, context: dict, session_info: dict, load_s: float) -> ScenarioResult:
    """The row's record: its headline run's figures, or INVALID with LoadGen's reason."""
    row = ScenarioResult(**fields, **context, **session_info, load_ms=load_s * 1e3)
    head = row.headline
    if head is None:
        row.invalid_reason = "no performance run"
        return row
    row.valid, row.invalid_reason = head.valid, head.invalid_reason
    if head.valid:
        if row.scenario != "offline":   # Offline's one query has one latency: the whole run's
            row.p90_ms, row.p99_ms = head.p90_ms, head.p99_ms
        row.early_stopping_p90_ms, row.early_stopping_p99_ms = head.early_stopping_p90_ms, head.early_stopping_p99_ms
        row.samples_per_s = head.samples_per_s
        row.max_qps = head.target_qps if row.scenario == "server" else None
    return row


def check_scenario_values(slo_ms: float | None, target_qps: float | None, queries: int | None,
                          seconds: float | None) -> None:
    """The scenario options, checked before any work (the CLI's converters check each alone)."""
    for name, value, unit in (("--slo-ms", slo_ms, "milliseconds"), ("--target-qps", target_qps, "queries per second"),
                              ("--scenario-seconds", seconds, "seconds")):
        if value is not None and not (math.isfinite(value) and value > 0):
            raise UserError(f"{name} {value:g}: must be a positive number of {unit}")
    need = EARLY_STOPPING_MIN_QUERIES[0.99]
    if queries is not None and queries < need:
        raise UserError(f"--scenario-queries {queries}: LoadGen's early stopping needs at least {need} queries "
                        "for the p99 the scenarios report")
    if seconds is not None and target_qps is not None and seconds * target_qps < need:
        raise UserError(f"--scenario-seconds {seconds:g} at --target-qps {target_qps:g} offers "
                        f"{seconds * target_qps:.0f} queries; LoadGen's early stopping needs at least {need} for "
                        f"p99: give at least {need / target_qps:.3g} s")


# The Server SUTs each row is searched with: by default one worker against several sessions and
# against dynamic batching; --quick the plain one; --all-scenarios every SUT (SERVER_SUTS).
DEFAULT_SERVER_SUTS = ("plain", "sessions", "batching")
QUICK_SERVER_SUTS = ("plain",)


def scenario_plan(options) -> list[tuple[str, int, int]]:
    """(metric, batch, threads) of the scenario rows each primary file gets: SingleStream at batch
    1; Offline at the best batch (not always the largest: one thread ran lesson1's fp32 file
    faster at batch 1 than at 128); the Server SUTs."""
    cores = usable_cores()
    suts = SERVER_SUTS if options.all_scenarios else QUICK_SERVER_SUTS if options.quick else DEFAULT_SERVER_SUTS
    # Offline: one row at the best of the options' batches (batch 0: chosen when it runs).
    plan = [("single_stream", 1, 1), ("offline", 0, 1)]
    for sut in suts:
        shape = sut_shape(sut, cores)
        plan.append((f"server_{sut}", max(shape.batches), shape.threads))
    return plan
