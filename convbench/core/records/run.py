"""The one loader of a finished run: bench.json plus the manifest snapshot beside it. The bench
summary, the report and the regression gate all read runs through `load_run`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from convbench.core.errors import UserError
from convbench.core.records.artifacts import ArtifactRecord, Manifest
from convbench.core.records.io import BENCH_FILE, MANIFEST_FILE, read_bench_file, read_manifest, samples_s
from convbench.core.records.results import RunRecord


@dataclass
class BenchRun:
    folder: Path
    bench_path: Path
    record: RunRecord
    results: list                       # LatencyResult | MemoryResult | ... (records.results.Result)
    samples_s: dict[tuple, list[float]]   # result key -> raw per-round seconds
    manifest: Manifest | None           # the snapshot the run benchmarked

    def of(self, kind: str) -> list:
        return [r for r in self.results if r.kind == kind]

    @property
    def latency(self) -> list:
        return self.of("latency")

    def artifact(self, row) -> ArtifactRecord | None:
        return None if self.manifest is None else self.manifest.artifact(row.model, row.variant, row.format)

    def fp32_accuracy(self, model: str) -> float | None:
        return None if self.manifest is None else self.manifest.fp32_accuracy(model)


def resolve_bench_json(path: str | Path) -> Path:
    """A run folder (holding bench.json) or a bench.json file itself."""
    path = Path(path)
    if path.is_dir():
        if not (path / BENCH_FILE).is_file():
            raise UserError(f"{path}: no {BENCH_FILE} in this folder "
                            "(expected a run folder from `convbench bench`, or a bench.json file)")
        return path / BENCH_FILE
    if not path.exists():
        raise UserError(f"{path}: no such file or folder")
    return path


def load_run(path: str | Path, require_manifest: bool = False) -> BenchRun:
    bench_path = resolve_bench_json(path)
    bench = read_bench_file(bench_path)
    results, samples = [], {}
    for entry in bench.benchmarks:
        result = entry.extra_info
        if result.key in samples:
            raise UserError(f"{bench_path}: row {result.label} appears twice")
        samples[result.key] = samples_s(entry, str(bench_path))
        results.append(result)
    manifest_path = bench_path.parent / MANIFEST_FILE
    manifest = None
    if manifest_path.is_file():
        manifest = read_manifest(manifest_path)
    elif require_manifest:
        raise UserError(f"{bench_path.parent}: no {MANIFEST_FILE} snapshot beside {BENCH_FILE}; "
                        "this run folder is incomplete or was not written by `convbench bench`")
    return BenchRun(bench_path.parent, bench_path, bench.convbench, results, samples, manifest)
