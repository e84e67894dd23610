"""The interleaved A/B gate's output (`convbench compare BASE_MANIFEST CHANGE_MANIFEST`), read
from its record: which mode decided and how, one line per row, the paired accuracy test, what
was left out, and the result."""

from __future__ import annotations

from convbench.core.records.gate import IMPROVED, NOISE, REGRESSION, InterleavedRun, PairedLatency
from convbench.core.tables import print_lines, print_table


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


def exit_code(run: InterleavedRun) -> int:
    return 1 if any(r.verdict == REGRESSION for r in [*run.rows, *run.accuracy]) else 0
