"""The results store (DuckDB) on runs written from the typed records: import is idempotent and
all-or-nothing, a foreign or corrupt file changes nothing, `history` follows one machine over
commits, `machines` sets the same artifact files side by side, the CLI exits 2 with one line."""

from __future__ import annotations

import shutil

import duckdb
import pytest
from tests.support.factories import latency_bench, memory_bench, samples, write_run

from convbench.cli import main
from convbench.core.errors import UserError
from convbench.core.records import MachineInfo
from convbench.store import rows as store_rows
from convbench.store.db import connect, import_runs
from convbench.store.queries import compare_machines, history, list_runs

FP32 = "lesson5_custom", "tflite_fp32", "tflite_fp32", "litert", "cpu", 1, 1
INT8 = "lesson5_custom", "tflite_int8", "tflite_int8", "litert", "cpu", 1, 1
ZEN = {"avx2": True, "avx512f": False}
AVX512 = {"avx2": True, "avx512f": True}


def run_at(folder, commit, fp32_ms, started, cpu_flags=ZEN, int8_sha="i" * 64, cpu_id=None, fp32_roof=100.0):
    return write_run(folder, [latency_bench(FP32, samples(1, fp32_ms, 0.001), sha256="f" * 64, fraction_of_roof=0.2,
                                            roof_gflops=fp32_roof, roof_precision="fp32"),
                              latency_bench(INT8, samples(2, 0.5, 0.001), sha256=int8_sha), memory_bench()],
                     git_commit=commit, started=started, cpu_flags=cpu_flags, cpu_id=cpu_id)


def counts(store) -> tuple[int, int, int]:
    with connect(store) as con:
        return tuple(con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("machines", "runs", "results"))


def test_import_is_idempotent_and_a_moved_copy_is_the_same_run(tmp_path):
    store = tmp_path / "results.duckdb"
    run = run_at(tmp_path / "a", "c1" * 20, 1.0, "2026-01-01T00:00:00")
    (first,) = import_runs(store, [run])
    assert not first.already_stored and first.rows == 3 and counts(store) == (1, 1, 3)
    copy = shutil.copytree(run, tmp_path / "elsewhere" / "a")
    again = import_runs(store, [run, copy])
    assert [d.already_stored for d in again] == [True, True] and {d.run_id for d in again} == {first.run_id}
    assert counts(store) == (1, 1, 3)
    with connect(store) as con:
        ((stored, machine),) = list_runs(con)
    assert stored.git_commit == "c1" * 20 and stored.rows == 3 and machine.cpu_model == "Test CPU"


def test_a_corrupt_or_foreign_file_changes_nothing(tmp_path):
    store = tmp_path / "results.duckdb"
    import_runs(store, [run_at(tmp_path / "a", "c1", 1.0, "2026-01-01T00:00:00")])
    before = counts(store)
    good = run_at(tmp_path / "b", "c2", 1.0, "2026-01-02T00:00:00")
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "bench.json").write_text('{"benchmarks": [')
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "bench.json").write_text('{"benchmarks": [{"name": "x", "stats": {"data": [0.1]}}]}')
    for bad in (corrupt, foreign):
        with pytest.raises(UserError, match=str(bad)):
            import_runs(store, [good, bad])  # the good one first: it must not be stored either
        assert counts(store) == before


def test_a_failure_midway_rolls_the_whole_import_back(tmp_path, monkeypatch):
    store = tmp_path / "results.duckdb"
    import_runs(store, [run_at(tmp_path / "a", "c1", 1.0, "2026-01-01T00:00:00")])
    real, calls = store_rows.stored_result, []

    def fails_on_the_second_row(identity, result):
        calls.append(result)
        if len(calls) == 2:
            raise OSError("disk full")
        return real(identity, result)

    monkeypatch.setattr("convbench.store.db.stored_result", fails_on_the_second_row)
    with pytest.raises(OSError):
        import_runs(store, [run_at(tmp_path / "b", "c2", 1.0, "2026-01-02T00:00:00", cpu_flags=AVX512)])
    assert counts(store) == (1, 1, 3)  # neither the new machine, nor the run, nor its first row


