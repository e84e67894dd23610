"""`convbench bench`: run the benchmark suites (benchmarks/test_*.py) through pytest and
pytest-benchmark into a new run folder artifacts/runs/<UTC time>/ (bench.json, the manifest
snapshot it measured, the lesson illustrations' data), then print a short summary.

    from convbench.benchmarks.bench import BenchOptions, run_bench
    run_bench(BenchOptions(quick=True, models=("lesson5_custom",)))
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, UTC
from pathlib import Path

from convbench.core import quiet
from convbench.benchmarks.harness import RoundBudget
from convbench.benchmarks.matrix import DEFAULT_BATCHES, QUICK_BATCHES
from convbench.benchmarks.progress import run_with_progress
from convbench.core.child import child_python
from convbench.core.errors import UserError
from convbench.core.fsutil import make_temp_dir, publish_dir
from convbench.core.records import (BENCH_FILE, MANIFEST_FILE, Manifest, TrainedRecord, finish_bench_file,
                               read_manifest, write_manifest)

SUITES = ("latency", "audit", "layers", "memory", "scaling", "pipeline", "scenarios")  # also the order they run in
DEVICES = ("cpu", "gpu", "all")
SUITE_DIR = Path(__file__).resolve().parent
BENCH_LOG = "bench.log"   # in the run folder: pytest's and the libraries' output (--verbose: the console)
MAX_REPEAT = 20   # rounds of the latency rows (--repeat): each round costs about one latency suite
DEFAULT_BUDGET = RoundBudget(time_s=0.2, min_rounds=7, max_rounds=3000)
QUICK_BUDGET = RoundBudget(time_s=0.05, min_rounds=3, max_rounds=500, warmup_s=0.005)


def _names(value) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = value.split(",")
    return tuple(dict.fromkeys(str(v).strip() for v in value if str(v).strip()))


def _child(help_text: str) -> dict:
    """Field metadata: the option travels to the suites' pytest child as --cb-<name> (conftest.py)."""
    return {"child": help_text}


