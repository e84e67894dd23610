"""The suites' options (--cb-*), their parameters generated from the manifest, and the run record
every result travels with: machine, roofs (before the first row and after the last), versions,
git commit, dataset fingerprint, and which rows were skipped or failed, and why. At the end every
latency row is divided by its pooled roof; a row above 100 % fails the run."""

from __future__ import annotations

import os
import time
from dataclasses import replace
from datetime import datetime, UTC
from pathlib import Path

import pytest

from convbench.benchmarks import matrix
from convbench.benchmarks.bench import BenchOptions, validate_names
from convbench.benchmarks.results import apply_roofs, merge_rounds
from convbench.benchmarks.suite import BenchContext
from convbench.core.errors import UserError
from convbench.core.records import RunRecord, Skip, read_manifest, to_jsonable

STATE = pytest.StashKey[dict]()


def pytest_addoption(parser):
    g = parser.getgroup("convbench", "convbench benchmark matrix (`convbench bench` passes these; see BenchOptions)")
    for f in BenchOptions.child_fields():
        flag = BenchOptions.child_flag(f.name)
        if f.type in (bool, "bool"):
            g.addoption(flag, dest=f.name, action="store_true", default=None, help=f.metadata["child"])
        else:
            g.addoption(flag, dest=f.name, default=None, help=f.metadata["child"])
    g.addoption("--cb-run-dir", default=None, help="run folder that row paths are relative to (default: cwd)")


def pytest_configure(config):
    if getattr(config.option, "numprocesses", None) or getattr(config.option, "dist", "no") != "no":
        raise pytest.UsageError("the benchmarks must not run under pytest-xdist (workers share the cores); "
                                "drop -n/--dist or pass -p no:xdist")
    try:
        options = BenchOptions.from_pytest_config(config)
        manifest = read_manifest(options.manifest_path)
        validate_names(options, manifest)
    except UserError as exc:
        raise pytest.UsageError(str(exc)) from None
    run_dir = Path(config.getoption("cb_run_dir") or Path.cwd())
    config.stash[STATE] = {"options": options, "manifest": manifest, "run_dir": run_dir, "context": None}
    _SKIPPED.clear()
    _FAILED.clear()
    _SUITE_SECONDS.clear()


def pytest_sessionstart(session):
    session.config.stash[STATE]["session"] = session  # the roof check at the end sets its exit status


def pytest_generate_tests(metafunc):
    state = metafunc.config.stash[STATE]
    options, manifest = state["options"], state["manifest"]
    for argname, (suite, make) in matrix.CASE_MAKERS.items():
        if argname in metafunc.fixturenames:
            cases = make(manifest, options) if suite in options.suite_list else []
            metafunc.parametrize(argname, cases, ids=[c.id for c in cases])


def _case_of(item):
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return None
    # An empty parameter set leaves a NOTSET placeholder, not a Case.
    return next((v for k, v in callspec.params.items() if k in matrix.CASE_MAKERS and isinstance(v, matrix.Case)),
                None)


def pytest_collection_modifyitems(session, config, items):
    # Rows that import TensorFlow into this process run after all the others (stable sort).
    items.sort(key=lambda item: bool((case := _case_of(item)) and matrix.needs_tensorflow(case)))


def _reason(report) -> str:
    if isinstance(report.longrepr, tuple):
        return report.longrepr[2].removeprefix("Skipped: ")
    crash = getattr(report.longrepr, "reprcrash", None)
    return (crash.message if crash else str(report.longrepr)).strip().splitlines()[0][:500]


def pytest_runtest_logreport(report):
    suite = report.nodeid.split("::")[0].rsplit("/", 1)[-1].removeprefix("test_").removesuffix(".py")
    _SUITE_SECONDS[suite] = _SUITE_SECONDS.get(suite, 0.0) + report.duration
    if report.skipped and report.when in ("setup", "call"):
        _SKIPPED.append(Skip(nodeid=report.nodeid, reason=_reason(report)))
    elif report.failed:
        _FAILED.append(Skip(nodeid=report.nodeid, reason=_reason(report)))


# pytest_runtest_logreport gets no config; one pytest session per process (run_bench: a child).
_SKIPPED: list[Skip] = []
_FAILED: list[Skip] = []
_SUITE_SECONDS: dict[str, float] = {}  # wall seconds per suite file: setup + call + teardown


@pytest.fixture(scope="session")
def bench(request) -> BenchContext:
    state = request.config.stash[STATE]
    ctx = BenchContext(state["options"], state["manifest"], state["run_dir"])
    start = time.perf_counter()
    _ = ctx.record  # roofs + machine facts now, before any row loads the cores
    ctx.record.session_setup_s = time.perf_counter() - start
    state["context"] = ctx
    return ctx


@pytest.hookimpl(optionalhook=True)
def pytest_benchmark_update_json(config, benchmarks, output_json):
    state = config.stash[STATE]
    ctx = state.get("context")
    if ctx is None:
        return  # no row ran: no record (and no result file worth keeping)
    if "final" not in state:  # called once per output (the JSON, the autosave): measure once
        state["final"] = _final_record(ctx)
    record = state["final"]
    output_json["benchmarks"] = merge_rounds(output_json["benchmarks"])
    above = apply_roofs(output_json["benchmarks"], record.roofs)
    if above and not state.get("roof_failed"):  # a failing check of the run, like a failed audit
        state["roof_failed"] = True
        state["session"].exitstatus = pytest.ExitCode.TESTS_FAILED
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        for row in above if reporter else ():
            reporter.write_line(f"FAILED roof check {row.nodeid}: {row.reason}", red=True, bold=True)
    output_json["convbench"] = to_jsonable(replace(record, failed=record.failed + above))


def _final_record(ctx: BenchContext) -> RunRecord:
    """The record at the end, with the roofs measured again: rows are divided by the best of
    both measurements, and a start far from the end says the cores were shared meanwhile."""
    return replace(ctx.record, skipped=list(_SKIPPED), failed=list(_FAILED), suite_seconds=dict(_SUITE_SECONDS),
                   roofs=replace(ctx.record.roofs, at_end=ctx.measure_roofs().at_start),
                   loadavg_at_end=list(os.getloadavg()),
                   finished=datetime.now(UTC).isoformat(timespec="seconds"))