def test_a_file_that_is_not_a_store_is_refused(tmp_path):
    text = tmp_path / "notes.duckdb"
    text.write_text("not a database\n")
    other = tmp_path / "other.duckdb"
    with duckdb.connect(str(other)) as con:
        con.execute("CREATE TABLE t (x INT)")
    for path in (text, other):
        with pytest.raises(UserError, match=str(path)):
            import_runs(path, [run_at(tmp_path / path.stem, "c1", 1.0, "2026-01-01T00:00:00")])
    assert text.read_text() == "not a database\n"
    with pytest.raises(UserError, match="no results store"):
        with connect(tmp_path / "missing.duckdb"):
            pass


def test_history_follows_one_machine_over_commits(tmp_path):
    store = tmp_path / "results.duckdb"
    import_runs(store, [run_at(tmp_path / f"r{i}", f"c{i}", ms, f"2026-01-0{i + 1}T00:00:00")
                        for i, ms in enumerate((1.0, 1.1, 0.9))])
    import_runs(store, [run_at(tmp_path / "other", "c9", 0.4, "2026-01-09T00:00:00", cpu_flags=AVX512)])
    filters = dict(model="lesson5_custom", variant="tflite_fp32")
    with connect(store) as con:
        newest = history(con, "p50_ms", filters)
        zen_id = MachineInfo(cpu_model="Test CPU", logical_cores=2, usable_cores=2, physical_cores=1, ram_gib=4.0,
                             cpu_flags=ZEN).fingerprint
        zen = history(con, "p50_ms", filters, machine=zen_id[:6])
    assert [run.git_commit for run, _ in newest.points] == ["c9"] and len(newest.other_machines) == 1
    assert [run.git_commit for run, _ in zen.points] == ["c0", "c1", "c2"]
    assert [round(res.p50_ms, 2) for _, res in zen.points] == [1.0, 1.1, 0.9]

    plot = tmp_path / "h.png"
    assert main(["history", "p50_ms", "--model", "lesson5_custom", "--variant", "tflite_fp32", "--machine",
                 zen_id, "--store", str(store), "--plot", str(plot)]) == 0
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_machines_sets_the_same_files_side_by_side(tmp_path, capsys):
    store = tmp_path / "results.duckdb"
    import_runs(store, [run_at(tmp_path / "zen", "c1", 1.0, "2026-01-01T00:00:00")])
    with connect(store) as con, pytest.raises(UserError, match="runs of 1 machine"):
        compare_machines(con, [], {})
    # The other machine built its own int8 file: a different artifact, not compared.
    import_runs(store, [run_at(tmp_path / "avx512", "c1", 0.5, "2026-01-02T00:00:00", cpu_flags=AVX512,
                               int8_sha="j" * 64, fp32_roof=250.0)])
    with connect(store) as con:
        c = compare_machines(con, [], {})
    assert len(c.runs) == 2 and c.other_artifacts == 1 and c.not_everywhere == 0
    ((ref, other),) = c.rows
    assert (ref.variant, round(other.p50_ms / ref.p50_ms, 2)) == ("tflite_fp32", 0.5)
    # Grouped by runtime and roof precision, beside what the two roofs alone predict (100 / 250).
    (group,) = c.groups()
    assert (group.runtime, group.precision, group.side, group.rows) == ("litert", "fp32", 1, 1)
    assert (round(group.median_ratio, 2), group.roofs_ratio) == (0.5, 0.4)
    assert main(["machines", "--store", str(store)]) == 0
    out = capsys.readouterr().out
    assert "0.50x" in out and "1 row(s) whose files differ" in out and "20.0" in out and "0.40x" in out


def test_machines_compares_run_folders_without_a_store(tmp_path, capsys):
    zen = run_at(tmp_path / "zen", "c1", 1.0, "2026-01-01T00:00:00")
    avx512 = run_at(tmp_path / "avx512", "c1", 0.5, "2026-01-02T00:00:00", cpu_flags=AVX512, fp32_roof=250.0)
    # The first folder named is the reference, whatever the dates.
    assert main(["machines", str(avx512), str(zen), "--variant", "tflite_fp32"]) == 0
    out = capsys.readouterr().out
    assert "2.00x" in out and "1 row(s) with the same artifact file" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["avx512", "zen"]   # no store left anywhere
    assert main(["machines", str(zen)]) == 2
    assert "name at least two run folders" in capsys.readouterr().err
    assert main(["machines", str(zen), str(avx512), "--runs", "abc"]) == 2
    assert "not both" in capsys.readouterr().err


