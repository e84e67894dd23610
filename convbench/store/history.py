"""The figure of `convbench history`: one metric of stored runs, run after run, one line per
row, each run labelled by its commit."""

from __future__ import annotations

from collections import defaultdict

from convbench.core.records.results import cpu_name
from convbench.report.figures import png, subplots
from convbench.store.queries import History


def commit_label(git_commit: str | None, dirty: bool) -> str:
    return f"{(git_commit or 'no-git')[:8]}{'+' if dirty else ''}"


def history_png(h: History) -> bytes:
    runs = list(dict.fromkeys(run.run_id for run, _ in h.points))   # oldest first
    labels = {run.run_id: f"{commit_label(run.git_commit, run.git_dirty)}\n{run.started[:16]}" for run, _ in h.points}
    series: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for run, result in h.points:
        series[result.label].append((runs.index(run.run_id), getattr(result, h.metric)))
    fig, ax = subplots(figsize=(max(5.0, 1.3 * len(runs) + 3), 3.8))
    for name, xy in sorted(series.items()):
        ax.plot([x for x, _ in xy], [y for _, y in xy], marker="o", label=name)
    ax.set_xticks(range(len(runs)), [labels[r] for r in runs], fontsize=7)
    ax.set_ylabel(h.metric)
    ax.set_ylim(bottom=0)  # from zero: a 2 % wobble should look like one
    cpu = cpu_name(h.machine.cpu_model, h.machine.cpu_id)
    ax.set_title(f"{h.metric} by run, {cpu} ({h.machine.machine_id})", fontsize=9)
    ax.legend(fontsize=7, loc="best")
    ax.grid(alpha=0.3)
    return png(fig)
