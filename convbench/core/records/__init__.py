"""Typed records for everything convbench writes to disk, and the one reader/writer of them.

Field names are spelled in these dataclasses and nowhere else: the stages construct records and
read attributes. manifest.json and bench.json carry a schema version checked on every read."""

from convbench.core.records.artifacts import (MANIFEST_SCHEMA, ArtifactRecord, BaseRecord, BuiltOn, DatasetInfo,
                                         Manifest, ModelSource, ScalingFiles, ScalingRecord, TrainedRecord,
                                         Verification, VariantRecord, WeightStats, relative_path)
from convbench.core.records.quantization import LayerError, RankedLayer, SelectionStep, SelectiveSearch
from convbench.core.records.io import (BENCH_FILE, MANIFEST_FILE, BenchEntry, BenchFile, Result, finish_bench_file,
                                  from_jsonable, read_bench_file, read_json, read_manifest, read_record,
                                  to_jsonable, write_manifest, write_record)
from convbench.core.records.layers import LayerProfileResult, LayerTiming
from convbench.core.records.results import (BENCH_SCHEMA, PERCENTILE_METHOD, AuditResult, CachingAudit, ComputeFields,
                                       LatencyResult, LatencyStats, MachineInfo, MemoryPhase, MemoryResult,
                                       OutputAudit, OverheadAudit, PipelineResult, RowBase, RunRecord,
                                       ScalingLatency, ScalingMemory, Skip)
from convbench.core.records.scenarios import (SCENARIOS, SERVER_SUT_WORDS, SERVER_SUTS, LoadGenRun,
                                              ScenarioResult, beyond_own_path_ms, cold_null_paths_ms)
from convbench.core.records.roofs import (OPS_COUNT, BandwidthMeasurement, DeviceRoofs, Roof, RoofMeasurement, RunRoofs,
                                     TheoreticalPeak)
from convbench.core.records.report import (RECOMMENDATION_FILE, RECOMMENDATION_SCHEMA, ModelRecommendation,
                                      Recommendation, RecommendedRow, TiedRow)
from convbench.core.records.run import BenchRun, load_run, resolve_bench_json

__all__ = [
    "MANIFEST_SCHEMA", "BENCH_SCHEMA", "PERCENTILE_METHOD", "BENCH_FILE", "MANIFEST_FILE",
    "ArtifactRecord", "BaseRecord", "BuiltOn", "DatasetInfo", "LayerError", "Manifest", "ModelSource", "RankedLayer",
    "ScalingFiles", "ScalingRecord", "SelectionStep", "SelectiveSearch", "TrainedRecord", "Verification",
    "VariantRecord", "WeightStats", "relative_path",
    "BenchEntry", "BenchFile", "finish_bench_file", "from_jsonable", "read_bench_file", "read_json", "read_manifest",
    "read_record", "to_jsonable", "write_manifest", "write_record",
    "AuditResult", "CachingAudit", "ComputeFields", "LatencyResult", "LatencyStats", "MachineInfo", "MemoryPhase",
    "MemoryResult", "OutputAudit", "OverheadAudit", "PipelineResult", "Result", "RowBase", "RunRecord",
    "ScalingLatency", "ScalingMemory", "Skip", "LayerProfileResult", "LayerTiming",
    "OPS_COUNT", "BandwidthMeasurement", "DeviceRoofs", "Roof", "RoofMeasurement", "RunRoofs", "TheoreticalPeak",
    "RECOMMENDATION_FILE", "RECOMMENDATION_SCHEMA", "ModelRecommendation", "Recommendation", "RecommendedRow",
    "TiedRow",
    "BenchRun", "load_run", "resolve_bench_json",
    "SCENARIOS", "SERVER_SUT_WORDS", "SERVER_SUTS", "LoadGenRun", "ScenarioResult", "beyond_own_path_ms",
    "cold_null_paths_ms",
]
