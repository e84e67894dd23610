"""The one reader and writer of convbench's JSON files. Records are validated on the way in:
a file of another schema version, from another tool, or corrupt is one UserError naming the
file, never a KeyError later. Writes are atomic (temporary name, then rename)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Annotated, Any, TypeVar

from pydantic import Field, TypeAdapter, ValidationError

from convbench.core.errors import UserError
from convbench.core.fsutil import write_bytes_atomic
from convbench.core.records.artifacts import MANIFEST_SCHEMA, ArtifactRecord, Manifest
from convbench.core.records.layers import LayerProfileResult
from convbench.core.records.results import (BENCH_SCHEMA, AuditResult, LatencyResult, MemoryResult, PipelineResult,
                                       RunRecord, ScalingLatency, ScalingMemory)
from convbench.core.records.scenarios import ScenarioResult

T = TypeVar("T")
# Every kind of row a bench file holds, told apart by `kind`.
Result = Annotated[LatencyResult | MemoryResult | AuditResult | ScalingLatency | ScalingMemory | PipelineResult
                   | LayerProfileResult | ScenarioResult, Field(discriminator="kind")]
BENCH_FILE = "bench.json"
MANIFEST_FILE = "manifest.json"


@cache
def _adapter(kind) -> TypeAdapter:
    return TypeAdapter(kind)


def to_jsonable(obj: Any, kind=None) -> Any:
    """A record (or list of records) as JSON-ready Python: what goes into a file or extra_info."""
    return _adapter(kind or type(obj)).dump_python(obj, mode="json")


def from_jsonable(kind: type[T], data: Any, where: str) -> T:
    """Validate plain JSON data into `kind`; UserError naming `where` and the first bad field."""
    try:
        return _adapter(kind).validate_python(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise UserError(f"{where}: not a valid convbench record: {loc}: {first['msg']}") from None


def write_record(path: Path, obj: Any, kind=None) -> None:
    text = json.dumps(to_jsonable(obj, kind), indent=2, sort_keys=True)
    write_bytes_atomic(Path(path), (text + "\n").encode())


def read_json(path: Path) -> Any:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{path}: not a JSON file ({exc})") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read it ({exc.strerror or exc})") from None


def read_record(path: Path, kind: type[T]) -> T:
    return from_jsonable(kind, read_json(path), str(path))


def _check_schema(path: Path, doc: Any, expected: str, what: str, remedy: str) -> None:
    schema = doc.get("schema") if isinstance(doc, dict) else None
    if schema == expected:
        return
    if isinstance(schema, str) and schema.startswith(expected.rsplit("/", 1)[0] + "/"):
        raise UserError(f"{path}: {what} schema {schema!r}; this convbench reads {expected!r}: {remedy}")
    raise UserError(f"{path}: not a convbench {what} (schema {schema!r}, expected {expected!r})")


# ---- manifest ----------------------------------------------------------------------------

def read_manifest(path: Path) -> Manifest:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no manifest; run `convbench optimize` first (it writes the artifacts "
                        "and their manifest.json that the benchmarks read)")
    doc = read_json(path)
    _check_schema(path, doc, MANIFEST_SCHEMA, "manifest", "run `convbench optimize` again")
    manifest = from_jsonable(Manifest, doc, str(path))
    manifest.path = path
    return manifest


def write_manifest(path: Path, manifest: Manifest) -> Manifest:
    """Write `manifest` at `path`, its paths rewritten relative to that file's folder."""
    moved = manifest.relocated(Path(path)) if manifest.path is not None else manifest
    write_record(path, moved)
    return moved


# ---- bench.json --------------------------------------------------------------------------

@dataclass(kw_only=True)
class BenchEntry:
    """One pytest-benchmark benchmark: its stats (raw samples in stats.data) and our result."""

    name: str
    stats: dict[str, Any]
    extra_info: Result


@dataclass(kw_only=True)
class BenchFile:
    """bench.json: pytest-benchmark's JSON, whose extra_info are convbench results, plus the run record."""

    convbench: RunRecord
    benchmarks: list[BenchEntry]
    machine_info: dict[str, Any] = field(default_factory=dict)
    commit_info: dict[str, Any] = field(default_factory=dict)
    datetime: str | None = None
    version: str | None = None


def read_bench_file(path: Path) -> BenchFile:
    path = Path(path)
    doc = read_json(path)
    if not isinstance(doc, dict) or not isinstance(doc.get("benchmarks"), list):
        raise UserError(f"{path}: not a pytest-benchmark result (no \"benchmarks\" list); "
                        "expected the bench.json that `convbench bench` writes")
    record = doc.get("convbench")
    if not isinstance(record, dict):
        raise UserError(f"{path}: no convbench run record; not a result of `convbench bench`")
    _check_schema(path, record, BENCH_SCHEMA, "bench result", "benchmark the artifacts again")
    bench = from_jsonable(BenchFile, doc, str(path))
    if not bench.benchmarks:
        # An empty run would pass a regression gate vacuously and make an empty report.
        raise UserError(f"{path}: holds no benchmarks (were they all skipped or deselected?)")
    return bench


def finish_bench_file(raw: Path, final: Path) -> BenchFile:
    """Validate what pytest-benchmark wrote at `raw` and publish it at `final` atomically."""
    bench = read_bench_file(raw)
    write_record(final, bench)
    Path(raw).unlink()
    return bench


def samples_s(entry: BenchEntry, where: str) -> list[float]:
    """The raw per-round seconds pytest-benchmark kept (its median alone when saved without
    them); anything but finite non-negative numbers is a UserError naming `where`."""
    data = entry.stats.get("data")
    if data is None and entry.stats.get("median") is not None:
        data = [entry.stats["median"]]
    ok = isinstance(data, list) and data and all(
        isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x >= 0 for x in data)
    if not ok:
        raise UserError(f"{where}: benchmark {entry.name!r} has no valid timings in stats")
    return [float(x) for x in data]


def artifact_record_of(manifest: Manifest | None, row) -> ArtifactRecord | None:
    return None if manifest is None else manifest.artifact(row.model, row.variant, row.format)
