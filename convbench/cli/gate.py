"""The regression gate's commands and their options: `convbench compare BASE NEW` (two runs, or
two manifests timed interleaved) and `convbench calibrate-gate` (its A/A false alarms and its
sensitivity). The gate itself is convbench.gate; this module only parses and dispatches."""

from __future__ import annotations

from pathlib import Path


def register(sub) -> None:
    from convbench.gate.checks import MAX_SLOWDOWN_PCT
    from convbench.gate.interleaved import INTERLEAVED_THRESHOLD_PCT

    p = sub.add_parser("compare", help="regression gate: two runs, or two manifests timed interleaved "
                                       "(exit 1 on a regression)")
    add_compare_arguments(p)
    _add_interleaved_args(p.add_argument_group("interleaved A/B mode (BASELINE and NEW are manifests)"))
    p.set_defaults(handler=_cmd_compare)

    p = sub.add_parser("calibrate-gate", help="measure the interleaved gate's A/A false alarms and its "
                                              "sensitivity to an injected slowdown")
    p.add_argument("--manifest", type=Path, default=Path("artifacts"), metavar="PATH",
                   help="the artifacts to time on both sides (manifest.json or its folder; default artifacts/)")
    p.add_argument("--max-latency-regression", type=float, default=INTERLEAVED_THRESHOLD_PCT, metavar="PCT",
                   help=f"the threshold being calibrated (default {INTERLEAVED_THRESHOLD_PCT:g})")
    p.add_argument("--slowdown", type=float, default=10.0, metavar="PCT",
                   help="busy work injected on one side, in percent of each row's median (default 10; "
                        f"> 0, at most {MAX_SLOWDOWN_PCT:g})")
    p.add_argument("--alpha", type=float, default=0.01, help="1 - the bootstrap interval's level (default 0.01)")
    _add_interleaved_args(p)
    p.set_defaults(handler=_cmd_calibrate)


def add_compare_arguments(parser) -> None:
    """The `convbench compare` options both modes take."""
    from convbench.gate.between_runs import DEFAULT_THRESHOLD_PCT, TEST_NAME
    from convbench.gate.interleaved import INTERLEAVED_THRESHOLD_PCT

    parser.add_argument("baseline", type=Path, metavar="BASELINE",
                        help="run folder (artifacts/runs/<time>) or bench.json; or, for the interleaved A/B "
                             "mode, a manifest.json or an artifacts folder")
    parser.add_argument("new", type=Path, metavar="NEW", help="the same kind of thing to check against BASELINE")
    parser.add_argument("--max-accuracy-drop", type=float, default=1.0, metavar="PP",
                        help="accuracy budget in percentage points (default 1)")
    parser.add_argument("--max-latency-regression", type=float, default=None, metavar="PCT",
                        help=f"median slowdown threshold in percent (default {DEFAULT_THRESHOLD_PCT:g} between runs, "
                             f"{INTERLEAVED_THRESHOLD_PCT:g} interleaved: the threshold calibrated by A/A runs)")
    parser.add_argument("--alpha", type=float, default=0.01,
                        help=f"significance level of the {TEST_NAME} test (default 0.01)")


def _add_interleaved_args(g) -> None:
    g.add_argument("--models", nargs="+", default=(), metavar="NAME", help="lesson convnets (default: all)")
    g.add_argument("--variants", nargs="+", default=(), metavar="NAME", help="variants (default: all)")
    g.add_argument("--row-time", type=float, default=0.5, metavar="S",
                   help="timed seconds per row, both sides together (default 0.5)")
    g.add_argument("--out", type=Path, default=Path("artifacts"), metavar="DIR",
                   help="artifacts folder: the record goes to DIR/gates/<UTC time>/ (default artifacts/)")


def main_compare(args) -> int:
    """The between-runs mode: print the table; 1 on any regression, 0 otherwise. UserError
    propagates to the CLI (exit 2)."""
    from convbench.gate.between_runs import DEFAULT_THRESHOLD_PCT, compare_runs
    from convbench.gate.printer import print_comparison

    threshold = DEFAULT_THRESHOLD_PCT if args.max_latency_regression is None else args.max_latency_regression
    comparison = compare_runs(args.baseline, args.new, args.max_accuracy_drop, threshold, getattr(args, "alpha", 0.01))
    print_comparison(comparison)
    return comparison.exit_code


def check_values(args) -> None:
    """Every value option the command was given, checked before any input is read (in either
    mode of compare: a value that is wrong is wrong in both); a UserError names the first bad one."""
    from convbench.gate import checks

    if getattr(args, "max_accuracy_drop", None) is not None:
        checks.at_least_zero("--max-accuracy-drop", args.max_accuracy_drop)
    if args.max_latency_regression is not None:
        checks.at_least_zero("--max-latency-regression", args.max_latency_regression)
    checks.alpha(args.alpha)
    checks.row_time(args.row_time)
    if getattr(args, "slowdown", None) is not None:
        checks.slowdown(args.slowdown)


def _gate_options(args, base: Path, change: Path, threshold: float):
    """The interleaved gate's options, and its inputs read and checked (plan_gate): every bad
    input is refused before the artifacts folder's lock is taken (which creates the folder)."""
    from convbench.gate.abba import InterleaveBudget
    from convbench.gate.interleaved import GateOptions, plan_gate

    options = GateOptions(base=base, change=change, out=args.out, models=tuple(args.models),
                          variants=tuple(args.variants), max_latency_regression_pct=threshold,
                          max_accuracy_drop_pp=getattr(args, "max_accuracy_drop", 1.0), alpha=args.alpha,
                          budget=InterleaveBudget(row_time_s=args.row_time))
    plan_gate(options)
    return options


def _cmd_compare(args) -> int:
    from convbench.gate.mode import RUNS, gate_mode

    check_values(args)
    if gate_mode(args.baseline, args.new) == RUNS:
        return main_compare(args)
    from convbench.core.lock import folder_lock
    from convbench.gate.interleaved import INTERLEAVED_THRESHOLD_PCT, exit_code, run_interleaved
    from convbench.gate.printer import print_interleaved

    threshold = INTERLEAVED_THRESHOLD_PCT if args.max_latency_regression is None else args.max_latency_regression
    options = _gate_options(args, args.baseline, args.new, threshold)
    with folder_lock(args.out, "compare"):  # no bench or optimize on these cores meanwhile
        run, path = run_interleaved(options)
    print_interleaved(run, path)
    return exit_code(run)


def _cmd_calibrate(args) -> int:
    from dataclasses import replace

    from convbench.core.lock import folder_lock
    from convbench.gate.calibrate import calibrate
    from convbench.gate.printer import print_calibration

    check_values(args)
    # Both sides are the same files: their accuracies are equal by construction, so no accuracy pass.
    options = replace(_gate_options(args, args.manifest, args.manifest, args.max_latency_regression), accuracy=False)
    with folder_lock(args.out, "calibrate-gate"):
        calibration, path = calibrate(options, args.slowdown)
    print_calibration(calibration, path)
    return 0
