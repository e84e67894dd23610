"""The fleet commands: `convbench fleet ADDRESS` (the artifacts benchmarked on one node of each
machine type of a Ray cluster, every run stored, then the cross-machine report) and
`convbench fleet-report RUN RUN ...` (that report over run folders made anywhere)."""

from __future__ import annotations

from pathlib import Path

from convbench.cli.options import (add_accuracy_budget, add_bench_args, add_console_args, existing_path, folder,
                                   positive_seconds)


def add_save_arg(p) -> None:
    p.add_argument("--save", type=folder, metavar="DIR",
                   help="over several runs: also write the cross-machine report as cross-machine.md and "
                        "cross-machine.html into DIR (created)")


def add_cross_machine_args(p) -> None:
    """--price and --reference: the cross-machine report's (fleet, fleet-report, report RUN RUN ...)."""
    p.add_argument("--price", action="append", default=[], metavar="TYPE=USD_PER_HOUR",
                   help="a machine type's price per hour: the cross-machine report adds the cost per million "
                        "inferences (repeat per type; no price: no cost shown)")
    p.add_argument("--reference", metavar="TYPE", help="the machine type the ratios divide by (default: the first)")


def _add_report_args(p) -> None:
    add_cross_machine_args(p)
    add_accuracy_budget(p, "pick the cheapest and the fastest rows")


# Every machine times its latency rows in this many rounds, all machines at the same time, so that
# each machine's run-to-run spread is measured and the cross-machine ratios get an interval.
FLEET_REPEAT = 3


def register(sub) -> None:
    p = sub.add_parser("fleet", help="benchmark the artifacts on each machine type of a Ray cluster, store every "
                                     "run, and report which hardware to deploy on (needs the ray extra)")
    p.add_argument("address", metavar="ADDRESS", help="the Ray head's HOST:PORT (what `ray start --head` prints)")
    p.add_argument("--machine-types", nargs="+", metavar="TYPE",
                   help="machine types to benchmark (default: every type present: custom resources "
                        "machine-type:<TYPE> or the node label machine-type=<TYPE>)")
    p.add_argument("--accept-software-mismatch", action="store_true",
                   help="bench on nodes whose convbench or library versions differ from this one's (recorded in "
                        "each run's fleet.json)")
    p.add_argument("--timeout", type=positive_seconds, default=3600.0, metavar="S",
                   help="the whole fleet bench at most S seconds (default 3600); what has not finished is "
                        "cancelled and recorded as failed")
    p.add_argument("--out", type=folder, default=Path("artifacts"), metavar="DIR",
                   help="artifacts folder: manifest.json shipped, runs/ and the store filled (default artifacts/)")
    add_bench_args(p, default_repeat=FLEET_REPEAT)
    _add_report_args(p)
    add_console_args(p)
    p.set_defaults(handler=_cmd_fleet)

    p = sub.add_parser("fleet-report", help="the cross-machine report over run folders: p50 and ratio per machine, "
                                            "roofs, cost per million inferences, cheapest and fastest per model")
    p.add_argument("run_dirs", nargs="+", type=existing_path("run folder"), metavar="RUN_DIR",
                   help="run folders (two or more), e.g. the ones a fleet brought back")
    _add_report_args(p)
    add_save_arg(p)
    p.set_defaults(handler=_cmd_fleet_report)


# The `convbench bench` flags a node runs with, from the fleet's own (add_bench_args): option name -> flag.
_LISTS = ("models", "variants", "runtimes", "suites", "batches")
_VALUES = ("slo_ms", "target_qps", "scenario_queries", "scenario_seconds", "repeat")


def node_bench_args(args) -> list[str]:
    out = ["--quick"] if args.quick else ["--full"] if args.full else []
    for name in _LISTS:
        if getattr(args, name, None):
            out += [f"--{name}", *map(str, getattr(args, name))]
    if args.device != "cpu":
        out += ["--device", args.device]
    for name in _VALUES:
        if getattr(args, name) is not None and not (name == "repeat" and args.repeat == 1):
            out += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
    return out + (["--all-scenarios"] if args.all_scenarios else [])


def _cmd_fleet(args) -> int:
    from convbench.cli.options import bench_options
    from convbench.core.errors import UserError
    from convbench.core.lock import folder_lock
    from convbench.core.records import read_manifest
    from convbench.fleet.cluster import import_ray, split_address
    from convbench.fleet.compare import parse_prices
    from convbench.fleet.driver import FleetOptions, run_fleet
    from convbench.store.db import check_store

    # Everything checkable here is checked before the cluster is contacted.
    if args.mlflow:
        raise UserError("--mlflow: not with fleet; log each stored run with `convbench bench --mlflow` instead")
    prices = parse_prices(args.price)
    split_address(args.address)
    options = bench_options(args)
    from convbench.benchmarks.bench import validate_names

    validate_names(options, read_manifest(options.manifest_path))
    check_store(args.out)
    import_ray()
    fleet = FleetOptions(address=args.address, out=args.out, machine_types=tuple(args.machine_types or ()),
                         bench_args=tuple(node_bench_args(args)),
                         accept_software_mismatch=args.accept_software_mismatch, timeout_s=args.timeout,
                         models=options.models, scaling="scaling" in options.suite_list,
                         priced_types=(*prices, *([args.reference] if args.reference else [])))
    with folder_lock(args.out, "fleet"):
        result = run_fleet(fleet)
    print(f"fleet record: {result.folder}")
    if len(result.run_dirs) >= 2:
        _report(list(result.run_dirs.values()), prices, args.reference, args.accuracy_budget, result.folder)
    elif result.run_dirs:
        print("one machine type measured: no cross-machine report")
    return 1 if result.failed or any(m.bench_exit_status for m in result.record.machines) else 0


def _report(run_dirs: list[Path], prices: dict, reference: str | None, budget_pp: float,
            save: Path | None) -> None:
    from convbench.fleet.compare import build, load_side
    from convbench.fleet.printer import print_report, write_page

    shown = print_report(build([load_side(d) for d in run_dirs], prices, reference, budget_pp))
    if save is not None:
        print("cross-machine report: " + ", ".join(map(str, write_page(shown, save))))


def cross_machine_report(run_dirs: list[Path], price: list[str], reference: str | None, budget_pp: float,
                         save: Path | None = None) -> int:
    from convbench.fleet.compare import parse_prices

    _report(run_dirs, parse_prices(price), reference, budget_pp, save)
    return 0


def _cmd_fleet_report(args) -> int:
    return cross_machine_report(args.run_dirs, args.price, args.reference, args.accuracy_budget, args.save)
