"""The gate's interleaved A/B mode (`convbench compare BASE_MANIFEST CHANGE_MANIFEST`): two
artifact sets (a base and a change manifest) timed in this one process, row by row, alternately
(abba.py), with both sides' accuracy on the same held-out images; decided by paired statistics
(convbench/core/stats.py) and written to <out>/gates/<UTC time>/interleaved.json.

The rows are the gate's primary rows: every post-training and technique artifact the two
manifests share, at batch 1 and 1 thread on CPU, on its family's primary runtime (LiteRT for
TFLite, ONNX Runtime for ONNX): what a deployment runs, one row per file, and small enough that
the whole gate for the default lessons takes a few minutes on 2 cores."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, UTC
from pathlib import Path
from collections.abc import Callable

import numpy as np

from convbench.core import classes
from convbench.core.errors import UserError
from convbench.core.formats import family
from convbench.core.records import MANIFEST_FILE, ArtifactRecord, Manifest, read_manifest
from convbench.core.runtimes import runtime_for
from convbench.core.records.gate import (IMPROVED, INTERLEAVED_FILE, NOISE, OK, REGRESSION, InterleavedRun,
                                         PairedAccuracy, PairedLatency)
from convbench.core.stats import BOOTSTRAP_RESAMPLES, RatioEstimate, mcnemar, median_ratio
from convbench.gate import checks
from convbench.gate.abba import InterleaveBudget, time_interleaved

INTERLEAVED_THRESHOLD_PCT = 5.0  # calibrated by calibrate.py (README); between runs: between_runs.py
GATE_BATCH, GATE_THREADS, GATE_DEVICE = 1, 1, "cpu"
GATE_FAMILIES = ("tflite", "onnx")   # each on its family's primary runtime (runtimes.family_runtimes)
POOL_BATCHES = 8  # distinct held-out images cycled through the rounds
DECISION = ("latency: median over ABBA blocks of (change's two rounds / base's two rounds), with a two-sided "
            "{conf:g} % percentile bootstrap interval ({resamples} resamples); REGRESSION when that median is more "
            "than {pct:g} % slower AND the interval lies above 1. accuracy: the same held-out images on both "
            "sides; REGRESSION when the change is more than {pp:g} pp less accurate; McNemar's exact p beside it")

# (base session, change session, base inputs) -> the session to time as the change (calibration)
ChangeHook = Callable[[object, object, list], object]


def manifest_path(path: Path) -> Path:
    """A manifest.json, or an artifacts folder holding one."""
    path = Path(path)
    return path / MANIFEST_FILE if path.is_dir() else path


@dataclass(frozen=True)
class GateOptions:
    base: Path
    change: Path
    out: Path = Path("artifacts")
    models: tuple[str, ...] = ()
    variants: tuple[str, ...] = ()
    max_latency_regression_pct: float = INTERLEAVED_THRESHOLD_PCT
    max_accuracy_drop_pp: float = 1.0
    alpha: float = 0.01
    budget: InterleaveBudget = field(default_factory=InterleaveBudget)
    accuracy: bool = True

    def __post_init__(self) -> None:
        checks.at_least_zero("--max-accuracy-drop", self.max_accuracy_drop_pp)
        checks.at_least_zero("--max-latency-regression", self.max_latency_regression_pct)
        checks.alpha(self.alpha)


def latency_verdict(estimate: RatioEstimate, threshold_pct: float) -> str:
    """REGRESSION: the median ratio is beyond the threshold AND the interval excludes 1 (the
    minimum effect and the evidence both); noise: beyond the threshold, interval includes 1."""
    change_pct = (estimate.ratio - 1) * 100
    if abs(change_pct) <= threshold_pct:
        return OK
    if change_pct > 0:
        return REGRESSION if estimate.ci_low > 1 else NOISE
    return IMPROVED if estimate.ci_high < 1 else NOISE


def accuracy_verdict(drop_pp: float, max_drop_pp: float) -> str:
    """The budget decides (as in the between-runs mode); McNemar's p is printed beside it."""
    return REGRESSION if drop_pp > max_drop_pp else (IMPROVED if drop_pp < 0 else OK)


def exit_code(run: InterleavedRun) -> int:
    return 1 if any(r.verdict == REGRESSION for r in [*run.rows, *run.accuracy]) else 0


@dataclass(frozen=True)
class GateRow:
    base: ArtifactRecord
    change: ArtifactRecord
    runtime: str