@dataclass(frozen=True)
class BenchOptions:
    """What to benchmark, checked when built. Empty tuples mean "all" (batches: the default list).
    The fields marked `_child` are the suites' pytest options too (benchmarks/conftest.py adds
    them from here), so an option is defined once: a field here and its flag in cli/options.py."""

    quick: bool = field(default=False, metadata=_child("the smaller quick matrix"))
    full: bool = field(default=False, metadata=_child("the full matrix: also the rows the report does not read"))
    models: tuple[str, ...] = field(default=(), metadata=_child("comma-separated models (default: the manifest's)"))
    variants: tuple[str, ...] = field(default=(), metadata=_child("comma-separated variants (default: all)"))
    runtimes: tuple[str, ...] = field(default=(), metadata=_child("comma-separated runtimes (default: the plans')"))
    device: str = field(default="cpu", metadata=_child("cpu | gpu | all"))
    batches: tuple[int, ...] = field(default=(), metadata=_child("comma-separated batch sizes (default 1,32,128)"))
    out: Path = field(default=Path("artifacts"), metadata=_child("artifacts folder: manifest.json in, runs/ out"))
    manifest: Path | None = field(default=None, metadata=_child("manifest path (default <out>/manifest.json)"))
    suites: tuple[str, ...] = field(default=(), metadata=_child(f"comma-separated subset of {','.join(SUITES)}"))
    row_time_s: float | None = field(default=None, metadata=_child("timed seconds per latency row "
                                                                    "(default 0.2, quick 0.05)"))
    slo_ms: float | None = field(default=None, metadata=_child("Server scenario: the p99 bound in ms (default: "
                                                               "the model's, benchmarks/scenarios.py)"))
    target_qps: float | None = field(default=None, metadata=_child("Server scenario: one run at this offered load "
                                                                   "instead of the search for the highest VALID one"))
    scenario_queries: int | None = field(default=None, metadata=_child("queries per LoadGen test at least "
                                                                       "(default 1024, quick 662)"))
    scenario_seconds: float | None = field(default=None, metadata=_child("seconds per LoadGen test at least "
                                                                         "(default 0.4, quick 0.2)"))
    all_scenarios: bool = field(default=False, metadata=_child("scenarios on every artifact and SUT, not only "
                                                               "the primary rows"))
    repeat: int = field(default=1, metadata=_child(f"latency rows in this many rounds, 1..{MAX_REPEAT}, one round "
                                                    "of every row after another (the run-to-run yardstick)"))
    storage: Path | None = Path(".benchmarks")  # pytest-benchmark autosave folder; None: no autosave
    pytest_args: tuple[str, ...] = ()  # passed through, e.g. ("-k", "lesson5")

    def __post_init__(self) -> None:
        for name in ("models", "variants", "runtimes", "suites"):
            object.__setattr__(self, name, _names(getattr(self, name)))
        object.__setattr__(self, "out", Path(self.out))
        if self.manifest is not None:
            object.__setattr__(self, "manifest", Path(self.manifest))
        if self.storage is not None:
            object.__setattr__(self, "storage", Path(self.storage))
        object.__setattr__(self, "pytest_args", tuple(self.pytest_args))
        if self.quick and self.full:
            raise UserError("--quick and --full: choose one matrix")
        if self.device not in DEVICES:
            raise UserError(f"device {self.device!r}: expected one of {', '.join(DEVICES)}")
        try:
            batches = tuple(dict.fromkeys(int(b) for b in (_names(self.batches) if isinstance(self.batches, str)
                                                            else self.batches)))
        except (TypeError, ValueError):
            raise UserError(f"batches {self.batches!r}: expected whole numbers >= 1") from None
        if any(b < 1 for b in batches):
            raise UserError(f"batches {batches}: each must be >= 1")
        object.__setattr__(self, "batches", tuple(sorted(batches)))
        unknown = [s for s in self.suites if s not in SUITES]
        if unknown:
            raise UserError(f"unknown suite(s) {', '.join(map(repr, unknown))}; valid: {', '.join(SUITES)}")
        if self.row_time_s is not None:
            try:
                object.__setattr__(self, "row_time_s", float(self.row_time_s))
            except ValueError:
                raise UserError(f"row time {self.row_time_s!r}: expected seconds") from None
            if not self.row_time_s > 0:
                raise UserError(f"row time {self.row_time_s}: must be > 0 seconds")
        self._check_scenario_values()
        try:
            object.__setattr__(self, "repeat", int(self.repeat))
        except (TypeError, ValueError):
            raise UserError(f"repeat {self.repeat!r}: expected a whole number of rounds") from None
        if not 1 <= self.repeat <= MAX_REPEAT:
            raise UserError(f"repeat {self.repeat}: must be 1..{MAX_REPEAT} rounds")
        from convbench.core.runtimes import get_runtimes

        get_runtimes(self.runtimes)  # UserError listing the valid names

    def _check_scenario_values(self) -> None:
        from convbench.benchmarks.scenarios import check_scenario_values

        for name, kind in (("slo_ms", float), ("target_qps", float), ("scenario_queries", int),
                           ("scenario_seconds", float)):
            value = getattr(self, name)
            if value is not None and not isinstance(value, kind):
                try:
                    object.__setattr__(self, name, kind(value))
                except ValueError:
                    raise UserError(f"{name.replace('_', ' ')} {value!r}: expected a number") from None
        check_scenario_values(self.slo_ms, self.target_qps, self.scenario_queries, self.scenario_seconds)

    @property
    def scenario_budget(self):
        """The LoadGen tests' minimums: --quick's or the default's, with the options' overrides."""
        from convbench.benchmarks.scenarios import DEFAULT_SCENARIO_BUDGET, QUICK_SCENARIO_BUDGET

        base = QUICK_SCENARIO_BUDGET if self.quick else DEFAULT_SCENARIO_BUDGET
        return replace(base, min_queries=self.scenario_queries or base.min_queries,
                       min_duration_s=self.scenario_seconds or base.min_duration_s)

    @classmethod
    def child_fields(cls) -> list:
        """The fields the pytest child takes as --cb-<name> options."""
        return [f for f in fields(cls) if "child" in f.metadata]

    @staticmethod
    def child_flag(name: str) -> str:
        return "--cb-" + name.replace("_", "-")

    def to_pytest_args(self) -> list[str]:
        """These options as the child's --cb-* arguments (the defaults left out)."""
        args: list[str] = []
        for f in self.child_fields():
            value = getattr(self, f.name)
            if value == f.default or value is None:
                continue
            if isinstance(value, bool):
                args.append(self.child_flag(f.name))
            else:
                args += [self.child_flag(f.name), ",".join(map(str, value)) if isinstance(value, tuple) else str(value)]
        return args

    @classmethod
    def from_pytest_config(cls, config) -> BenchOptions:
        given = {f.name: config.getoption(f.name) for f in cls.child_fields()}
        return cls(**{name: value for name, value in given.items() if value is not None})

    @property
    def manifest_path(self) -> Path:
        return self.manifest if self.manifest is not None else self.out / "manifest.json"

    @property
    def batch_list(self) -> tuple[int, ...]:
        return self.batches or (QUICK_BATCHES if self.quick else DEFAULT_BATCHES)

    @property
    def device_list(self) -> tuple[str, ...]:
        return ("cpu", "gpu") if self.device == "all" else (self.device,)

    @property
    def suite_list(self) -> tuple[str, ...]:
        return tuple(s for s in SUITES if not self.suites or s in self.suites)

    @property
    def budget(self) -> RoundBudget:
        base = QUICK_BUDGET if self.quick else DEFAULT_BUDGET
        if self.row_time_s is None:
            return base
        return RoundBudget(self.row_time_s, base.min_rounds, base.max_rounds, base.warmup_calls, base.warmup_s)


