"""MLPerf LoadGen's system under test over the one runtime interface, and one LoadGen test run
into its own log folder. LoadGen owns the clock: it issues queries, timestamps them and judges
validity. The SUT only enqueues in LoadGen's issue callback (work done there holds LoadGen's
issuing thread and collapses the Server scenario: STACK.md) and completes queries from its own
worker threads, each with its own session(s); SingleStream, with one query outstanding at a
time, is served inside the callback (ServingSut's `inline`)."""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from convbench.benchmarks.loadgen_log import AUDIT_CONFIG_FOUND, parse_detail_log
from convbench.core.records import LoadGenRun

SCENARIO_NAMES = {"single_stream": "SingleStream", "offline": "Offline", "server": "Server"}
# LoadGen's early stopping needs at least this many queries before it can state the percentile
# (its summary: "Processed at least 64 queries" for p90; 662 for p99, STACK.md).
EARLY_STOPPING_MIN_QUERIES = {0.90: 64, 0.99: 662}
SERVER_PERCENTILE = 0.99
# LoadGen loads the QSL's performance set into memory at once; more than this many images adds
# nothing to a timing of these models (every sample is one image).
PERFORMANCE_SAMPLES = 1024


@dataclass(frozen=True)
class LoadGenSettings:
    """What one LoadGen test is asked to do. Durations and counts are minimums: LoadGen runs until
    both are met."""

    scenario: str                      # single_stream | offline | server
    accuracy: bool = False             # AccuracyOnly: every sample once, responses logged
    min_duration_s: float = 0.5
    min_queries: int = EARLY_STOPPING_MIN_QUERIES[0.99]
    target_qps: float | None = None    # Server: offered load; Offline: expected samples/s
    slo_ms: float | None = None        # Server: the p99 bound
    expected_latency_s: float | None = None   # SingleStream: sizes LoadGen's pre-generated queries

    def __post_init__(self) -> None:
        if self.scenario not in SCENARIO_NAMES:
            raise ValueError(f"scenario {self.scenario!r}: expected one of {', '.join(SCENARIO_NAMES)}")
        if not self.min_duration_s > 0 or self.min_queries < 1:
            raise ValueError(f"min duration {self.min_duration_s} s and {self.min_queries} queries: both must be > 0")
        if self.scenario == "server" and not (self.target_qps and self.target_qps > 0 and self.slo_ms
                                              and self.slo_ms > 0):
            raise ValueError(f"a Server test needs a positive QPS and p99 bound, got {self.target_qps}, {self.slo_ms}")

    def test_settings(self):
        import mlperf_loadgen as lg

        s = lg.TestSettings()
        s.scenario = getattr(lg.TestScenario, SCENARIO_NAMES[self.scenario])
        s.mode = lg.TestMode.AccuracyOnly if self.accuracy else lg.TestMode.PerformanceOnly
        s.min_duration_ms = max(1, round(self.min_duration_s * 1e3))
        s.min_query_count = self.min_queries
        if self.scenario == "single_stream":
            s.single_stream_expected_latency_ns = max(1, round((self.expected_latency_s or 1e-3) * 1e9))
        elif self.scenario == "offline":
            # LoadGen sizes its one query from this: expected samples/s x duration (x 1.1).
            s.offline_expected_qps = float(self.target_qps or 1.0)
        else:
            s.server_target_qps = float(self.target_qps)
            s.server_target_latency_ns = round(self.slo_ms * 1e6)
            s.server_target_latency_percentile = SERVER_PERCENTILE
        return s


