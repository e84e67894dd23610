"""One accuracy budget per report: `--accuracy-budget` decides the recommendation and the notes'
verdicts alike (a loss within it agrees with a claim, beyond it contradicts)."""

from __future__ import annotations

from convbench.report import notes
from convbench.report.model import build_model
from tests.support.reportdata import M4, M5, artifact, full_run, run_of


def test_a_non_default_budget_changes_the_compression_notes_verdict():
    run = run_of([], [artifact("tflite_fp32", 4000), artifact("tflite_int8", 1000, 0.975)])   # loses 0.5 pp
    assert notes.model_compression(run).contradicted == []                                  # default 1 pp
    assert notes.model_compression(run, budget_pp=0.25).contradicted == [f"{M5}: int8 loses 0.5 pp"]
    assert any("accuracy budget, 0.25 pp" in line for line in notes.model_compression(run, budget_pp=0.25).lines)


def test_a_non_default_budget_changes_the_fine_tuning_notes_verdict():
    run = run_of([], [artifact("pruned_80", 10, 0.97, finetune_seconds=3.0)])   # fp32 0.98: loses 1.0 pp
    assert notes.model_parameter_optimization(run).contradicted == []
    tight = notes.model_parameter_optimization(run, budget_pp=0.5)
    assert tight.contradicted == [f"{M5}: pruned_80 loses 1.0 pp despite fine-tuning"]
    assert "accuracy budget, 0.5 pp" in tight.lines[0]


def test_the_report_judges_its_notes_with_the_recommendations_budget():
    def compression(budget):
        report = build_model(full_run(), budget)
        note = next(n for n in report.notes if n.title == "Model compression")
        return report.recommendation.accuracy_budget_pp, note.contradicted

    # lesson5's int8 file loses 0.5 pp; lesson4's loses 48 pp whatever the budget
    assert compression(1.0) == (1.0, [f"{M4}: int8 loses 48.0 pp"])
    assert compression(0.25) == (0.25, [f"{M4}: int8 loses 48.0 pp", f"{M5}: int8 loses 0.5 pp"])
