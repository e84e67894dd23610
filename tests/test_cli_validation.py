"""Every option of every command is checked while the command line is parsed: a bad value is one
`convbench: error:` line naming the option and the value, exit 2, no traceback, and the command
never starts (its handler is not called: no TensorFlow import, no artifacts folder, no log)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from convbench.cli import build_parser, main
from tests.support.console import one_error_line

STORE = ["--store", "{tmp}/results.duckdb"]
HISTORY = ["history", "p50_ms", "--model", "m", "--variant", "v", *STORE]

BAD = [  # argv ({tmp}: the test's folder, {file}: a plain file in it), what the error line must say
    (["train", "--epochs", "0"], "--epochs 0: must be at least 1"),
    (["train", "--epochs", "two"], "--epochs two: expected a whole number"),
    (["train", "--workers", "-1"], "--workers -1: must be 0 or more"),
    (["train", "--image-size", "4"], "--image-size 4: must be 8..1024 pixels"),
    (["train", "--seed", "-3"], "--seed -3: must be 0..4294967295"),
    (["train", "--data", "{tmp}/nope"], "--data {tmp}/nope: data folder does not exist"),
    (["train", "--data", "{file}"], "--data {file}: not a folder; expected the data folder"),
    (["train", "--out", "{file}"], "--out {file}: exists and is not a folder"),
    (["train", "--out", "{file}/below"], "--out {file}/below: {file} is a file, not a folder"),
    (["train", "--color-mode", "cmyk"], "argument --color-mode: invalid choice: 'cmyk'"),
    (["optimize", "--fine-tune-epochs", "0"], "--fine-tune-epochs 0: must be at least 1"),
    (["optimize", "--selective-budget", "101"], "--selective-budget 101.0: must be 0..100 percentage points"),
    (["optimize", "--selective-budget", "nan"], "--selective-budget nan: must be 0..100 percentage points"),
    (["optimize", "--scaling-sides", "28", "2000"], "--scaling-sides 2000: must be 8..1024 pixels"),
    (["optimize", "--model", "{tmp}/mine.keras"], "--model {tmp}/mine.keras: no such model file or folder"),
    (["bench", "--batches", "1", "0"], "--batches 0: must be at least 1"),
    (["bench", "--device", "tpu"], "argument --device: invalid choice: 'tpu'"),
    (["bench", "--out", "{file}"], "--out {file}: exists and is not a folder"),
    (["run", "--accuracy-budget", "-1"], "--accuracy-budget -1.0: must be 0..100 percentage points"),
    (["run", "--accuracy-budget", "lots"], "--accuracy-budget lots: expected a number"),
    (["run", "--epochs", "-2"], "--epochs -2: must be at least 1"),
    (["run", "--workers", "-1"], "--workers -1: must be 0 or more"),
    (["run", "--fine-tune-epochs", "0"], "--fine-tune-epochs 0: must be at least 1"),
    (["run", "--selective-budget", "-0.5"], "--selective-budget -0.5: must be 0..100 percentage points"),
    (["run", "--image-size", "0"], "--image-size 0: must be 8..1024 pixels"),
    (["run", "--batches", "0"], "--batches 0: must be at least 1"),
    (["report", "{tmp}", "--accuracy-budget", "inf"], "--accuracy-budget inf: must be 0..100 percentage points"),
    (["history", "p95_ms", "--model", "m", "--variant", "v"], "argument METRIC: invalid choice: 'p95_ms'"),
    (["history", "p50_ms", "--model", "m"], "the following arguments are required: --variant"),
    ([*HISTORY, "--batch", "0"], "--batch 0: must be at least 1"),
    ([*HISTORY, "--threads", "many"], "--threads many: expected a whole number"),
    ([*HISTORY, "--threads", "0"], "--threads 0: must be at least 1"),
    ([*HISTORY, "--device", "tpu"], "argument --device: invalid choice: 'tpu'"),
    ([*HISTORY, "--plot", "{tmp}"], "--plot {tmp}: a folder, not a file"),
    (["runs", "--store", "{tmp}"], "--store {tmp}: a folder, not a file"),
    (["import", "{tmp}/nope"], "RUN_DIR {tmp}/nope: no such run folder or bench.json"),
    (["machines", "{file}", "{tmp}/nope"], "RUN_DIR {tmp}/nope: no such run folder or bench.json"),
    (["machines", "--batch", "-1"], "--batch -1: must be at least 1"),
    (["train", "--bogus"], "unrecognized arguments: --bogus"),
    (["nope"], "argument COMMAND: invalid choice: 'nope'"),
]


@pytest.fixture
def no_work(monkeypatch, tmp_path):
    """The commands' handlers fail the test if called; cwd is an empty folder."""
    from convbench.cli import inspect, results, stages

    def never(args):
        raise AssertionError(f"{args.command} started despite a bad option")

    for module in (stages, results, inspect):
        for name in [n for n in vars(module) if n.startswith("_cmd_")]:
            monkeypatch.setattr(module, name, never)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a_file").write_text("not a folder")
    return tmp_path



