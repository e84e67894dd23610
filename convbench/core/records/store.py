"""Records of the results store (artifacts/results.duckdb): one dataclass per table. The
store's schema is derived from these fields (convbench/store/schema.py), so a column is added
by adding a field here and bumping STORE_SCHEMA."""

from __future__ import annotations

import json

from dataclasses import dataclass

from convbench.core.records.identity import RowId
from convbench.core.records.results import cpu_name

# 2: roofs per precision replace the SGEMM peaks; 3: machines.cpu_id; 4: row_key is RowId.text for every kind;
# 5: the serving scenarios' columns (p99_ms, server_max_qps, valid)
STORE_SCHEMA = "convbench.store/5"
STORE_FILE = "results.duckdb"


@dataclass(kw_only=True)
class StoredMachine:
    """A machine, keyed by MachineInfo.fingerprint (hardware + OS distribution)."""

    machine_id: str
    cpu_model: str
    cpu_id: str | None                 # vendor, family, model, stepping (None: a run recorded before convbench read it)
    cpu_flags: str                     # JSON {flag: bool} of the flags that pick kernels
    logical_cores: int
    usable_cores: int
    physical_cores: int | None
    ram_gib: float
    gpu_name: str | None
    gpu_driver: str | None
    os_name: str
    summary: str                       # one line for headers: everything above

    @property
    def short(self) -> str:
        """CPU, cores and GPU: what tells machines apart in a table of runs."""
        return f"{cpu_name(self.cpu_model, self.cpu_id)}, {self.usable_cores} cores, {self.gpu_name or 'no GPU'}"


@dataclass(kw_only=True)
class StoredRun:
    """A bench run, keyed by the hash of its validated bench.json content: importing the same
    run twice (from any folder) finds it already stored."""

    run_id: str
    machine_id: str
    started: str
    finished: str | None
    git_commit: str | None
    git_dirty: bool
    dataset_fingerprint: str
    manifest_sha256: str | None
    quick: bool
    platform: str                      # kernel and C library: a fact of the run, not of the machine
    python: str
    versions: str                      # JSON: library and runtime versions
    roofs: str                         # the run's roofs in one line (RunRoofs.describe)
    rows: int
    source: str                        # the folder it was read from
    imported_at: str


@dataclass(kw_only=True)
class StoredResult:
    """One result row of a run: its coordinates, its headline numbers as columns (what
    `history` and `machines` read), and the whole typed record as JSON."""

    run_id: str
    row_key: str                       # the record's key, joined: unique within a run
    kind: str
    metric: str | None = None          # audit: caching | harness_overhead; scenario: single_stream, server_plain, ...
    model: str | None = None
    variant: str | None = None
    format: str | None = None
    runtime: str | None = None
    device: str | None = None
    batch: int | None = None
    threads: str | None = None         # "auto" for the runtime's default
    side: int | None = None            # scaling rows: input side in pixels
    artifact_sha256: str | None = None
    p50_ms: float | None = None
    p90_ms: float | None = None
    iqr_ms: float | None = None
    rounds: int | None = None
    accuracy: float | None = None
    agreement_vs_fp32: float | None = None
    achieved_gflops: float | None = None
    roof_gflops: float | None = None
    fraction_of_roof: float | None = None
    peak_rss_mib: float | None = None
    items_per_s: float | None = None   # scenario rows: LoadGen's samples/s (Offline: the headline)
    p99_ms: float | None = None        # scenario rows: LoadGen's p99 of the headline run
    server_max_qps: float | None = None   # Server rows: the highest offered load whose LoadGen run was VALID
    valid: bool | None = None          # scenario rows: LoadGen judged the headline run VALID
    record: str                        # the result record as JSON

    @property
    def repeat_p50_ms(self) -> list[float]:
        """Each round's p50 of a row benched with --repeat (from the stored record); [] for one round."""
        return list(json.loads(self.record).get("repeat_p50_ms") or [])

    @property
    def key(self) -> RowId:
        return RowId(kind=self.kind, model=self.model or "", variant=self.variant or "", format=self.format or "",
                     runtime=self.runtime or "", device=self.device or "", batch=self.batch or 0,
                     threads=self.threads or "", metric=self.metric or "", side=self.side)

    @property
    def label(self) -> str:
        """The row as every table names it, after its kind (a store mixes kinds)."""
        return f"{self.kind} {self.key.label}"


# The numeric columns `convbench history METRIC` can show.
HISTORY_METRICS = ("p50_ms", "p90_ms", "p99_ms", "iqr_ms", "items_per_s", "accuracy", "agreement_vs_fp32",
                   "achieved_gflops", "fraction_of_roof", "peak_rss_mib", "server_max_qps")
