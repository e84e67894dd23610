"""Measurements -> typed result records: one builder per row kind. A latency row carries its own
ops (records.roofs.OPS_COUNT, counted from its file) and achieved rate; at the end of the run
`apply_roofs` divides every such row by the roof of its format and threads, pooled over the
measurements before the first row and after the last."""

from __future__ import annotations

from dataclasses import replace
from collections.abc import Mapping

import numpy as np

from convbench.core import classes, stats
from convbench.benchmarks.artifact_ops import ArtifactOps
from convbench.benchmarks.harness import LatencyRun
from convbench.benchmarks.matrix import Case, round_of, without_round
from convbench.core.records import (OPS_COUNT, LatencyResult, LatencyStats, MemoryPhase, MemoryResult, Result, RunRoofs,
                               Skip, from_jsonable, to_jsonable)

ROOFED_KINDS = ("latency", "scaling_latency")   # the rows divided by a roof
ROOFED_SUITES = ("latency", "scaling")          # the suites that write them


def compute_fields(ops: ArtifactOps | None, batch: int, stats: LatencyStats) -> dict:
    """What the row computed and moved per call, and the rate it sustained (1e9 ops/s)."""
    if ops is None or not ops.ops_real or stats.median_ms <= 0:
        return {}
    return dict(ops_per_image=ops.ops_real, ops_per_image_dense=ops.ops_dense, ops_count=OPS_COUNT,
                bytes_per_call=ops.bytes_per_call(batch),
                achieved_gflops=ops.ops_real * batch / (stats.median_ms / 1e3) / 1e9)


def with_roof(row, roofs: RunRoofs):
    """The row against the roof of its device, format and threads; unchanged (no roof fields)
    where its device has no roofs or it has no ops count."""
    roof = roofs.roof_for(row.device, row.format, row.threads)
    if roof is None or row.achieved_gflops is None:
        return row
    return replace(row, roof_gflops=roof.ops_per_s / 1e9, roof_precision=roof.precision, roof_name=roof.label,
                   fraction_of_roof=row.achieved_gflops * 1e9 / roof.ops_per_s)


def apply_roofs(benchmarks: list[dict], roofs: RunRoofs) -> list[Skip]:
    """Divide every latency row of pytest-benchmark's JSON (its `extra_info`) by its roof, in
    place; returns as failures the rows above 100 % by more than their roof's own start-to-end
    disagreement (RunRoofs.spread): a roof measured on starved cores is known no better than
    that, and a row above it then says the probes were starved, not that a kernel beats them.
    A row is never clipped: kept as measured, above 100 % or not."""
    above = []
    for bench in benchmarks:
        info = bench.get("extra_info") or {}
        if info.get("kind") not in ROOFED_KINDS:
            continue
        row = with_roof(from_jsonable(Result, info, bench.get("fullname", "a benchmark")), roofs)
        bench["extra_info"] = to_jsonable(row, Result)
        spread = roofs.spread(row.device, row.format, row.threads)
        if row.fraction_of_roof is not None and row.fraction_of_roof > 1 + spread:
            agree = f"; its start and end measurements agree within {spread:.0%}" if spread else ""
            above.append(Skip(nodeid=bench.get("fullname", row.label), reason=(
                f"{row.label} reaches {row.fraction_of_roof:.1%} of its roof ({row.achieved_gflops:.1f} of "
                f"{row.roof_gflops:.1f} Gop/s, {row.roof_name}{agree}): a kernel beats every roof probe; extend the "
                "probes in benchmarks/roof_probes.py")))
    return above


def accuracy_fields(outputs: np.ndarray | None, labels: np.ndarray | None, reference: np.ndarray | None,
                    why_not: str) -> dict:
    """A row's accuracy from its own session's held-out outputs, or why it was not measured."""
    if outputs is None or labels is None:
        return dict(accuracy_note=why_not)
    fields = dict(accuracy=classes.accuracy(outputs, labels), accuracy_images=len(outputs))
    if reference is not None:
        # fp32 right where the row is wrong, and the reverse: the row's McNemar test in the report
        lost, gained = stats.discordant(classes.correct(reference, labels), classes.correct(outputs, labels))
        fields.update(agreement_vs_fp32=classes.agreement(outputs, reference), lost_vs_fp32_images=lost,
                      gained_vs_fp32_images=gained)
    return fields


