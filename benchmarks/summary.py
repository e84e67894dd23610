"""The console summary of a bench run, read through the one run loader: the fastest runtime per
post-training artifact, headlines per model, audits, memory, what failed and what was skipped."""

from __future__ import annotations

from collections import Counter

from convbench.benchmarks.matrix import TF_RUNTIMES
from convbench.core.records import BenchRun
from convbench.core.records.roofs import PRECISIONS
from convbench.core.tables import print_lines, print_table

BUSY_FRACTION = 0.2  # foreign CPU share above which a row is reported as timed on a busy machine
ROOF_DRIFT = 0.15  # start/end roof change above which the run is reported as timed on shared cores
HEADERS = ("model", "variant", "format", "runtime", "device", "batch", "threads", "p50 ms", "p90 ms", "items/s",
           "accuracy %")


def _pct(value: float | None) -> str | None:
    return None if value is None else f"{value * 100:.1f}"


def fastest_rows(run: BenchRun, batch: int) -> list:
    """Per (model, variant, format, device): its fastest runtime/thread row at `batch`, post-
    training artifacts only (technique variants stay in bench.json and the report)."""
    best: dict[tuple, object] = {}
    for r in run.latency:
        artifact = run.artifact(r)
        if r.runtime == "null" or r.batch != batch or (artifact and artifact.technique != "none"):
            continue
        k = (r.model, r.variant, r.format, r.device)
        if k not in best or r.stats.p50_ms < best[k].stats.p50_ms:
            best[k] = r
    return sorted(best.values(), key=lambda r: (r.model, r.stats.p50_ms))


def model_headlines(run: BenchRun) -> list[str]:
    """Per model: best deployed artifact vs keras_eager at batch 1, best share of the roof, the
    null runtime's floor (the harness's own overhead)."""
    out = []
    for model in dict.fromkeys(r.model for r in run.latency):
        mine = [r for r in run.latency if r.model == model]
        b1 = [r for r in mine if r.batch == 1]
        eager = next((r for r in b1 if r.runtime == "keras_eager"), None)
        deployed = [r for r in b1 if r.runtime not in TF_RUNTIMES and r.runtime != "null"]
        parts = [model]
        if deployed:
            best = min(deployed, key=lambda r: r.stats.p50_ms)
            parts.append(f"best b1 {best.stats.p50_ms:.3f} ms ({best.variant}/{best.runtime}/t{best.threads_label})")
            if eager:
                parts.append(f"keras_eager b1 {eager.stats.p50_ms:.3f} ms -> "
                             f"{eager.stats.p50_ms / best.stats.p50_ms:.1f}x")
        roofed = [r for r in mine if r.fraction_of_roof is not None]
        if roofed:
            top = max(roofed, key=lambda r: r.fraction_of_roof)
            # Its own clause: the most efficient row is often not the fastest one.
            parts.append(f"most efficient {top.variant}/{top.runtime}/b{top.batch}/t{top.threads_label} "
                         f"{top.fraction_of_roof:.0%} of its roof ({top.achieved_gflops:.1f} Gop/s)")
        null = next((r for r in mine if r.runtime == "null"), None)
        if null:
            parts.append(f"null {null.stats.p50_ms * 1e3:.1f} us")
        out.append("  " + "; ".join(parts))
    return out


