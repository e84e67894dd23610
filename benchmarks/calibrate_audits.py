"""Calibration of the audits that can fail a bench run (a script, not part of `make test`): every
file of an artifacts folder on every CPU runtime that loads it (TensorFlow's runtimes left out:
the audit suite never runs them), audited as is (every failure is a false alarm) and with a
fault injected (every pass is a miss):

* caching: the session as is, then wrapped in a result cache keyed by the input's bytes
  (faults.MemoSession);
* harness overhead: a plain perf_counter loop on both sides (A/A), then a harness that spins
  for `--slow-pct` of the median call inside the timed region;
* per-layer sum (each .tflite and .onnx file, as the layers suite profiles it): the profile as
  measured, then with its largest layer missing (a profiler that lost a node) and with it
  counted twice (one that double-counts a node). ORT's profiler times kernels only, so only a
  sum above the whole fails there (benchmarks/layers.py): a missing layer cannot fail it.

    .venv/bin/python -m convbench.benchmarks.calibrate_audits --out artifacts --repeats 5

prints one line per check (rows, false alarms, detections) and the rows that went wrong. Row
counts: files x runtimes x repeats."""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from convbench.benchmarks.faults import MemoSession, slowed_pedantic
from convbench.benchmarks.harness import RoundBudget, audit_caching, measure_caching, measure_overhead, plain_pedantic
from convbench.benchmarks.matrix import TF_RUNTIMES
from convbench.benchmarks.test_audit import CACHING_INPUTS, CACHING_REPEATS
from convbench.core.formats import family
from convbench.core.records import read_manifest
from convbench.core.runtimes import RUNTIMES, family_runtimes
from convbench.core.tables import print_lines


def input_pool(x_test: np.ndarray, item_shape: Sequence[int], count: int) -> list[np.ndarray]:
    """`count` distinct batch-1 inputs: held-out images where the model takes them, else random."""
    if tuple(x_test.shape[1:]) == tuple(item_shape) and len(x_test) >= count:
        return [x_test[i:i + 1] for i in range(count)]
    rng = np.random.default_rng(0)
    return [rng.random((1, *item_shape), dtype=np.float32) for _ in range(count)]


def calibrate(out: Path, repeats: int, slow_pct: float, models: Sequence[str] | None,
              report: Callable[[str], None], layers: bool = True) -> tuple[Counter, dict[str, list[float]]]:
    """(counts, the caching audit's speedups as is and memoized) over every file and runtime;
    `layers`: also the per-layer sum check over every .tflite and .onnx file."""
    from convbench.models.data import Dataset

    manifest = read_manifest(Path(out) / "manifest.json")
    x_test = Dataset.load(manifest.resolve(manifest.dataset.path)).x_test
    budget = RoundBudget()
    counts: Counter = Counter()
    speedups: dict[str, list[float]] = {"as is": [], "memoized": []}
    files = [a for a in manifest.artifacts if a.ok and a.format != "keras" and (not models or a.model in models)]
    for artifact in files:
        for name in family_runtimes(family(artifact.format)):
            if name in TF_RUNTIMES:
                continue
            runtime = RUNTIMES[name]
            if not runtime.available("cpu")[0]:
                continue
            session = runtime.load(manifest.artifact_path(artifact), device="cpu", threads=1, batch=1)
            label = f"{artifact.label} {name}"
            pool = input_pool(x_test, session.input_shape[1:], CACHING_INPUTS + 1)
            for _ in range(repeats):
                honest, samples = measure_caching(session, pool, CACHING_REPEATS)
                memo, _ = measure_caching(MemoSession(session), pool, CACHING_REPEATS)
                per_input = np.asarray(samples, float).reshape(CACHING_INPUTS, CACHING_REPEATS)
                before = audit_caching(per_input[:, 0], np.median(per_input[:, 1:], axis=1), min_effect=0.05)
                counts["caching rows"] += 1
                counts["caching false alarms"] += not honest.passed
                counts["caching false alarms, 5 % rule"] += not before.passed
                counts["caching caught"] += not memo.passed
                speedups["as is"].append(honest.speedup)
                speedups["memoized"].append(memo.speedup)
                if not honest.passed or memo.passed or not before.passed:
                    report(f"  caching {label}: as is {honest.speedup:.3f}x (passed {honest.passed}; 5 % rule: "
                           f"{before.passed}), memoized {memo.speedup:.2f}x (passed {memo.passed})")
                lean, samples = measure_overhead(session, pool[:8], budget, plain_pedantic)
                extra_s = float(np.median(samples)) * slow_pct / 100
                slow, _ = measure_overhead(session, pool[:8], budget, slowed_pedantic(extra_s))
                counts["overhead rows"] += 1
                counts["overhead false alarms"] += not lean.passed
                counts["overhead caught"] += not slow.passed
                if not lean.passed or slow.passed:
                    report(f"  overhead {label}: A/A {lean.overhead_pct:+.1f} % (passed {lean.passed}), "
                           f"+{slow_pct:g} % injected {slow.overhead_pct:+.1f} % (passed {slow.passed})")
        if layers:
            calibrate_layers(manifest.artifact_path(artifact), artifact.label, repeats, counts, report)
    return counts, speedups


