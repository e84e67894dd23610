"""The recommendation: per device and model, the fastest (batch-1 p50, one thread: each file's
speed on one core) and the smallest (gzip bytes, the download) row whose accuracy, measured by
that row's own runtime, device and threads, is within a budget of the trained fp32 model's.
"Fastest" is picked by a stated rule among the rows whose speed cannot be told apart from the
lowest median (ties.py), so that noise does not decide it. A row that measured no accuracy is
never recommended."""

from __future__ import annotations

import math
from dataclasses import dataclass

from convbench.core.errors import UserError
from convbench.core.records import (BenchRun, LatencyResult, ModelRecommendation, Recommendation, RecommendedRow,
                                    TiedRow)
from convbench.report.rows import accuracy_drop_pp, model_rows, one_core
from convbench.report.ties import SIZE_RULE, TIE_RULE, SpeedTies, speed_ties

# The report's one accuracy budget (`--accuracy-budget`): the recommendation and the notes' verdicts.
DEFAULT_BUDGET_PP = 1.0


def check_budget(option: str, budget_pp: float) -> float:
    if not (isinstance(budget_pp, (int, float)) and math.isfinite(budget_pp) and budget_pp >= 0):
        raise UserError(f"{option} {budget_pp!r}: expected a number of percentage points >= 0")
    return float(budget_pp)


def recommend(run: BenchRun, budget_pp: float) -> Recommendation:
    budget_pp = check_budget("--accuracy-budget", budget_pp)
    out = Recommendation(accuracy_budget_pp=budget_pp, tie_rule=TIE_RULE, size_rule=SIZE_RULE)
    rows = model_rows(run.latency)
    for device in sorted({r.device for r in rows}):
        for model in sorted({r.model for r in rows if r.device == device}):
            mine = [r for r in rows if (r.device, r.model) == (device, model)]
            picked = _pick(run, model, mine, budget_pp)
            target = out.devices if isinstance(picked, ModelRecommendation) else out.not_recommended
            target.setdefault(device, {})[model] = picked
    return out


@dataclass(frozen=True)
class Picks:
    """One device and model's picks: the speed ties with their pick, the smallest download."""

    ties: SpeedTies
    smallest: LatencyResult | None     # None where no row's gzip size is known

    @property
    def fastest(self) -> LatencyResult:
        return self.ties.pick


def pick_rows(run: BenchRun, model: str, rows: list[LatencyResult], budget_pp: float) -> Picks | str:
    """The picks among one device and model's rows within the budget, or why there are none."""
    fp32 = run.fp32_accuracy(model)
    if fp32 is None:
        return "the trained model's fp32 accuracy is unknown (no manifest snapshot or no trained record)"
    measured = [r for r in rows if r.accuracy is not None]
    if not measured:
        return "no row measured accuracy"
    ok = [r for r in measured if accuracy_drop_pp(fp32, r.accuracy) <= budget_pp]
    batch1 = one_core([r for r in ok if r.batch == 1])
    if not batch1:
        return f"no batch-1 row with measured accuracy within {budget_pp:g} pp of fp32 ({fp32:.1%})"
    sized = [r for r in ok if _gzip_bytes(run, r) is not None]
    smallest = min(sized, key=lambda r: (_gzip_bytes(run, r), run.artifact(r).bytes or 0, r.batch, r.stats.p50_ms,
                                         r.label), default=None)
    return Picks(speed_ties(run, batch1), smallest)


def _pick(run: BenchRun, model: str, rows: list[LatencyResult], budget_pp: float) -> ModelRecommendation | str:
    """The recommendation for one device and model, or why there is none."""
    picked = pick_rows(run, model, rows, budget_pp)
    if isinstance(picked, str):
        return picked
    fp32 = run.fp32_accuracy(model)
    ties = [TiedRow(variant=t.row.variant, format=t.row.format, runtime=t.row.runtime, threads=t.row.threads,
                    p50_ms=t.row.stats.p50_ms, ratio=t.ratio.ratio, ratio_low=t.ratio.ci_low,
                    ratio_high=t.ratio.ci_high) for t in picked.ties.tied]
    return ModelRecommendation(fp32_accuracy=fp32, fastest=_picked(run, picked.fastest, fp32), speed_ties=ties,
                               smallest=None if picked.smallest is None else _picked(run, picked.smallest, fp32))


def _gzip_bytes(run: BenchRun, row) -> int | None:
    artifact = run.artifact(row)
    return artifact.gzip_bytes if artifact else None


def _picked(run: BenchRun, row: LatencyResult, fp32: float) -> RecommendedRow:
    artifact = run.artifact(row)
    tuned = run.manifest.fine_tuning_steps(row.model, row.variant) if run.manifest else 0
    return RecommendedRow(variant=row.variant, format=row.format, runtime=row.runtime, batch=row.batch,
                          threads=row.threads, p50_ms=row.stats.p50_ms, accuracy=row.accuracy,
                          accuracy_drop_pp=accuracy_drop_pp(fp32, row.accuracy),
                          bytes=artifact.bytes if artifact else None,
                          gzip_bytes=artifact.gzip_bytes if artifact else None,
                          fine_tuning_steps=tuned)