def gate_rows(base: Manifest, change: Manifest, models=(), variants=()) -> tuple[list[GateRow], dict[str, str]]:
    """The primary rows both manifests can run, and every other artifact with why it is left out."""
    rows, left_out = [], {}
    theirs = {(a.model, a.variant, a.format): a for a in change.artifacts}
    mine = {(a.model, a.variant, a.format) for a in base.artifacts}
    for a in base.artifacts:
        if (models and a.model not in models) or (variants and a.variant not in variants):
            continue
        other = theirs.get((a.model, a.variant, a.format))
        why = ("only in the base manifest" if other is None
               else f"failed in the base manifest: {a.error}" if not a.ok
               else f"failed in the change manifest: {other.error}" if not other.ok
               else "the trained Keras model: its runtimes are TensorFlow's; `convbench bench` times it"
               if family(a.format) not in GATE_FAMILIES else "")
        if why:
            left_out[a.label] = why
        else:
            rows.append(GateRow(a, other, runtime_for(family(a.format)).name))
    left_out.update({a.label: "only in the change manifest" for a in change.artifacts
                     if (a.model, a.variant, a.format) not in mine
                     and (not models or a.model in models) and (not variants or a.variant in variants)})
    return rows, left_out


@dataclass(frozen=True)
class GatePlan:
    """What a gate run times: both manifests, read and checked, its rows and those left out."""

    base: Manifest
    change: Manifest
    rows: list[GateRow]
    left_out: dict[str, str]


def plan_gate(options: GateOptions) -> GatePlan:
    """Read both manifests and check them against the options (the same data set, models and
    variants the base manifest has, a row to time): every UserError of the gate's inputs,
    before anything is timed or written. The CLI calls it before it takes the artifacts
    folder's lock; run_interleaved calls it again under the lock."""
    from convbench.benchmarks.bench import BenchOptions, validate_names

    base_m, change_m = read_manifest(manifest_path(options.base)), read_manifest(manifest_path(options.change))
    if base_m.dataset.fingerprint != change_m.dataset.fingerprint:
        raise UserError(f"{change_m.path}: made from another data set than {base_m.path} (fingerprints "
                        f"{change_m.dataset.fingerprint[:12]}... and {base_m.dataset.fingerprint[:12]}...): "
                        "an A/B gate compares both sides on the same images")
    validate_names(BenchOptions(models=options.models, variants=options.variants, out=options.out), base_m)
    rows, left_out = gate_rows(base_m, change_m, options.models, options.variants)
    if not rows:
        raise UserError(f"{base_m.path} and {change_m.path} share no artifact the gate can time")
    return GatePlan(base_m, change_m, rows, left_out)


def run_interleaved(options: GateOptions, change_hook: ChangeHook | None = None, slowdown_pct: float | None = None,
                    progress: str = "interleaved A/B") -> tuple[InterleavedRun, Path]:
    """Time and decide every primary row; write the record atomically; return it and its path.
    `progress`: the name the console's progress display gives this pass."""
    from convbench.benchmarks.bench import BenchOptions
    from convbench.benchmarks.machine import machine_info
    from convbench.benchmarks.suite import BenchContext, _git
    from convbench.core.fingerprint import sha256_file
    from convbench.core.progress import Progress
    from convbench.core.records import write_record

    plan = plan_gate(options)
    base_m, change_m, rows = plan.base, plan.change, plan.rows
    started = datetime.now(UTC)
    folder = Path(options.out) / "gates" / started.strftime("%Y%m%dT%H%M%SZ")
    context = BenchContext(BenchOptions(models=options.models, variants=options.variants, out=options.out),
                           base_m, folder)
    record = InterleavedRun(
        started=started.isoformat(timespec="seconds"), base_manifest=str(options.base),
        change_manifest=str(options.change), base_manifest_sha256=sha256_file(base_m.path),
        change_manifest_sha256=sha256_file(change_m.path), dataset_fingerprint=base_m.dataset.fingerprint,
        machine=machine_info(), versions=_runtime_versions(rows), git_commit=_git("rev-parse", "HEAD"),
        git_dirty=bool(_git("status", "--porcelain", "--untracked-files=no")),
        max_latency_regression_pct=options.max_latency_regression_pct,
        max_accuracy_drop_pp=options.max_accuracy_drop_pp, alpha=options.alpha,
        row_time_s=options.budget.row_time_s, bootstrap_resamples=BOOTSTRAP_RESAMPLES,
        decision=DECISION.format(conf=(1 - options.alpha) * 100, resamples=BOOTSTRAP_RESAMPLES,
                                 pct=options.max_latency_regression_pct, pp=options.max_accuracy_drop_pp),
        not_compared=dict(plan.left_out))
    # The one progress display, on the console (quiet.user_stream): a bar on a terminal, else a
    # line per model.
    with Progress(len(rows), progress, "row") as bar:
        for done, row in enumerate(rows, 1):
            why = next((f"{m.path}: {a.label}: the file changed after `convbench optimize` (sha256)"
                        for a, m in ((row.base, base_m), (row.change, change_m))
                        if a.sha256 and sha256_file(m.artifact_path(a)) != a.sha256), None)
            if why:
                record.not_compared[row.base.label] = why
            else:
                latency, accuracy = _measure(row, base_m, change_m, context, options, change_hook)
                latency.slowdown_injected_pct = slowdown_pct
                record.rows.append(latency)
                if accuracy is not None:
                    record.accuracy.append(accuracy)
            bar.advance(row.base.label)
            if done == len(rows) or rows[done].base.model != row.base.model:
                bar.finished(f"{row.base.model} done, {done}/{len(rows)} rows")
    record.finished = datetime.now(UTC).isoformat(timespec="seconds")
    path = folder / INTERLEAVED_FILE
    write_record(path, record)
    return record, path


