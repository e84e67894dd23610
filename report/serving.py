"""The report's Serving section: the scenarios suite's LoadGen rows (records.ScenarioResult) per
model: the highest offered load within the p99 bound per file and Server SUT, Offline's
samples/s, LoadGen's SingleStream percentiles beside the same calls on the latency suite's clock
(LoadGen's own path, measured behind each model and behind the null runtime, warm and cold), and
p99 against offered load. An INVALID row shows LoadGen's reason, never a figure."""

from __future__ import annotations

from dataclasses import dataclass, replace

from convbench.core.records import SERVER_SUT_WORDS as SUT_WORDS
from convbench.core.records import BenchRun, beyond_own_path_ms, cold_null_paths_ms
from convbench.report.charts import Axis, Chart, RowPoint, titled
from convbench.report.table import Cell, Table, number_or_text


@dataclass(frozen=True, kw_only=True)
class LoadPoint(RowPoint):
    """One LoadGen Server run: the offered load and the p99 LoadGen measured at it."""

    series: str = titled("file, SUT")
    offered_qps: float = titled("offered load (queries/s, Poisson)")
    p99_ms: float = titled("p99 latency (ms, LoadGen)")
    result: str = titled("LoadGen's verdict")


def _us(ms: float | None) -> str:
    return "–" if ms is None else f"{ms * 1e3:,.1f}"


def _cell(value: float | None, text: str) -> Cell:
    return Cell(text, number_or_text(value))


def _invalid(row) -> str:
    return f"INVALID: {(row.invalid_reason or 'no reason given').strip()}"


def serving_rows(run: BenchRun) -> list:
    return sorted(run.of("scenario"), key=lambda r: r.key.sort_key())


@dataclass(frozen=True)
class NullPaths:
    """LoadGen's own path per query (its mean latency minus the SUT's mean of the same calls),
    measured on a model's null-runtime SingleStream row: with the caches warm (`hot_ms`) and with
    `sweep_bytes` read before each call (`cold_ms`)."""

    hot_ms: float | None
    cold_ms: float | None
    sweep_bytes: int = 0

    def words(self) -> str:
        if self.cold_ms is None:
            cold = "not measured cold (Linux did not say how large a core's own caches are)"
        else:
            cold = f"{_us(self.cold_ms)} µs with {self.sweep_bytes / 2**20:g} MiB read before each call (caches cold)"
        return f"{_us(self.hot_ms)} µs with its caches warm, {cold}"


def null_paths(run: BenchRun, model: str) -> NullPaths | None:
    """The null runtime's LoadGen paths for `model`, or None where this run has no such row."""
    null_ss = next((r for r in run.of("scenario") if r.model == model and r.runtime == "null"
                    and r.metric == "single_stream" and r.valid and r.headline and r.headline.mean_path_ms is not None),
                   None)
    if null_ss is None:
        return None
    return NullPaths(null_ss.headline.mean_path_ms, null_ss.cold_path_ms,
                     max((c.sweep_bytes for c in null_ss.cold_runs), default=0))


def own_path_words(cold_paths_ms: tuple[float, ...]) -> str:
    """The run's cold null paths (records.cold_null_paths_ms) in words: their range and count."""
    return (f"{_us(min(cold_paths_ms))}-{_us(max(cold_paths_ms))} µs over {len(cold_paths_ms)} cold null runs "
            "in this run")


def server_table(rows: list) -> Table:
    """Per file: the highest VALID offered load of each Server SUT, and Offline's samples/s."""
    servers = [r for r in rows if r.scenario == "server"]
    suts = list(dict.fromkeys(r.sut for r in servers))
    files = list(dict.fromkeys((r.model, r.variant, r.format, r.runtime, r.device) for r in rows
                               if r.runtime != "null"))
    headers = (["model", "file", "runtime", "p99 bound (ms)"]
               + [f"max QPS: {SUT_WORDS.get(s, s)}" for s in suts] + ["Offline samples/s (batch)"])
    out = []
    for model, variant, fmt, runtime, device in files:
        mine = [r for r in rows if (r.model, r.variant, r.format, r.runtime, r.device) == (model, variant, fmt, runtime,
                                                                                             device)]
        slo = next((r.slo_ms for r in mine if r.slo_ms), None)
        cells = [Cell(model), Cell(variant if variant == fmt else f"{variant}/{fmt}"), Cell(f"{runtime} {device}"),
                 _cell(slo, "–" if slo is None else f"{slo:g}")]
        for sut in suts:
            r = next((r for r in mine if r.scenario == "server" and r.sut == sut), None)
            if r is None:
                cells.append(Cell("–"))
            elif r.valid:
                cells.append(_cell(r.max_qps, f"{r.max_qps:,.0f} (p99 {r.p99_ms:.2f} ms)"))
            else:
                cells.append(Cell(_invalid(r)))
        offline = [r for r in mine if r.scenario == "offline"]
        best = max((r for r in offline if r.valid), key=lambda r: r.samples_per_s or 0, default=None)
        cells.append(_cell(best.samples_per_s, f"{best.samples_per_s:,.0f} (b{best.batch})") if best
                     else Cell(_invalid(offline[-1]) if offline else "–"))
        out.append(cells)
    return Table(headers, out, sortable=True)