@pytest.mark.parametrize("argv, says", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_a_bad_option_is_one_line_and_exit_2_before_the_command_starts(no_work, capsys, argv, says):
    tmp, file = str(no_work), str(no_work / "a_file")
    fill = lambda s: s.replace("{tmp}", tmp).replace("{file}", file)   # noqa: E731
    assert main([fill(a) for a in argv]) == 2
    assert fill(says) in one_error_line(capsys)
    assert sorted(p.name for p in no_work.iterdir()) == ["a_file"]   # no artifacts/, no log


def test_good_values_parse_to_their_types(tmp_path):
    parser = build_parser()
    args = parser.parse_args(["run", "--accuracy-budget", "2.5", "--epochs", "3", "--workers", "0",
                              "--batches", "1", "8", "--seed", "7", "--out", str(tmp_path / "new" / "folder")])
    assert (args.accuracy_budget, args.epochs, args.workers, args.batches, args.seed) == (2.5, 3, 0, [1, 8], 7)
    assert parser.parse_args(["report", str(tmp_path)]).accuracy_budget == 1.0   # the report's default budget
    history = ["history", "p50_ms", "--model", "m", "--variant", "v"]
    assert parser.parse_args([*history, "--threads", "auto"]).threads == "auto"
    assert parser.parse_args([*history, "--threads", "2"]).threads == "2"   # as the store keeps it


def test_help_still_exits_0(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--help"])
    assert exit_.value.code == 0 and "--epochs" in capsys.readouterr().out


@pytest.mark.parametrize("side", [7, 8, 1024, 1025])
def test_the_cli_and_the_data_config_agree_on_image_sides(side):
    from convbench.cli.options import BadValue, image_side
    from convbench.core.errors import UserError
    from convbench.models.data import DataConfig

    def accepts(check) -> bool:
        try:
            check(side)
        except (BadValue, UserError):
            return False
        return True

    assert accepts(lambda s: image_side(str(s))) == accepts(lambda s: DataConfig(image_size=s))


# --- what only the command can check, still before its work ------------------------------------

def test_report_on_a_missing_run_folder_is_one_line_and_leaves_nothing(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nope")]) == 2
    assert "nope: no such file or folder" in one_error_line(capsys)
    assert not (tmp_path / "nope").exists()


@pytest.mark.parametrize("argv", [["runs"], HISTORY[:6], ["machines"]])
def test_the_store_commands_on_a_missing_store_are_one_line(tmp_path, capsys, argv):
    store = tmp_path / "results.duckdb"
    assert main([*argv, "--store", str(store)]) == 2
    assert f"{store}: no results store here" in one_error_line(capsys)
    assert not store.exists()


@pytest.mark.parametrize("extra, says", [(["--runtimes", "nope"], "unknown runtime(s) 'nope'"),
                                         (["--suites", "nope"], "unknown suite(s) 'nope'")])
def test_run_checks_the_bench_names_before_the_lessons_and_variants(tmp_path, capsys, monkeypatch, extra, says):
    from convbench.cli import stages

    def optimize_config(*_):
        raise AssertionError("the optimize config (TensorFlow's registries) was built first")

    monkeypatch.setattr(stages, "optimize_config", optimize_config)
    assert main(["run", *extra, "--out", str(tmp_path / "artifacts")]) == 2
    assert says in one_error_line(capsys)
    assert not (tmp_path / "artifacts").exists()


def test_a_bad_option_imports_no_tensorflow(tmp_path):
    """The whole process: parsing and refusing a value loads neither TensorFlow nor a runtime."""
    code = ("import sys; from convbench.cli import main; "
            "rc = main(['run', '--accuracy-budget', '-1', '--out', sys.argv[1]]); "
            "print(rc, sorted(m for m in ('tensorflow', 'onnxruntime', 'ai_edge_litert') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "artifacts")], capture_output=True, text=True,
                          cwd=tmp_path)
    assert done.stdout.split("\n")[0] == "2 []", done.stdout + done.stderr
    assert done.stderr.strip() == "convbench: error: --accuracy-budget -1.0: must be 0..100 percentage points"