class ServingSut:
    """LoadGen's SUT and QSL callbacks. `sessions[w]` are worker w's sessions by load batch: a
    worker serves up to max(sessions) queued samples per call, on the smallest session that
    fits (zero-padded); with `max_wait_s` > 0 the first sample waits that long for more
    (dynamic batching). `respond` sends each sample's float32 output to LoadGen (AccuracyOnly:
    its accuracy log keeps them); otherwise LoadGen gets an empty response."""

    def __init__(self, sessions: list[dict[int, object]], images: np.ndarray, max_wait_s: float = 0.0,
                 respond: bool = False, inline: bool = False):
        if not sessions or any(not s for s in sessions):
            raise ValueError("every worker needs at least one session")
        if inline and (len(sessions) > 1 or max_wait_s > 0):
            raise ValueError("an inline SUT serves one query at a time: one worker, no batching wait")
        self.sessions, self.images, self.max_wait_s, self.respond = sessions, images, max_wait_s, respond
        # SingleStream: LoadGen issues the next query only when the last one is complete, so no
        # queue can build up: serving it inside the issue callback (as MLPerf's reference SUTs do
        # for SingleStream) spares a thread handoff each way, which a queue and a worker cost.
        self.inline = inline
        self.call_s: list[float] = []   # inline: each session call on the SUT's own clock
        self.outputs: list = []         # inline: each call's raw output, freed after the run
        self.max_batch = max(max(s) for s in sessions)
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._feeds: dict[int, object] = {}
        self._threads: list[threading.Thread] = []
        self.errors: list[str] = []

    # --- LoadGen's callbacks: they run on LoadGen's threads --------------------------------------
    def issue(self, samples) -> None:
        if self.inline:
            self._complete(self.sessions[0], sorted(self.sessions[0]), [(s.id, s.index) for s in samples])
            return
        put = self._queue.put
        for s in samples:
            put((s.id, s.index))

    def flush(self) -> None:
        pass   # nothing is held back: every queued sample is served as soon as a worker is free

    def load(self, indices) -> None:
        """QSL: prepare batch-1 feeds ahead (untimed, as the latency suite prepares its inputs)."""
        one = self.sessions[0].get(1)
        if one is not None:
            for i in indices:
                self._feeds[i] = one.prepare(self.images[i:i + 1])

    def unload(self, indices) -> None:
        for i in indices:
            self._feeds.pop(i, None)

    # --- the workers ---------------------------------------------------------------------------
    def start(self) -> None:
        if self.inline:
            return
        self._threads = [threading.Thread(target=self._work, args=(w,), daemon=True, name=f"sut-worker-{w}")
                         for w in range(len(self.sessions))]
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        self.outputs = []
        for _ in self._threads:
            self._queue.put(None)
        for t in self._threads:
            t.join()
        self._threads = []

    def _gather(self, first) -> tuple[list, bool]:
        """Up to max_batch samples: those queued now, and those arriving within max_wait_s of the
        first. -> (samples, stop after serving them)"""
        batch, get = [first], self._queue.get
        deadline = time.perf_counter() + self.max_wait_s
        while len(batch) < self.max_batch:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    break
                try:
                    item = get(timeout=remaining)
                except queue.Empty:
                    break
            if item is None:
                return batch, True
            batch.append(item)
        return batch, False

    def _work(self, worker: int) -> None:
        sessions = self.sessions[worker]
        sizes = sorted(sessions)
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch, stop = self._gather(item) if self.max_batch > 1 else ([item], False)
            self._complete(sessions, sizes, batch)
            if stop:
                return

    def _complete(self, sessions, sizes, batch) -> None:
        import mlperf_loadgen as lg

        try:
            responses, keep = self._serve(sessions, sizes, batch, lg)
        except Exception as exc:   # LoadGen would wait forever for these samples: answer, and say why
            self.errors.append(f"{type(exc).__name__}: {exc}")
            responses, keep = [lg.QuerySampleResponse(i, 0, 0) for i, _ in batch], None
        lg.QuerySamplesComplete(responses)
        del keep   # the response buffers lived until LoadGen copied them

    def _serve(self, sessions, sizes, batch, lg):
        n = len(batch)
        size = next(b for b in sizes if b >= n)
        session = sessions[size]
        indices = [i for _, i in batch]
        if size == 1 and indices[0] in self._feeds:   # every session here loaded the same file: same feeds
            feed = self._feeds[indices[0]]
        else:
            x = self.images[indices]
            if size > n:
                x = np.concatenate([x, np.zeros((size - n, *x.shape[1:]), x.dtype)])
            feed = session.prepare(x)
        if self.inline:   # the latency suite's clock on the same call LoadGen is timing
            start = time.perf_counter()
            raw = session.run(feed)
            self.call_s.append(time.perf_counter() - start)
            # Kept until the run ends, as the latency suite keeps each timed output: freeing a
            # runtime's output buffers is no part of LoadGen's path either.
            self.outputs.append(raw)
        else:
            raw = session.run(feed)
        if not self.respond:
            return [lg.QuerySampleResponse(q, 0, 0) for q, _ in batch], None
        out = np.ascontiguousarray(session.postprocess(raw)[:n], dtype=np.float32)
        row_bytes = out[0].nbytes
        base = out.ctypes.data
        return [lg.QuerySampleResponse(q, base + k * row_bytes, row_bytes) for k, (q, _) in enumerate(batch)], out


def run_loadgen(sut: ServingSut, settings: LoadGenSettings, log_dir: Path, run_folder: Path) -> LoadGenRun:
    """One LoadGen test into `log_dir` (created here: it must not exist), parsed from its own
    detail log. LoadGen reads `audit.config` from the path it is given, by default relative to
    the working directory, and silently overrides the asked settings with it: it is given a
    path inside the fresh log folder instead, where no such file exists, and the run is refused
    if its log says it found one anyway."""
    import mlperf_loadgen as lg

    log_dir = Path(log_dir)
    log_dir.mkdir(parents=True, exist_ok=False)
    audit_config = log_dir / "audit.config"
    log_settings = lg.LogSettings()
    log_settings.log_output.outdir = str(log_dir)
    log_settings.log_output.copy_summary_to_stdout = False
    log_settings.enable_trace = False
    count = len(sut.images)
    sut_handle = lg.ConstructSUT(sut.issue, sut.flush)
    qsl_handle = lg.ConstructQSL(count, min(count, PERFORMANCE_SAMPLES), sut.load, sut.unload)
    sut.start()
    try:
        lg.StartTestWithLogSettings(sut_handle, qsl_handle, settings.test_settings(), log_settings, str(audit_config))
    finally:
        sut.stop()
        lg.DestroyQSL(qsl_handle)
        lg.DestroySUT(sut_handle)
    run = parse_detail_log(log_dir, run_folder)
    if sut.call_s and not settings.accuracy:
        run = replace(run, sut_p90_ms=float(np.percentile(sut.call_s, 90)) * 1e3,
                      sut_mean_ms=float(np.mean(sut.call_s)) * 1e3, sut_calls=len(sut.call_s))
    if any(AUDIT_CONFIG_FOUND in w for w in run.warnings):
        raise RuntimeError(f"{log_dir}: LoadGen applied an audit.config: its settings are not the ones asked")
    if sut.errors:
        raise RuntimeError(f"the SUT failed {len(sut.errors)} call(s) during {log_dir.name}: {sut.errors[0]}")
    asked = settings.test_settings()
    # Offline folds the query count into its one query's sample count (its min_query_count is 1).
    queries_differ = settings.scenario != "offline" and run.min_query_count != asked.min_query_count
    if not settings.accuracy and (run.min_duration_ms != asked.min_duration_ms or queries_differ):
        raise RuntimeError(f"{log_dir}: LoadGen used {run.min_duration_ms} ms and {run.min_query_count} queries at "
                           f"least, not the {asked.min_duration_ms} ms and {asked.min_query_count} asked")
    return run
