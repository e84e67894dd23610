"""The gate's console output, one module for both modes and the calibration, read from what the
gate measured and decided (nothing is decided here): which mode decided and how, one line per
row, what was left out, and the result; through the one table printer (convbench.core.tables).
`file` None: standard output."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from convbench.core.records.gate import (IMPROVED, NOISE, REGRESSION, GateCalibration, InterleavedRun,
                                         PairedLatency)
from convbench.core.tables import print_lines, print_table
from convbench.gate.between_runs import MIN_SAMPLES, TEST_NAME, Comparison, LatencyRow


# ---- between runs ------------------------------------------------------------------------

def print_comparison(c: Comparison, file=None) -> None:
    head = [f"baseline: {c.baseline}", f"new:      {c.new}",
            "mode: between runs (two runs timed at different times; drift between them is not cancelled: "
            "the interleaved A/B mode, with two manifests, is the one for CI)",
            *(f"note: {n}" for n in c.notes), "",
            "latency, rows repeated in rounds on both sides (--repeat): the median of each run's round p50s, "
            f"with a {1 - c.alpha:.0%} bootstrap interval over the rounds; a change is distinguishable when the "
            "whole interval lies beyond the machines' run-to-run spread"
            + (f" (x{c.spread:.3f}: a row's slowest round over its fastest, median over rows)" if c.spread else ""),
            f"  rows with one round: median of the raw samples, {TEST_NAME} on those samples, alpha {c.alpha:g} "
            "(it sees only the noise within each run: bench with --repeat 3 for intervals between runs)",
            f"  REGRESSION = more than {c.max_latency_regression_pct:g}% slower and distinguishable (p < {c.alpha:g}); "
            f"improved = likewise faster; noise = beyond {c.max_latency_regression_pct:g}% but not distinguishable",
            f"  few samples = one round and under {MIN_SAMPLES} samples on a side: the threshold alone decides"]
    print_lines(head, file)
    if c.rows:
        print_table(["key", "base p50_ms", "new p50_ms", "change %", "interval (x)", "p-value", "verdict",
                     "samples"],
                    [[r.key.label, f"{r.base_p50_ms:.4f}", f"{r.new_p50_ms:.4f}", f"{r.change_pct:+.1f}",
                      f"{r.interval.ci_low:.3f}-{r.interval.ci_high:.3f}" if r.interval else "-",
                      "-" if r.p_value is None else f"{r.p_value:.2g}",
                      r.verdict + (" (few samples)" if r.few_samples else ""), f"{r.n_base}/{r.n_new}"]
                     for r in c.rows], right={1, 2, 3, 5, 7}, file=file)
    else:
        print_lines(["(no latency rows on both sides)"], file)

    print_lines(["", "accuracy measured by each row's own runtime, device and threads on the held-out split: "
                 f"REGRESSION = drop of more than {c.max_accuracy_drop_pp:g} pp"], file)
    if c.accuracy_rows:
        print_table(["model/variant/format runtime device threads", "base", "new", "change pp", "verdict"],
                    [[r.key.label, f"{r.base_accuracy:.2%}", f"{r.new_accuracy:.2%}",
                      f"{(r.new_accuracy - r.base_accuracy) * 100:+.2f}", r.verdict] for r in c.accuracy_rows],
                    right={1, 2, 3}, file=file)
    else:
        print_lines(["(no accuracy on both sides)"], file)

    tail = []
    for title, keys in (("only in baseline", c.only_in_baseline), ("only in new", c.only_in_new),
                        ("accuracy not measured on either side", c.accuracy_not_measured)):
        if keys:
            tail += ["", f"{title} ({len(keys)}, not compared):", *(f"  {k}" for k in keys)]
    lat = [r for r in c.rows if r.verdict == REGRESSION]
    acc = [r for r in c.accuracy_rows if r.verdict == REGRESSION]
    improved = sum(r.verdict == IMPROVED for r in c.rows)
    noise = sum(r.verdict == NOISE for r in c.rows)
    one_sided = len(c.only_in_baseline) + len(c.only_in_new)
    with_interval = [r for r in c.rows if r.interval is not None]
    told = sum(bool(r.distinguishable) for r in with_interval)
    tail += ["", f"{len(lat)} latency and {len(acc)} accuracy regression(s); {improved} latency improvement(s); "
                 f"{noise} change(s) within noise; {one_sided} row(s) on one side only",
             f"{told} of {len(with_interval)} row(s) with rounds on both sides distinguishable from noise"
             if with_interval else "no row has rounds on both sides: no interval between the runs (--repeat)"]
    for r in c.regressions:
        what = f"latency {r.change_pct:+.1f}%" if isinstance(r, LatencyRow) else f"accuracy -{r.drop_pp:.2f} pp"
        tail.append(f"  REGRESSION {r.key.label}: {what}")
    tail.append("RESULT: REGRESSION (exit 1), decided by the between-runs mode" if c.regressions
                else "RESULT: ok (exit 0), decided by the between-runs mode")
    print_lines(tail, file)


def format_table(c: Comparison) -> str:
    """The gate's output as text (what `convbench compare` prints)."""
    buf = io.StringIO()
    print_comparison(c, buf)
    return buf.getvalue()