def single_stream_table(run: BenchRun, rows: list) -> Table:
    """LoadGen's SingleStream beside the same calls on the SUT's clock, the same session's plain
    loop right before and after, and the latency suite's row (another session, minutes apart)."""
    latency = {r.key: r for r in run.latency}
    own = cold_null_paths_ms(rows)
    out = []
    for r in rows:
        if r.scenario != "single_stream":
            continue
        twin = latency.get(replace(r.key, kind="latency", metric=""))
        beyond = beyond_own_path_ms(r, own)
        lead = [Cell(r.model), Cell(r.variant if r.variant == r.format else f"{r.variant}/{r.format}"), Cell(r.runtime)]
        if not r.valid:
            out.append(lead + [Cell(_invalid(r))] + [Cell("–")] * 9)
            continue
        acc = "–" if r.accuracy is None else f"{r.accuracy * 100:.2f} (latency row {twin.accuracy * 100:.2f})" if (
            twin and twin.accuracy is not None) else f"{r.accuracy * 100:.2f}"
        sut_p90 = r.headline.sut_p90_ms if r.headline else None
        path = r.headline.mean_path_ms if r.headline else None
        loops = "–" if r.loop_p90_ms is None else f"{_us(r.loop_p90_before_ms)} / {_us(r.loop_p90_after_ms)}"
        out.append(lead + [_cell(r.p90_ms, _us(r.p90_ms)), _cell(r.early_stopping_p90_ms, _us(r.early_stopping_p90_ms)),
                           _cell(r.p99_ms, _us(r.p99_ms)), _cell(r.early_stopping_p99_ms, _us(r.early_stopping_p99_ms)),
                           _cell(sut_p90, _us(sut_p90)), _cell(path, "–" if path is None else f"{path * 1e3:+,.1f}"),
                           _cell(beyond, "–" if beyond is None else "yes" if beyond <= 0
                                 else f"no: {beyond * 1e3:,.1f} µs longer"),
                           _cell(r.loop_p90_ms, loops),
                           _cell(twin.stats.p90_ms if twin else None, _us(twin.stats.p90_ms) if twin else "–"),
                           Cell(acc)])
    return Table(["model", "file", "runtime", "LoadGen p90 (µs)", "early-stopping p90 (µs)", "LoadGen p99 (µs)",
                  "early-stopping p99 (µs)", "same calls, SUT's clock p90 (µs)",
                  "LoadGen's path per query, mean (µs)",
                  "within LoadGen's own path (the longest behind a cold null query in this run)?",
                  "plain loop p90 before / after (µs)", "latency suite p90 (µs)", "AccuracyOnly accuracy (%)"],
                 out, sortable=True)


def load_chart(rows: list) -> Chart:
    # An INVALID run is no result: its points form their own series, its verdict in the hover.
    points = [LoadPoint(**RowPoint.of(r), series=f"{r.format} {r.sut}" if run.valid else "INVALID runs",
                        offered_qps=run.target_qps,
                        p99_ms=run.p99_ms, result="VALID" if run.valid else _invalid(run))
              for r in rows if r.scenario == "server"
              for run in r.runs if run.mode == "PerformanceOnly" and run.target_qps and run.p99_ms]
    return Chart("serving_p99_load", "p99 latency against offered load (LoadGen Server, Poisson arrivals): every run "
                 "of each search (INVALID runs in a series of their own)", "point",
                 Axis("offered_qps", "offered load (queries/s, log)", log=True),
                 Axis("p99_ms", "p99 latency (ms, log)", log=True), points, "no Server scenario row in this run",
                 color="series")


def verdict_lines(rows: list) -> list[str]:
    """Where dynamic batching and more workers win over one plain worker, and where they do not."""
    out = []
    files = dict.fromkeys((r.model, r.variant, r.format, r.runtime, r.device) for r in rows if r.scenario == "server")
    for f in files:
        suts = {r.sut: r for r in rows if r.scenario == "server" and (r.model, r.variant, r.format, r.runtime,
                                                                         r.device) == f}
        plain = suts.get("plain")
        if plain is None or not plain.valid:
            continue
        for sut, r in suts.items():
            if sut == "plain":
                continue
            if not r.valid:
                out.append(f"{f[0]} {f[2]}: {SUT_WORDS.get(sut, sut)} found no VALID load ({_invalid(r)}).")
                continue
            ratio = r.max_qps / plain.max_qps
            word = "wins" if ratio > 1.1 else "loses" if ratio < 1 / 1.1 else "ties (within 10 %, the search's step)"
            out.append(f"{f[0]} {f[2]}: {SUT_WORDS.get(sut, sut)} {word}: {r.max_qps:,.0f} vs {plain.max_qps:,.0f} QPS "
                       f"({ratio:.2f}x).")
    return out


