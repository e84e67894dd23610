"""The `convbench` command. Each module here registers one group of subcommands; they import
TensorFlow & co. only when they run, so `convbench --help` stays fast. Every option goes through
a typed converter (options.py), so a bad value is one `convbench: error:` line and exit 2 before
any command starts."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

from convbench.core.errors import UserError

# Each module has register(subparsers): add a command group by adding its module here.
COMMAND_GROUPS = ("stages", "gate", "results", "inspect", "fleet")


def build_parser() -> argparse.ArgumentParser:
    import importlib

    from convbench.cli.options import Parser

    parser = Parser(
        prog="convbench",
        description="Train the Kaggle Computer Vision lesson convnets once, compress them, and "
                    "benchmark latency, memory and accuracy across runtimes.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in COMMAND_GROUPS:
        importlib.import_module(f"convbench.cli.{group}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from convbench.cli.options import usage_error
    from convbench.core import quiet
    from convbench.core.workers import WorkerDied

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except argparse.ArgumentError as exc:   # a bad command line: nothing has started
        print(f"convbench: error: {usage_error(exc)}", file=quiet.user_stream())
        return 2
    quiet.configure(getattr(args, "verbose", False))   # before anything imports TensorFlow
    log = library_log(args)
    with quiet.library_output_to(log):
        err = quiet.user_stream()
        try:
            rc = args.handler(args)
        except UserError as exc:
            print(f"convbench: error: {exc}", file=err)
            return 2
        except WorkerDied as exc:
            print(f"convbench: error: {exc}", file=err)
            _print_tail(log, err)
            return 1
        except KeyboardInterrupt:
            print("convbench: interrupted; finished artifacts are intact, partial ones were removed", file=err)
            return 130
    if log and log.is_file() and log.stat().st_size:
        print(f"library output (TensorFlow, converters): {log}; --verbose shows it on the console")
    return rc


def library_log(args) -> Path | None:
    """Where this command's library output goes: <out>/logs/<UTC time>-<command>.log for the
    commands that load TensorFlow or a runtime (`inspect layers`: ...-inspect-layers.log);
    `report` writes report.log into the run folder it reads (beside a bench.json named itself);
    over several runs (the cross-machine report, no TensorFlow) none."""
    if getattr(args, "command", None) == "report":
        if len(args.runs) != 1:
            return None
        (run,) = args.runs
        folder = run if run.is_dir() else run.parent if run.is_file() else None
        return folder / "report.log" if folder else None
    out = getattr(args, "out", None)
    if out is None:
        return None
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    name = "-".join(filter(None, (args.command, getattr(args, "inspect", None))))
    return Path(out) / "logs" / f"{stamp}-{name}.log"


def _print_tail(log: Path | None, err) -> None:
    from convbench.core import quiet

    lines = quiet.tail(log)
    if lines:
        print(f"last lines of {log}:", *(f"  {t}" for t in lines), sep="\n", file=err)


if __name__ == "__main__":
    sys.exit(main())