def test_machines_says_when_two_ids_may_be_one_machine(tmp_path, capsys):
    """A run recorded before convbench read the CPU's family/model/stepping hashes its flags
    instead: the same machine under two ids. `machines` cannot know, so it says so; a machine
    that records another family is simply another machine."""
    store = tmp_path / "results.duckdb"
    zen5 = "vendor_id AuthenticAMD, cpu family 26, model 2, stepping 1"
    import_runs(store, [run_at(tmp_path / "old", "c1", 1.0, "2026-01-01T00:00:00"),
                        run_at(tmp_path / "new", "c2", 1.0, "2026-01-02T00:00:00", cpu_id=zen5)])
    assert main(["machines", "--store", str(store)]) == 0
    out = capsys.readouterr().out
    assert "Test CPU (AuthenticAMD, family 26, model 2, stepping 1)" in out
    assert "m0 and m1 may be the same machine" in out

    zen2 = zen5.replace("family 26, model 2, stepping 1", "family 23, model 49, stepping 0")
    import_runs(store, [run_at(tmp_path / "zen2", "c2", 2.0, "2026-01-03T00:00:00", cpu_id=zen2)])
    with connect(store) as con:
        ids = {r.source.rsplit("/", 1)[-1]: r.run_id for r, _ in list_runs(con)}
        c = compare_machines(con, [ids["new"], ids["zen2"]], {})
    assert c.maybe_same == [] and round(c.rows[0][1].p50_ms / c.rows[0][0].p50_ms, 1) == 2.0


def test_cli_import_twice_and_bad_input(tmp_path, capsys):
    store = tmp_path / "s" / "results.duckdb"
    run = run_at(tmp_path / "a", "c1", 1.0, "2026-01-01T00:00:00")
    assert main(["import", str(run), "--store", str(store)]) == 0
    assert main(["import", str(run), "--store", str(store)]) == 0
    out = capsys.readouterr().out
    assert "stored 3 rows" in out and "already stored" in out
    assert main(["runs", "--store", str(store)]) == 0 and "1 run(s)" in capsys.readouterr().out
    assert main(["import", str(tmp_path / "nope"), "--store", str(store)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(tmp_path / "nope") in err
    assert main(["history", "accuracy", "--model", "nope", "--variant", "x", "--store", str(store)]) == 2
    assert "no stored result" in capsys.readouterr().err


def test_machine_fingerprint_is_hardware_and_os_only():
    base = dict(cpu_model="AMD EPYC", logical_cores=2, usable_cores=2, physical_cores=1, cpu_flags=ZEN,
                os_name="Debian GNU/Linux 12 (bookworm)")
    same = MachineInfo(**base, ram_gib=23.40, platform="Linux-6.1", python="3.11.7")
    assert same.fingerprint == MachineInfo(**base, ram_gib=23.45, platform="Linux-6.2", python="3.11.9").fingerprint
    assert same.fingerprint != MachineInfo(**{**base, "cpu_flags": AVX512}, ram_gib=23.40).fingerprint
    assert same.fingerprint != MachineInfo(**base, ram_gib=23.40, gpu_name="NVIDIA H100", gpu_driver="550").fingerprint
    # Where family/model/stepping are known they name the CPU: a convbench that records one more
    # flag is still on the same machine; the same "AMD EPYC" name on another family is not.
    zen5 = dict(base, cpu_id="vendor_id AuthenticAMD, cpu family 26, model 2, stepping 1")
    one_more_flag = dict(zen5, cpu_flags={**ZEN, "avx512_fp16": False})
    assert MachineInfo(**zen5, ram_gib=23.4).fingerprint == MachineInfo(**one_more_flag, ram_gib=23.4).fingerprint
    zen2 = dict(zen5, cpu_id="vendor_id AuthenticAMD, cpu family 23, model 49, stepping 0")
    assert MachineInfo(**zen5, ram_gib=23.4).fingerprint != MachineInfo(**zen2, ram_gib=23.4).fingerprint