def calibrate_layers(path: Path, label: str, repeats: int, counts: Counter, report: Callable[[str], None]) -> None:
    """The per-layer sum check on one file's real profiles, then on the same profiles with a
    fault: the largest layer missing, or counted twice."""
    from dataclasses import replace

    from convbench.benchmarks.layers import profile
    from convbench.benchmarks.test_layers import BUDGET_S, SUM_TOLERANCE

    if path.suffix not in (".tflite", ".onnx"):
        return
    for _ in range(repeats):
        measured = profile(path, threads=1, budget_s=BUDGET_S[True])
        largest = max(range(len(measured.layers)), key=lambda i: measured.layers[i].time_us)
        share = measured.layers[largest].time_us / measured.whole_us
        missing = replace(measured, layers=measured.layers[:largest] + measured.layers[largest + 1:])
        twice = replace(measured, layers=[*measured.layers, measured.layers[largest]])
        kind = "ORT profiler" if measured.kernels_only else "LiteRT single-op"
        counts[f"layers rows ({kind})"] += 1
        counts[f"layers false alarms ({kind})"] += not measured.explains_whole(SUM_TOLERANCE)
        counts[f"layers missing caught ({kind})"] += not missing.explains_whole(SUM_TOLERANCE)
        counts[f"layers twice caught ({kind})"] += not twice.explains_whole(SUM_TOLERANCE)
        if share > measured.tolerance(SUM_TOLERANCE):   # a fault the check is meant to see
            counts[f"layers faults larger than the tolerance ({kind})"] += 1
        if not measured.explains_whole(SUM_TOLERANCE) or twice.explains_whole(SUM_TOLERANCE):
            report(f"  layers {label}: sum {measured.sum_ratio:.2f}x of the whole (tolerance "
                   f"{measured.tolerance(SUM_TOLERANCE):.0%}), largest layer {share:.0%}; missing -> "
                   f"{missing.sum_ratio:.2f}x, twice -> {twice.sum_ratio:.2f}x")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="artifacts", help="artifacts folder (default artifacts/)")
    parser.add_argument("--repeats", type=int, default=3, help="audits per file and runtime (default 3)")
    parser.add_argument("--slow-pct", type=float, default=10.0,
                        help="busy work injected into the harness, %% of a call (default 10; the limit is 5)")
    parser.add_argument("--models", nargs="+", help="only these models")
    parser.add_argument("--no-layers", action="store_true", help="leave out the per-layer sum check")
    args = parser.parse_args(argv)
    counts, speedups = calibrate(Path(args.out), args.repeats, args.slow_pct, args.models,
                                 lambda line: print_lines([line]), layers=not args.no_layers)
    rows, over = counts["caching rows"], counts["overhead rows"]
    honest, memo = np.asarray(speedups["as is"]), np.asarray(speedups["memoized"])
    print_lines([
        f"caching: {rows} rows; false alarms {counts['caching false alarms']} "
        f"(the former 5 % rule: {counts['caching false alarms, 5 % rule']}); memo cache caught "
        f"{counts['caching caught']}/{rows}",
        f"  repeat speedup as is: median {np.median(honest):.3f}x, 99th percentile {np.percentile(honest, 99):.3f}x, "
        f"max {honest.max():.3f}x; memoized: min {memo.min():.2f}x, median {np.median(memo):.2f}x",
        f"harness overhead: {over} rows; A/A false alarms {counts['overhead false alarms']}; "
        f"+{args.slow_pct:g} % caught {counts['overhead caught']}/{over}"]
        + [f"per-layer sum, {kind}: {counts[f'layers rows ({kind})']} rows; false alarms "
           f"{counts[f'layers false alarms ({kind})']}; largest layer missing caught "
           f"{counts[f'layers missing caught ({kind})']}, counted twice caught "
           f"{counts[f'layers twice caught ({kind})']} "
           f"(a layer larger than the tolerance in {counts[f'layers faults larger than the tolerance ({kind})']})"
           for kind in ("LiteRT single-op", "ORT profiler") if counts[f"layers rows ({kind})"]])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