def latency_result(case: Case, run: LatencyRun, *, load_s: float, session: Mapping, context: Mapping,
                   ops: ArtifactOps | None, accuracy: Mapping, cls=LatencyResult, **extra):
    """One latency row. `session`: where it really ran (device_used, providers, runtime_version);
    `context`: row facts (artifact path, sha256, load average, foreign CPU share); `ops`: what
    its file computes per call; `accuracy`: accuracy_fields() of this row's own session."""
    compute = {} if case.runtime == "null" else compute_fields(ops, case.batch, run.stats)  # null does no arithmetic
    return cls(**case.identity(), **session, **context, **compute, **accuracy, stats=run.stats,
               load_ms=load_s * 1e3, first_inference_ms=run.first_inference_s * 1e3, rounds=run.rounds,
               warmup_calls=run.warmup_calls, audit=run.audit, **extra)


def memory_result(case: Case, phases, *, context: Mapping, runtime_version: str, cls=MemoryResult, **extra):
    """One memory row from its fresh child's per-batch peaks (benchmarks/memory.py PeakRss list)."""
    last = phases[-1]
    return cls(**case.identity(), **context, runtime_version=runtime_version, device_used=last.device_used,
               phases=[MemoryPhase(batch=p.batch, peak_rss_mib=p.peak_rss_mib, model_rss_mib=p.model_rss_mib)
                       for p in phases], baseline_rss_mib=last.baseline_rss_mib, gpu_mib=last.gpu_mib,
               gpu_mib_source=last.gpu_mib_source,
               peak_reset_between_batches=all(p.peak_reset for p in phases[1:]) if len(phases) > 1 else None,
               **extra)


def merge_rounds(benchmarks: list[dict]) -> list[dict]:
    """--repeat N: one entry per latency row instead of one per round, in the first round's
    place. Its samples are every round's, its `repeat_p50_ms` each round's p50; accuracy comes
    from round 1 (the only round that runs the accuracy pass); the output audits add up."""
    from pytest_benchmark.stats import Stats

    groups: dict = {}
    out: list = []
    for bench in benchmarks:
        info = bench.get("extra_info") or {}
        if info.get("kind") != "latency" or not round_of(bench.get("name", "")):
            out.append(bench)
            continue
        key = from_jsonable(LatencyResult, info, bench.get("fullname", bench["name"])).key
        if key not in groups:
            groups[key] = []
            out.append(groups[key])
        groups[key].append(bench)

    def merged(rounds: list[dict]) -> dict:
        rounds = sorted(rounds, key=lambda b: round_of(b["name"]))
        rows = [from_jsonable(LatencyResult, b["extra_info"], b["name"]) for b in rounds]
        data = [x for b in rounds for x in b["stats"]["data"]]
        pooled = Stats()
        for x in data:
            pooled.update(x)
        first = rows[0]
        audits = [r.audit for r in rows]
        row = replace(first, stats=LatencyStats.from_seconds(data, batch=first.stats.batch),
                      rounds=sum(r.rounds for r in rows), warmup_calls=sum(r.warmup_calls for r in rows),
                      repeat_p50_ms=[r.stats.median_ms for r in rows],
                      foreign_cpu_fraction=max((r.foreign_cpu_fraction for r in rows
                                                if r.foreign_cpu_fraction is not None), default=None),
                      audit=replace(first.audit, passed=all(a.passed for a in audits),
                                    checked=sum(a.checked for a in audits),
                                    mismatched=sum(a.mismatched for a in audits),
                                    max_abs_diff=max(a.max_abs_diff for a in audits),
                                    decision_changes=sum(a.decision_changes for a in audits)))
        entry = {**rounds[0], "stats": {**pooled.as_dict(), "data": data, "iterations": 1},
                 "extra_info": to_jsonable(row, Result)}
        for name in ("name", "fullname"):
            if name in entry:
                entry[name] = without_round(entry[name])
        return entry

    return [merged(g) if isinstance(g, list) else g for g in out]