def _measure(row: GateRow, base_m: Manifest, change_m: Manifest, context, options: GateOptions,
             change_hook: ChangeHook | None) -> tuple[PairedLatency, PairedAccuracy | None]:
    from convbench.core.runtimes import get_runtime

    runtime = get_runtime(row.runtime)
    runtime.import_modules()
    sessions = [runtime.load(m.artifact_path(a), device=GATE_DEVICE, threads=GATE_THREADS, batch=GATE_BATCH)
                for a, m in ((row.base, base_m), (row.change, change_m))]
    item_shape = sessions[0].input_shape[1:]
    x_batches = context.input_pool(GATE_BATCH, POOL_BATCHES, item_shape)
    if change_hook is not None:
        sessions[1] = change_hook(sessions[0], sessions[1], x_batches)
    accuracy = None
    held_out, labels, _ = context.held_out(item_shape)
    if options.accuracy and held_out is not None:
        correct = [classes.correct(s.predict_all(held_out), labels) for s in sessions]
        test = mcnemar(*correct)
        base_acc, change_acc = (float(np.mean(c)) for c in correct)
        accuracy = PairedAccuracy(model=row.base.model, variant=row.base.variant, format=row.base.format,
                                  runtime=row.runtime, images=len(labels), base_accuracy=base_acc,
                                  change_accuracy=change_acc, base_only_correct=test.base_only_correct,
                                  change_only_correct=test.change_only_correct, p_value=test.p_value, verdict="")
        accuracy.verdict = accuracy_verdict(accuracy.drop_pp, options.max_accuracy_drop_pp)
    timed = time_interleaved(sessions[0], sessions[1], x_batches, options.budget)
    estimate = median_ratio(timed.base_round_s, timed.change_round_s, options.alpha)
    per_call_ms = 1e3 / timed.calls_per_round
    latency = PairedLatency(
        model=row.base.model, variant=row.base.variant, format=row.base.format, runtime=row.runtime,
        device=GATE_DEVICE, batch=GATE_BATCH, threads=GATE_THREADS, sha256=row.base.sha256,
        change_sha256=row.change.sha256, runtime_version=runtime.version(), device_used=sessions[0].device_used,
        providers=list(sessions[0].providers), calls_per_round=timed.calls_per_round, base_round_s=timed.base_round_s,
        change_round_s=timed.change_round_s, base_p50_ms=float(np.median(timed.base_round_s)) * per_call_ms,
        change_p50_ms=float(np.median(timed.change_round_s)) * per_call_ms, ratio=estimate.ratio,
        ratio_ci_low=estimate.ci_low, ratio_ci_high=estimate.ci_high,
        verdict=latency_verdict(estimate, options.max_latency_regression_pct))
    return latency, accuracy


def _runtime_versions(rows: list[GateRow]) -> dict[str, str]:
    from convbench.core.runtimes import get_runtime

    return {name: get_runtime(name).version() for name in dict.fromkeys(r.runtime for r in rows)}
