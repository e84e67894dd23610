"""LoadGen's detail log (mlperf_log_detail.txt) read into a typed record: validity and its
reason, the early-stopping figures, LoadGen's percentiles, and the settings it says it used.
Only LoadGen's own `:::MLLOG {json}` lines are read; nothing is re-timed here."""

from __future__ import annotations

import json
import re
from pathlib import Path

from convbench.core.errors import UserError
from convbench.core.records import LoadGenRun

DETAIL_LOG = "mlperf_log_detail.txt"
SUMMARY_LOG = "mlperf_log_summary.txt"
ACCURACY_LOG = "mlperf_log_accuracy.json"
MLLOG = ":::MLLOG "
# LoadGen's own line when it applies an audit.config: such a run measured other settings than asked.
AUDIT_CONFIG_FOUND = "Found Audit Config file"
_ESTIMATE = re.compile(r"Early stopping (\d+(?:\.\d+)?)th percentile estimate: (\d+)")


def read_mllog(path: Path) -> tuple[dict, list[str], list[str]]:
    """(last value per key, warning texts, error texts) of a detail log's MLLOG lines."""
    values: dict = {}
    warnings, errors = [], []
    for line in Path(path).read_text(errors="replace").splitlines():
        start = line.find(MLLOG)
        if start < 0:
            continue
        try:
            entry = json.loads(line[start + len(MLLOG):])
        except json.JSONDecodeError:
            continue   # LoadGen writes whole lines; a cut last line (a crash) is not a record
        key, value, meta = entry.get("key"), entry.get("value"), entry.get("metadata") or {}
        values[key] = value
        if meta.get("is_error"):
            errors.append(f"{key}: {value}")
        elif meta.get("is_warning"):
            warnings.append(f"{key}: {value}")
    return values, warnings, errors


def _ms(ns) -> float | None:
    return None if ns is None else float(ns) / 1e6


def early_stopping_estimates_ms(text: str) -> dict[float, float]:
    """percentile (90.0, 99.0, ...) -> LoadGen's early-stopping estimate in ms, from its words."""
    return {float(p): int(ns) / 1e6 for p, ns in _ESTIMATE.findall(text or "")}


def parse_detail_log(log_dir: Path, relative_to: Path | None = None) -> LoadGenRun:
    """The run LoadGen logged into `log_dir`. UserError when it left no detail log or no result
    (it stopped before judging the run)."""
    path = Path(log_dir) / DETAIL_LOG
    if not path.is_file():
        raise UserError(f"{log_dir}: LoadGen wrote no {DETAIL_LOG}")
    v, warnings, errors = read_mllog(path)
    accuracy_mode = v.get("effective_test_mode") == "AccuracyOnly"
    if "result_validity" not in v and not (accuracy_mode and "power_end" in v):
        raise UserError(f"{path}: no result_validity record: LoadGen did not finish the test")
    # AccuracyOnly judges nothing itself (the accuracy comes from its accuracy log): it is valid
    # when LoadGen logged no error.
    valid = not errors if accuracy_mode else v["result_validity"] == "VALID"
    reason = v.get("result_invalid_reason") or ("; ".join(errors) if accuracy_mode and errors else None)
    if not valid and not reason:
        failed = [what for key, what in (("result_perf_constraints_met", "the latency bound was not met"),
                                         ("result_min_duration_met", "the minimum duration was not met"),
                                         ("result_min_queries_met", "the minimum query count was not met"),
                                         ("early_stopping_met", "early stopping was not satisfied"))
                  if v.get(key) is False]
        reason = "; ".join(failed) or "LoadGen gave no reason"
    estimates = early_stopping_estimates_ms(v.get("early_stopping_result", ""))
    scenario = v.get("effective_scenario", "")
    samples_per_s = (v.get("result_completed_samples_per_sec") if scenario == "Server"
                     else v.get("result_samples_per_second") if scenario == "Offline"
                     else v.get("result_qps_with_loadgen_overhead"))
    where = Path(log_dir) if relative_to is None else Path(log_dir).resolve().relative_to(Path(relative_to).resolve())
    return LoadGenRun(
        scenario=scenario, mode=v.get("effective_test_mode", ""), valid=valid, invalid_reason=None if valid else reason,
        log_dir=str(where),
        target_qps=float(v["effective_target_qps"]) if scenario in ("Server", "Offline") else None,
        target_latency_ms=_ms(v.get("effective_target_latency_ns")) if scenario == "Server" else None,
        query_count=int(v.get("result_query_count") or v.get("generated_query_count") or 0),
        samples_per_query=int(v.get("effective_samples_per_query") or 1),
        samples_per_s=None if samples_per_s is None else float(samples_per_s),
        min_duration_met=v.get("result_min_duration_met"), min_queries_met=v.get("result_min_queries_met"),
        perf_constraints_met=v.get("result_perf_constraints_met"), early_stopping_met=v.get("early_stopping_met"),
        early_stopping_p90_ms=estimates.get(90.0), early_stopping_p99_ms=estimates.get(99.0),
        early_stopping_text=" ".join(str(v.get("early_stopping_result", "")).split()),
        overlatency_queries=v.get("result_overlatency_query_count"),
        p50_ms=_ms(v.get("result_50.00_percentile_latency_ns")),
        p90_ms=_ms(v.get("result_90.00_percentile_latency_ns")),
        p99_ms=_ms(v.get("result_99.00_percentile_latency_ns")),
        p999_ms=_ms(v.get("result_99.90_percentile_latency_ns")), mean_ms=_ms(v.get("result_mean_latency_ns")),
        max_ms=_ms(v.get("result_max_latency_ns")), min_duration_ms=int(v.get("effective_min_duration_ms") or 0),
        min_query_count=int(v.get("effective_min_query_count") or 0), warnings=warnings, errors=errors)


def accuracy_outputs(log_dir: Path) -> dict[int, bytes]:
    """qsl index -> the response bytes LoadGen logged in AccuracyOnly mode (its accuracy log)."""
    entries = json.loads((Path(log_dir) / ACCURACY_LOG).read_text() or "[]")
    return {int(e["qsl_idx"]): bytes.fromhex(e["data"]) for e in entries}