def serving_lines(run: BenchRun, rows: list) -> list[str]:
    slos = sorted({(r.model, r.slo_ms, r.slo_source) for r in rows if r.slo_ms})
    searches = sorted({r.search for r in rows if r.search})
    lines = ["MLPerf LoadGen drove each row through the runtime interface: it issued the queries, timestamped them "
             "and judged each run VALID or INVALID; the figures below are parsed from its own detail logs, kept in "
             "the run folder (loadgen/<row>/). In Server and Offline the system under test only queues a query in "
             "LoadGen's callback and its worker threads serve it; SingleStream, one query at a time, is served in the "
             "callback. An INVALID row shows LoadGen's reason instead of a figure."]
    bounds = {(s, "--slo-ms" if src == "--slo-ms" else "default") for _, s, src in slos}
    if len(bounds) == 1:
        ((bound, src),) = bounds
        whence = "--slo-ms" if src == "--slo-ms" else "each model's stated default, benchmarks/scenarios.py"
        lines.append(f"Server p99 bound: {bound:g} ms for every model ({whence}).")
    elif slos:
        lines.append("Server p99 bounds: " + "; ".join(f"{m} {s:g} ms ({src})" for m, s, src in slos) + ".")
    lines += [f"Server search: {s}." for s in searches]
    paths = []
    for model in dict.fromkeys(r.model for r in rows):
        measured = null_paths(run, model)
        if measured is not None:
            paths.append(f"LoadGen's mean path per query behind the null runtime ({model}): {measured.words()}.")
    own = cold_null_paths_ms(rows)
    if paths or own:
        lines += ["Each SingleStream query is also timed by the system under test itself, with the latency suite's "
                  "clock (perf_counter around the session call): LoadGen's mean latency minus the mean of those same "
                  "calls is LoadGen's own path per query behind that model, with no drift between moments in it: a "
                  "mean of per-query differences, where a slow call counts on both sides alike (the two p90s are "
                  "shown too). Right before and right after each row's run, the null runtime on the same file reads "
                  "several times the core's largest own cache before each call (the size below): LoadGen's path "
                  "behind a query that computes nothing and leaves the caches cold. A row whose path is no longer "
                  "than the longest of those in this run needs nothing but LoadGen's own path to explain the "
                  "difference between LoadGen's figures and the latency suite's clock; a longer one means work "
                  "outside the model's call that LoadGen counts and the latency suite does not. LoadGen's p90 minus "
                  "the latency suite's p90 is LoadGen's path at p90 (its p90 minus the same calls' p90 on the SUT's "
                  "clock) plus how far the model itself moved between the two moments (the same calls' p90 minus "
                  "the latency suite's p90); the same session in a plain loop right before and after LoadGen's run "
                  "shows that move too.",
                  *paths]
        if own:
            judged = [b for r in rows if r.scenario == "single_stream" and r.valid
                      and (b := beyond_own_path_ms(r, own)) is not None]
            lines.append(f"LoadGen's path behind a cold null query: {own_path_words(own)}; SingleStream rows whose "
                         f"path is within it: {sum(b <= 0 for b in judged)} of {len(judged)}.")
    return lines


def notes_lines(rows: list) -> list[str]:
    """The Serving section tied to the notes on response time and on scaling and parallel processing."""
    out = []
    servers = [r for r in rows if r.scenario == "server" and r.valid]
    singles = {(r.model, r.variant, r.format, r.runtime, r.device): r for r in rows
               if r.scenario == "single_stream" and r.valid and r.p99_ms}
    tails = [(r, singles.get((r.model, r.variant, r.format, r.runtime, r.device))) for r in servers if r.sut == "plain"]
    tails = [(r, s) for r, s in tails if s is not None]
    if tails:
        r, s = max(tails, key=lambda rs: rs[0].p99_ms / rs[1].p99_ms)
        out.append(f"Response time: a request's latency under load is its queueing plus its service: at its highest "
                   f"VALID load, {r.model} {r.format} answered in {r.p99_ms:.2f} ms at p99, where one caller alone "
                   f"waits {s.p99_ms * 1e3:,.0f} µs ({r.p99_ms / s.p99_ms:.0f}x): the bound, not the model, limits the "
                   "rate.")
    scaling = verdict_lines(rows)
    if scaling:
        out.append("Scaling and parallel processing (the hardware note has the same files' thread rows), each against "
                   "one plain worker on the same file:")
        out += scaling
    busy = [r.foreign_cpu_fraction for r in rows if r.foreign_cpu_fraction is not None]
    if busy and max(busy) > 0.2:
        out.append(f"Other processes used up to {max(busy):.0%} of this process's CPUs during a scenario row (median "
                   f"{sorted(busy)[len(busy) // 2]:.0%}): a Server run's tail, and so its highest VALID load, moves "
                   "with them more than any single-caller figure does.")
    return out
