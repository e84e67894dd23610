"""The cross-machine report's figures on two runs built in memory: ratios to the reference, the
throughput each cost comes from (the Server scenario's max QPS where it ran, else the best
batch), cost per million inferences from prices, and the cheapest and fastest rows within the
accuracy budget; no price, no cost."""

from __future__ import annotations

import pytest

from convbench.core.errors import UserError
from convbench.core.records import ScenarioResult
from convbench.fleet.compare import Side, build
from tests.support.reportdata import M5, lat, run_of


def _sides() -> list[Side]:
    slow = run_of([lat("tflite_fp32", 0.2, fraction=0.4), lat("tflite_fp32", 0.8, batch=8, fraction=0.5),
                   lat("tflite_int8", 0.05, 0.95),   # 3 pp below fp32's 98 %: outside a 1 pp budget
                   lat("tflite_fp32", 0.001, None, runtime="null")], cpu_flags={"avx2": True})
    server = ScenarioResult(model=M5, variant="tflite_fp32", format="tflite_fp32", runtime="litert", device="cpu",
                            batch=1, threads=1, metric="server_plain", scenario="server", slo_ms=5.0, valid=True,
                            max_qps=20000.0)
    fast = run_of([lat("tflite_fp32", 0.1, fraction=0.8), lat("tflite_fp32", 1.6, batch=8, fraction=0.25), server],
                  cpu_flags={"avx512f": True})
    return [Side("zen2", slow, None), Side("zen5", fast, None)]


def test_costs_come_from_the_best_measured_throughput_and_the_prices():
    report = build(_sides(), {"zen2": 0.36, "zen5": 1.44}, None, budget_pp=1.0)
    (b1,) = [r for r in report.rows if (r.row.batch, r.row.variant, r.row.runtime) == (1, "tflite_fp32", "litert")]
    assert b1.ratio(1, 0) == pytest.approx(0.5) and b1.fraction_of_roof == [0.4, 0.8]
    offers = {(o.side, o.variant): o for o in report.offers}
    assert "null" not in {o.runtime for o in report.offers}   # the harness alone: nothing to deploy
    zen2, zen5 = offers[(0, "tflite_fp32")], offers[(1, "tflite_fp32")]
    # zen2: batch 8 at 0.8 ms = 10,000 items/s; $0.36/h / 3600 s / 10,000/s * 1e6 = $0.01 per million.
    assert zen2.items_per_s == pytest.approx(10000) and zen2.basis.startswith("best batch's items/s (b8 t1")
    assert zen2.usd_per_million == pytest.approx(0.01)
    # zen5: the Server scenario's 20,000 QPS within the p99 bound, though its batch 1 gives 10,000/s.
    assert zen5.items_per_s == 20000 and zen5.basis.startswith("Server max QPS within p99 5 ms")
    assert zen5.usd_per_million == pytest.approx(0.02)
    (choice,) = report.choices
    assert (choice.cheapest.side, choice.cheapest.variant) == (0, "tflite_fp32")
    side, row = choice.fastest   # int8 on zen2 is faster still, but 3 pp less accurate
    assert (side, row.variant, row.stats.p50_ms) == (1, "tflite_fp32", pytest.approx(0.1))
    assert report.same_machine == []


def test_no_price_no_cost_and_the_reference_is_chosen_by_type():
    report = build(_sides(), {}, "zen5", budget_pp=1.0)
    assert report.reference == 1 and not report.priced
    assert all(o.usd_per_million is None for o in report.offers)
    assert report.choices[0].cheapest is None and report.choices[0].why_no_cheapest.startswith("no price given")
    with pytest.raises(UserError, match="--reference 'arm': no such machine type among the runs"):
        build(_sides(), {}, "arm", budget_pp=1.0)
    with pytest.raises(UserError, match="--price for 'arm'"):
        build(_sides(), {"arm": 1.0}, None, budget_pp=1.0)


def test_two_runs_of_one_machine_are_said_to_be_one():
    zen2, _ = _sides()
    report = build([zen2, Side("zen2-again", zen2.run, None)], {}, None, budget_pp=1.0)
    assert report.same_machine == [(0, 1)]


