"""One progress display per stage (train, optimize, bench): a tqdm bar with counts, rate and ETA
on a terminal; where the console is a log (CI, a pipe), one plain line per finished group
instead of a bar redrawn into the log. It writes to the terminal also while the process's
stderr goes to the library log (quiet.user_stream)."""

from __future__ import annotations

import time

from convbench.core import quiet


class Progress:
    def __init__(self, total: int, desc: str, unit: str, enabled: bool = True):
        from tqdm.auto import tqdm

        self.desc, self.started = desc, time.perf_counter()
        self.enabled = enabled
        self.bar = tqdm(total=total, desc=desc, unit=unit, file=quiet.user_stream(), dynamic_ncols=True,
                        disable=None if enabled else True)   # None: a bar only on a terminal

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.bar.close()

    @property
    def elapsed_s(self) -> float:
        return time.perf_counter() - self.started

    def total(self, total: int) -> None:
        self.bar.reset(total=total)

    def advance(self, label: str, n: int = 1) -> None:
        self.bar.set_postfix_str(label, refresh=False)
        self.bar.update(n)

    def finished(self, what: str) -> None:
        """A group is done (a model's job, a suite): a line where there is no bar to show it."""
        if self.bar.disable and self.enabled:
            print(f"{self.desc}: {what} at {self.elapsed_s:.0f} s", file=quiet.user_stream(), flush=True)