def validate_names(options: BenchOptions, manifest: Manifest) -> None:
    """Models and variants must be in the manifest (runtimes are checked by BenchOptions)."""
    for what, asked, valid in (("model", options.models, manifest.models),
                               ("variant", options.variants, manifest.variants)):
        unknown = [n for n in asked if n not in valid]
        if unknown:
            raise UserError(f"unknown {what}(s) {', '.join(map(repr, unknown))}; valid (in {manifest.path}): "
                            f"{', '.join(valid) or 'none'}")


def _run_name(out: Path) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    name, n = stamp, 1
    while (Path(out) / "runs" / name).exists():
        n += 1
        name = f"{stamp}-{n}"
    return name


def snapshot(manifest: Manifest, run_dir: Path) -> Manifest:
    """What the run measures, kept with it: the manifest (paths rewritten relative to the run
    folder) and each model's lesson-illustration arrays, so the report needs nothing else."""
    for trained in manifest.trained:
        source = manifest.resolve(trained.folder) / TrainedRecord.ILLUSTRATIONS_FILE
        if source.is_file():
            (run_dir / "illustrations").mkdir(exist_ok=True)
            shutil.copyfile(source, run_dir / "illustrations" / f"{trained.name}.npz")
    return write_manifest(run_dir / MANIFEST_FILE, manifest)


def pytest_command(options: BenchOptions, manifest: Path, run_dir: Path, raw_json: Path) -> list[str]:
    files = [str(SUITE_DIR / f"test_{s}.py") for s in options.suite_list]
    cmd = [*child_python("-m", "pytest"), *files,
           "-p", "no:xdist",  # benchmarks never run in parallel workers
           "-p", "no:cacheprovider", "--import-mode=importlib",
           "--benchmark-json", str(raw_json), "--benchmark-disable-gc", "--benchmark-quiet",
           "-r", "fEs", *replace(options, manifest=manifest).to_pytest_args(), "--cb-run-dir", str(run_dir)]
    if options.storage is not None:
        cmd += ["--benchmark-autosave", "--benchmark-save-data",
                f"--benchmark-storage=file://{Path(options.storage).resolve()}"]
    return cmd + list(options.pytest_args)


def run_bench(options: BenchOptions) -> int:
    """Run the suites in a child `python -m pytest` (fresh process: TF thread pools, memory),
    showing one progress bar (pytest's output goes to the run folder's bench.log; --verbose
    shows it instead); publish <out>/runs/<UTC time>/; print a summary. Returns
    pytest's exit status (0 all passed, 1 a row or audit failed, ...)."""
    return run_bench_with_folder(options)[0]


def run_bench_with_folder(options: BenchOptions, tables: bool = True) -> tuple[int, Path | None]:
    """run_bench, also returning the published run folder (None when nothing was measured);
    `tables=False` prints the summary's headlines and problems only (`convbench run`).
    The folder is filled under a temporary name and renamed when bench.json is complete, so
    runs/ never holds a half-written run."""
    from convbench.benchmarks.summary import print_summary
    from convbench.core.records import load_run

    manifest = read_manifest(options.manifest_path)  # UserError: run `convbench optimize` first
    validate_names(options, manifest)
    final = Path(options.out) / "runs" / _run_name(options.out)
    tmp = make_temp_dir(final)
    try:
        snapped = snapshot(manifest, tmp)
        raw = tmp / ".bench.raw.json"
        print(f"convbench bench: {', '.join(options.suite_list)} -> {final / BENCH_FILE}", flush=True)
        cmd = pytest_command(options, snapped.path, tmp, raw)
        if quiet.verbose():
            rc = subprocess.run(cmd).returncode   # pytest's own output, as it comes
        else:
            rc = run_with_progress(cmd, tmp / BENCH_LOG)
        try:
            finish_bench_file(raw, tmp / BENCH_FILE)
        except UserError as exc:
            why = "every row was skipped" if rc == 0 else f"pytest exited {rc}"
            _say(f"convbench bench: no results ({why}; {exc}); nothing published", tmp / BENCH_LOG)
            shutil.rmtree(tmp, ignore_errors=True)
            return rc, None
        publish_dir(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if rc not in (0, 1):   # 1: a row or an audit failed, which the summary lists; else pytest itself failed
        _say(f"convbench bench: pytest exited {rc}", final / BENCH_LOG)
    print_summary(load_run(final), tables)
    print(f"\nfull results: {final / BENCH_FILE}")
    return rc, final


def _say(line: str, log: Path) -> None:
    """A failure line, with the end of pytest's output (in the log unless --verbose showed it)."""
    out = quiet.user_stream()
    print(line, file=out)
    tail = quiet.tail(log)
    if tail:
        print(f"last lines of {log}:", *(f"  {t}" for t in tail), sep="\n", file=out, flush=True)


__all__ = ["BenchOptions", "SUITES", "run_bench", "run_bench_with_folder", "validate_names"]
