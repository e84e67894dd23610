"""A row's identity: what names one benchmark row across runs, commits and machines. Defined
here once; the matrix's rows, the result records, the store, the gate and the report read it."""

from __future__ import annotations

from dataclasses import dataclass, replace

AUTO_THREADS = "auto"   # the runtime's own default thread count


def threads_label(threads: int | None) -> str:
    return AUTO_THREADS if threads is None else str(threads)


@dataclass(frozen=True)
class RowId:
    """The coordinates of a row: which artifact (model, variant, format), where and how it ran
    (runtime, device, batch, threads), and, for the rows that have them, what was measured
    (an audit's metric) and at which input side (scaling rows). A pipeline row names its
    pipeline as the variant and its simulated consumer as the format."""

    kind: str                          # the result record's kind: latency, memory, audit, scaling_latency, ...
    model: str
    variant: str
    format: str
    runtime: str
    device: str
    batch: int
    threads: str                       # threads_label(): a count, or "auto"
    metric: str = ""                   # audit: caching | harness_overhead
    side: int | None = None            # scaling: input side in pixels

    @property
    def label(self) -> str:
        """`[metric ]model/variant/format[ Npx] runtime device bN tT`: how every table names a row."""
        what = "/".join(v for v in (self.model, self.variant, self.format) if v)
        side = f" {self.side}px" if self.side else ""
        where = "".join(f" {v}" for v in (self.runtime, self.device) if v)
        threads = f" t{self.threads}" if self.threads else ""
        metric = f"{self.metric} " if self.metric else ""
        batch = f" b{self.batch}" if self.batch else ""   # any_batch(): none
        return f"{metric}{what}{side}{where}{batch}{threads}"

    @property
    def text(self) -> str:
        """One string, unique within a run: the results store's row key."""
        return "|".join(str(v) for v in (self.kind, self.metric or "-", self.model, self.variant, self.format,
                                          self.side or "-", self.runtime, self.device, self.batch, self.threads))

    def any_batch(self) -> RowId:
        """The same row at every batch: accuracy is measured once per session, whatever the batch."""
        return replace(self, batch=0)

    def any_threads(self) -> RowId:
        """The same row at every thread count: one file, run the same way but for its threads."""
        return replace(self, threads="")

    def sort_key(self) -> tuple:
        return (self.kind, self.model, self.variant, self.format, self.side or 0, self.runtime, self.device,
                self.batch, self.threads, self.metric)
