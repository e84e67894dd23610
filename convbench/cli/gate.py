"""The regression gate's command: convbench compare BASELINE NEW."""

from __future__ import annotations


def register(sub) -> None:
    from convbench.report.compare import add_compare_arguments, main_compare

    p = sub.add_parser("compare", help="regression gate: compare two runs (exit 1 on a regression)")
    add_compare_arguments(p)
    p.set_defaults(handler=main_compare)
