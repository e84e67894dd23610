"""The regression gate's commands: `convbench compare BASE NEW` (two runs, or two manifests
timed interleaved) and `convbench calibrate-gate` (its A/A false alarms and its sensitivity)."""

from __future__ import annotations

from pathlib import Path


def register(sub) -> None:
    from convbench.report.compare import add_compare_arguments

    p = sub.add_parser("compare", help="regression gate: two runs, or two manifests timed interleaved "
                                       "(exit 1 on a regression)")
    add_compare_arguments(p)
    _add_interleaved_args(p.add_argument_group("interleaved A/B mode (BASELINE and NEW are manifests)"))
    p.set_defaults(handler=_cmd_compare)

    p = sub.add_parser("calibrate-gate", help="measure the interleaved gate's A/A false alarms and its "
                                              "sensitivity to an injected slowdown")
    p.add_argument("--manifest", type=Path, default=Path("artifacts"), metavar="PATH",
                   help="the artifacts to time on both sides (manifest.json or its folder; default artifacts/)")
    p.add_argument("--max-latency-regression", type=float, default=5.0, metavar="PCT",
                   help="the threshold being calibrated (default 5)")
    p.add_argument("--slowdown", type=float, default=10.0, metavar="PCT",
                   help="busy work injected on one side, in percent of each row's median (default 10)")
    p.add_argument("--alpha", type=float, default=0.01, help="1 - the bootstrap interval's level (default 0.01)")
    _add_interleaved_args(p)
    p.set_defaults(handler=_cmd_calibrate)


def _add_interleaved_args(g) -> None:
    g.add_argument("--models", nargs="+", default=(), metavar="NAME", help="lesson convnets (default: all)")
    g.add_argument("--variants", nargs="+", default=(), metavar="NAME", help="variants (default: all)")
    g.add_argument("--row-time", type=float, default=0.5, metavar="S",
                   help="timed seconds per row, both sides together (default 0.5)")
    g.add_argument("--out", type=Path, default=Path("artifacts"), metavar="DIR",
                   help="artifacts folder: the record goes to DIR/gates/<UTC time>/ (default artifacts/)")


def gate_mode(base: Path, new: Path) -> str:
    """'runs' for two run folders / bench.json files, 'interleaved' for two manifests (files or
    artifacts folders); anything else, or one of each, is a UserError."""
    from convbench.core.errors import UserError
    from convbench.core.records import BENCH_FILE, MANIFEST_FILE

    def kind(path: Path) -> str:
        if path.is_dir():
            if (path / BENCH_FILE).is_file():
                return "runs"
            if (path / MANIFEST_FILE).is_file():
                return "interleaved"
            raise UserError(f"{path}: neither a run folder (no {BENCH_FILE}) nor an artifacts folder "
                            f"(no {MANIFEST_FILE})")
        return "interleaved" if path.name != BENCH_FILE and _is_manifest(path) else "runs"

    modes = {kind(Path(base)), kind(Path(new))}
    if len(modes) > 1:
        raise UserError(f"{base} and {new}: one is a run and the other a manifest; compare two runs "
                        "(between-runs mode) or two manifests (interleaved A/B mode)")
    return modes.pop()


def _is_manifest(path: Path) -> bool:
    import json

    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False  # the between-runs reader names the file and what is wrong with it
    return isinstance(doc, dict) and str(doc.get("schema", "")).startswith("convbench.manifest/")


def _gate_options(args, base: Path, change: Path, threshold: float):
    from convbench.benchmarks.abgate import GateOptions
    from convbench.benchmarks.interleave import InterleaveBudget
    from convbench.core.errors import UserError

    if not args.row_time > 0:
        raise UserError(f"--row-time {args.row_time}: must be > 0 seconds")
    return GateOptions(base=base, change=change, out=args.out, models=tuple(args.models),
                       variants=tuple(args.variants), max_latency_regression_pct=threshold,
                       max_accuracy_drop_pp=getattr(args, "max_accuracy_drop", 1.0), alpha=args.alpha,
                       budget=InterleaveBudget(row_time_s=args.row_time))


def _cmd_compare(args) -> int:
    from convbench.report.compare import INTERLEAVED_THRESHOLD_PCT, main_compare

    if gate_mode(args.baseline, args.new) == "runs":
        return main_compare(args)
    from convbench.benchmarks.abgate import run_interleaved
    from convbench.core.lock import folder_lock
    from convbench.report.interleaved import exit_code, print_interleaved

    threshold = INTERLEAVED_THRESHOLD_PCT if args.max_latency_regression is None else args.max_latency_regression
    options = _gate_options(args, args.baseline, args.new, threshold)
    with folder_lock(args.out, "compare"):  # no bench or optimize on these cores meanwhile
        run, path = run_interleaved(options)
    print_interleaved(run, path)
    return exit_code(run)


def _cmd_calibrate(args) -> int:
    from dataclasses import replace

    from convbench.benchmarks.calibrate import calibrate, print_calibration
    from convbench.core.lock import folder_lock

    # Both sides are the same files: their accuracies are equal by construction, so no accuracy pass.
    options = replace(_gate_options(args, args.manifest, args.manifest, args.max_latency_regression), accuracy=False)
    with folder_lock(args.out, "calibrate-gate"):
        calibration, path = calibrate(options, args.slowdown)
    print_calibration(calibration, path)
    return 0
