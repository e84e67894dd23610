"""The command line of a child Python process that runs convbench code."""

from __future__ import annotations

import sys


def child_python(*args: str) -> list[str]:
    """This interpreter with -P, then `args`: the child imports convbench (and everything else)
    from the install, never from a `convbench/` folder in its working directory (another
    checkout, say), which `python -m` and `python -c` would put first on sys.path."""
    return [sys.executable, "-P", *args]