def _rounds_side(label: str, rounds_by_variant: dict[str, list[float]]) -> Side:
    rows = [lat(v, sorted(r)[len(r) // 2], repeat_p50_ms=r) for v, r in rounds_by_variant.items()]
    return Side(label, run_of(rows), None)


def test_ratios_over_rounds_are_called_distinguishable_only_beyond_the_spread():
    # Each machine's rounds span ~5 %; int8 is 2x slower on b, fp32 the same within its rounds.
    a = _rounds_side("a", {"tflite_fp32": [0.100, 0.103, 0.105, 0.101, 0.104],
                           "tflite_int8": [0.050, 0.052, 0.051, 0.0525, 0.0505]})
    b = _rounds_side("b", {"tflite_fp32": [0.102, 0.100, 0.104, 0.105, 0.101],
                           "tflite_int8": [0.100, 0.104, 0.102, 0.105, 0.101]})
    report = build([a, b], {}, None, budget_pp=1.0)
    assert all(s == pytest.approx(1.05, abs=0.01) for s in report.spreads)
    told = {r.row.variant: per[0] for r, per in zip(report.rows, report.intervals())}
    fp32, int8 = told["tflite_fp32"], told["tflite_int8"]
    assert fp32[0].ci_low <= 1 <= fp32[0].ci_high and fp32[1] is False
    assert int8[0].ratio == pytest.approx(2.0, rel=0.05) and int8[1] is True
    # One round on a side: a plain ratio, no verdict.
    one = build([_sides()[0], _sides()[1]], {}, None, budget_pp=1.0)
    assert all(per == [(None, None)] for per in one.intervals()) and one.spreads == [None, None]


def test_the_fastest_machine_is_said_to_be_within_noise_of_the_others_where_it_is():
    same = {"tflite_fp32": [0.100, 0.103, 0.105, 0.101, 0.104]}
    a, b = _rounds_side("a", same), _rounds_side("b", {"tflite_fp32": [0.102, 0.100, 0.104, 0.105, 0.101]})
    (choice,) = build([a, b], {}, None, budget_pp=1.0).choices
    assert choice.not_distinguishable == [1 - choice.fastest[0]]   # b's p50 0.102 ms, a's 0.103: noise
    slow = _rounds_side("c", {"tflite_fp32": [0.200, 0.206, 0.210, 0.202, 0.208]})
    (choice,) = build([slow, a], {}, None, budget_pp=1.0).choices
    assert choice.fastest[0] == 1 and choice.not_distinguishable == []
    (choice,) = build(_sides(), {}, None, budget_pp=1.0).choices   # one round each: no verdict either way
    assert choice.not_distinguishable is None


def test_report_over_several_run_folders_is_the_cross_machine_report(tmp_path, capsys):
    from convbench.cli import main
    from tests.support.factories import write_run

    a, b = _rounds_side("a", {"tflite_fp32": [0.1, 0.11, 0.1]}), _rounds_side("b", {"tflite_fp32": [0.2, 0.21, 0.2]})
    folders = [write_run(tmp_path / s.label, s.run) for s in (a, b)]
    saved = tmp_path / "saved"
    assert main(["report", *map(str, folders), "--price", f"machine-{a.machine_id[:8]}=0.5", "--save",
                 str(saved)]) == 0
    printed = capsys.readouterr().out
    assert "cross-machine report" in printed and "$ per million" in printed
    # The same page as files: Markdown tables and a self-contained HTML page, nothing half-written.
    md, html = (saved / "cross-machine.md").read_text(), (saved / "cross-machine.html").read_text()
    assert md.startswith("# cross-machine report (reference: m0") and "| row | m0 p50 ms |" in md
    assert "$ per million" in md and "one physical machine" in md
    assert html.startswith("<!doctype html>") and html.count("<table") == 2 and "$ per million" in html
    assert sorted(p.name for p in saved.iterdir()) == ["cross-machine.html", "cross-machine.md"]
    assert main(["report", str(folders[0]), "--price", "x=1"]) == 2
    assert "--price, --reference and --save: only for the cross-machine report" in capsys.readouterr().err
