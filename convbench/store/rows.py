"""A loaded run (records.BenchRun) as the store's rows: its machine, the run, one row per
result. The only place where result records are mapped to the store's columns."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, UTC

from convbench.core.records import (BenchRun, LatencyResult, MachineInfo, MemoryResult, PipelineResult,
                                    ScenarioResult, read_bench_file, to_jsonable)
from convbench.core.records.store import StoredMachine, StoredResult, StoredRun


def run_id(run: BenchRun) -> str:
    """The hash of the run's validated bench.json content (canonical JSON): the same run read
    from any folder, or written with other whitespace, has the same id."""
    canonical = json.dumps(to_jsonable(read_bench_file(run.bench_path)), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def stored_machine(machine: MachineInfo) -> StoredMachine:
    return StoredMachine(machine_id=machine.fingerprint, cpu_model=machine.cpu_model, cpu_id=machine.cpu_id,
                         cpu_flags=json.dumps(machine.cpu_flags, sort_keys=True),
                         logical_cores=machine.logical_cores, usable_cores=machine.usable_cores,
                         physical_cores=machine.physical_cores, ram_gib=machine.ram_gib, gpu_name=machine.gpu_name,
                         gpu_driver=machine.gpu_driver, os_name=machine.os_name, summary=machine.summary)


def stored_run(run: BenchRun, identity: str) -> StoredRun:
    record = run.record
    return StoredRun(run_id=identity, machine_id=record.machine.fingerprint, started=record.started,
                     finished=record.finished, git_commit=record.git_commit, git_dirty=record.git_dirty,
                     dataset_fingerprint=record.dataset_fingerprint, manifest_sha256=record.manifest_sha256,
                     quick=bool(record.options.get("quick", False)), platform=record.machine.platform,
                     python=record.machine.python,
                     versions=json.dumps({**record.versions, **record.runtime_versions}, sort_keys=True),
                     roofs=record.roofs.describe(), rows=len(run.results),
                     source=str(run.folder.resolve()),
                     imported_at=datetime.now(UTC).isoformat(timespec="seconds"))


def stored_result(identity: str, result) -> StoredResult:
    """One result record as a row: coordinates where the kind has them, headline numbers by kind."""
    numbers: dict = {}
    if isinstance(result, LatencyResult):  # scaling latency rows too
        stats = result.stats
        numbers = dict(p50_ms=stats.median_ms, p90_ms=stats.p90_ms, iqr_ms=stats.iqr_ms, rounds=result.rounds,
                       items_per_s=stats.throughput_items_per_s, accuracy=result.accuracy,
                       agreement_vs_fp32=result.agreement_vs_fp32, achieved_gflops=result.achieved_gflops,
                       roof_gflops=result.roof_gflops, fraction_of_roof=result.fraction_of_roof)
    elif isinstance(result, MemoryResult):
        numbers = dict(peak_rss_mib=result.peak_rss_mib)
    elif isinstance(result, ScenarioResult):
        # An INVALID headline has no figures (ScenarioResult): only its validity is stored.
        numbers = dict(p90_ms=result.p90_ms, p99_ms=result.p99_ms, items_per_s=result.samples_per_s,
                       server_max_qps=result.max_qps, accuracy=result.accuracy, valid=result.valid)
    elif isinstance(result, PipelineResult):
        numbers = dict(p50_ms=result.epoch.median_ms, items_per_s=result.images_per_s)
    key = result.key
    where = {f: getattr(key, f) or None for f in ("metric", "model", "variant", "format", "runtime", "device",
                                                   "batch", "threads", "side")}
    where["artifact_sha256"] = getattr(result, "sha256", None)
    return StoredResult(**where, **numbers, run_id=identity, row_key=key.text, kind=result.kind,
                        record=json.dumps(to_jsonable(result), sort_keys=True))