# ---- interleaved A/B ---------------------------------------------------------------------

def print_interleaved(run: InterleavedRun, path, file=None) -> None:
    head = [f"base:   {run.base_manifest}", f"change: {run.change_manifest}",
            f"mode: interleaved A/B (both artifact sets timed alternately in one process, rounds A B B A, same "
            f"inputs, {run.rows[0].threads if run.rows else 1} thread) on {run.machine.summary}",
            f"decided by: {run.decision}", f"record: {path}"]
    print_lines(head, file)
    if run.rows:
        print_table(["row", "base p50 ms", "change p50 ms", "ratio", "interval", "change %", "blocks", "verdict"],
                    [[r.label, f"{r.base_p50_ms:.4f}", f"{r.change_p50_ms:.4f}", f"{r.ratio:.3f}",
                      f"{r.ratio_ci_low:.3f}-{r.ratio_ci_high:.3f}", f"{r.change_pct:+.1f}", r.blocks, r.verdict]
                     for r in run.rows], right={1, 2, 3, 5, 6}, file=file)
    if run.accuracy:
        print_lines(["", f"accuracy on the same {run.accuracy[0].images} held-out images, both sides: "
                     f"REGRESSION = more than {run.max_accuracy_drop_pp:g} pp lower; McNemar's exact p on the "
                     "images only one side gets right"], file)
        print_table(["row", "base", "change", "change pp", "only base right", "only change right", "McNemar p",
                     "verdict"],
                    [[a.label, f"{a.base_accuracy:.2%}", f"{a.change_accuracy:.2%}", f"{0.0 - a.drop_pp:+.2f}",
                      a.base_only_correct, a.change_only_correct, f"{a.p_value:.2g}", a.verdict]
                     for a in run.accuracy], right={1, 2, 3, 4, 5, 6}, file=file)
    tail = []
    if run.not_compared:
        tail += ["", f"not compared ({len(run.not_compared)}):",
                 *(f"  {label}: {why}" for label, why in run.not_compared.items())]
    regressions = [r for r in [*run.rows, *run.accuracy] if r.verdict == REGRESSION]
    count = {v: sum(r.verdict == v for r in run.rows) for v in (IMPROVED, NOISE)}
    tail += ["", f"{sum(r.verdict == REGRESSION for r in run.rows)} latency and "
                 f"{sum(a.verdict == REGRESSION for a in run.accuracy)} accuracy regression(s) over {len(run.rows)} "
                 f"row(s); {count[IMPROVED]} improvement(s); {count[NOISE]} change(s) within noise"]
    tail += [f"  REGRESSION {r.label}: " + (f"latency {r.change_pct:+.1f}%" if isinstance(r, PairedLatency)
                                             else f"accuracy -{r.drop_pp:.2f} pp (McNemar p {r.p_value:.2g})")
             for r in regressions]
    tail.append("RESULT: REGRESSION (exit 1), decided by the interleaved A/B mode" if regressions
                else "RESULT: ok (exit 0), decided by the interleaved A/B mode")
    print_lines(tail, file)


# ---- calibration -------------------------------------------------------------------------

def print_calibration(c: GateCalibration, path: Path, file=None) -> None:
    n_aa, n_slow = len(c.aa.rows), len(c.slowed.rows)
    aa_other = {v: sum(r.verdict == v for r in c.aa.rows) for v in (IMPROVED, NOISE)}
    ratios = np.array([r.ratio for r in c.aa.rows])
    slow_ratios = np.array([r.ratio for r in c.slowed.rows])
    missed = [r for r in c.slowed.rows if r.verdict != "REGRESSION"]
    lines = [f"machine: {c.machine.summary} (fingerprint {c.machine.fingerprint})",
             f"threshold {c.max_latency_regression_pct:g} %, alpha {c.aa.alpha:g}, {c.aa.row_time_s:g} s timed per row",
             f"A/A (same artifacts both sides): {c.false_alarms} of {n_aa} rows flagged REGRESSION "
             f"({c.false_alarms / max(n_aa, 1):.1%}); {aa_other[IMPROVED]} improved, {aa_other[NOISE]} noise; "
             f"ratios median {np.median(ratios):.3f}, min {ratios.min():.3f}, max {ratios.max():.3f}",
             f"injected {c.injected_slowdown_pct:g} % slowdown: {c.detected} of {n_slow} rows flagged REGRESSION "
             f"({c.detected / max(n_slow, 1):.1%}); measured ratios median {np.median(slow_ratios):.3f}, "
             f"min {slow_ratios.min():.3f}",
             f"injection: {c.injection}",
             *(f"  missed: {r.label} ratio {r.ratio:.3f} ({r.ratio_ci_low:.3f}-{r.ratio_ci_high:.3f}) {r.verdict}"
               for r in missed),
             f"record: {path}"]
    print_lines(lines, file)