def run_headlines(run: BenchRun) -> list[str]:
    out = []
    for metric, what in (("caching", "caching audits"), ("harness_overhead", "harness-overhead audits")):
        audits = [a for a in run.of("audit") if a.metric == metric]
        if audits:
            failed = [a.label for a in audits if not a.passed]
            out.append(f"  {what}: {len(audits) - len(failed)}/{len(audits)} passed"
                       + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    busy = [r for r in run.latency if (r.foreign_cpu_fraction or 0) > BUSY_FRACTION]
    if busy:
        out.append(f"  {len(busy)}/{len(run.latency)} latency rows ran while other processes used > "
                   f"{BUSY_FRACTION:.0%} of the CPUs (foreign_cpu_fraction): their timings are pessimistic")
    mem = run.of("memory")
    if mem:
        top = max(mem, key=lambda r: r.peak_rss_mib)
        out.append(f"  memory: {len(mem)} rows; largest peak {top.peak_rss_mib:.0f} MiB ({top.label})")
    scenarios = run.of("scenario")
    if scenarios:   # an INVALID row has no figure: said here with LoadGen's reason
        invalid = [r for r in scenarios if not r.valid]
        out.append(f"  serving scenarios (MLPerf LoadGen): {len(scenarios) - len(invalid)}/{len(scenarios)} VALID"
                   + "".join(f"\n    INVALID {r.label}: {(r.invalid_reason or '').strip()}" for r in invalid))
    for kind in ("scaling_latency", "scaling_memory", "pipeline"):
        if run.of(kind):
            out.append(f"  {kind.replace('_', ' ')}: {len(run.of(kind))} rows")
    rec = run.record
    out += roof_lines(rec.roofs, run.latency)
    layers = run.of("layers")
    if layers:
        ratios = [r.sum_ratio for r in layers]
        out.append(f"  layers: {len(layers)} artifacts profiled per layer; sum of layers / whole model "
                   f"{min(ratios):.2f}-{max(ratios):.2f}")
    if rec.suite_seconds:
        out.append("  seconds per suite: " + ", ".join(f"{k} {v:.0f}" for k, v in rec.suite_seconds.items())
                   + f" (total {sum(rec.suite_seconds.values()):.0f})")
    return out


def roof_lines(roofs, rows) -> list[str]:
    """Per device: the pooled roof of each precision on all cores, the bandwidth, whether start
    and end agree; the highest efficiency of any row."""
    out = []
    for device in roofs.devices:
        pooled = roofs.pooled(device)
        best = [(p, pooled.best(p)) for p in PRECISIONS]
        line = f"  {device} roofs (best of start and end): " + ", ".join(
            f"{p} {r.ops_per_s / 1e9:.0f} Gop/s ({r.method}, {r.threads or 'gpu'}t)" for p, r in best if r)
        bandwidth = pooled.bandwidth_bytes_per_s()
        line += f"; bandwidth {bandwidth / 1e9:.1f} GB/s" if bandwidth else ""
        drift = roofs.drift(device)
        if drift is not None and drift > ROOF_DRIFT:
            line += f"  <- start and end differ by up to {drift:.0%}: the cores were shared during the run"
        out.append(line)
    out += [f"  {device}: no roofs ({why})" for device, why in roofs.not_measured.items()]
    roofed = [r for r in rows if r.fraction_of_roof is not None]
    if roofed:
        top = max(roofed, key=lambda r: r.fraction_of_roof)
        out.append(f"  highest row efficiency: {top.fraction_of_roof:.1%} of its roof ({top.label}; {top.roof_name})")
    return out


def problems(run: BenchRun) -> list[str]:
    """Failed rows with their reasons, then skipped rows grouped by reason."""
    out = [f"  FAILED {f.nodeid.split('::')[-1]}: {f.reason}" for f in run.record.failed]
    if run.record.skipped:
        out.append(f"  skipped: {len(run.record.skipped)} rows")
        out += [f"    {n} x {reason}" for reason, n in Counter(s.reason for s in run.record.skipped).most_common()]
    return out


def print_summary(run: BenchRun, tables: bool = True) -> None:
    """The fastest row per post-training artifact and the headlines; `tables=False` (inside
    `convbench run`, whose report says the rest) the run-wide headlines and problems only."""
    if tables and run.latency:
        batch = min(r.batch for r in run.latency)
        rows = [[r.model, r.variant, r.format, r.runtime, r.device, r.batch, r.threads_label, f"{r.stats.p50_ms:.3f}",
                 f"{r.stats.p90_ms:.3f}", f"{r.stats.throughput_items_per_s:.0f}", _pct(r.accuracy)]
                for r in fastest_rows(run, batch)]
        print_table(HEADERS, rows, right=range(5, len(HEADERS)),
                    title=f"batch {batch}: fastest runtime per post-training artifact (accuracy measured by that "
                          "row's own session; every row is in bench.json)")
    per_model = [*model_headlines(run)] if tables else []
    print_lines(["", "headlines:", *per_model, *run_headlines(run), *problems(run)])
