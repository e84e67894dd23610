"""The `convbench` command. Each module here registers one group of subcommands; they import
TensorFlow & co. only when they run, so `convbench --help` stays fast."""

from __future__ import annotations

import argparse
import sys

from convbench.errors import UserError

# Each module has register(subparsers): add a command group by adding its module here.
COMMAND_GROUPS = ("stages", "gate", "results")


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = argparse.ArgumentParser(
        prog="convbench",
        description="Train the Kaggle Computer Vision lesson convnets once, compress them, and "
                    "benchmark latency, memory and accuracy across runtimes.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in COMMAND_GROUPS:
        importlib.import_module(f"convbench.cli.{group}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from convbench.workers import WorkerDied

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except UserError as exc:
        print(f"convbench: error: {exc}", file=sys.stderr)
        return 2
    except WorkerDied as exc:
        print(f"convbench: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("convbench: interrupted; finished artifacts are intact, partial ones were removed", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
