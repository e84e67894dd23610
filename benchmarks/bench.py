"""`convbench bench`: run the benchmark suites (benchmarks/test_*.py) through pytest and
pytest-benchmark into artifacts/runs/<UTC time>/bench.json, then print a short summary.

    from convbench.benchmarks.bench import BenchOptions, run_bench
    run_bench(BenchOptions(quick=True, models=("lesson5_custom",)))
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from convbench.benchmarks.harness import RoundBudget
from convbench.benchmarks.matrix import DEFAULT_BATCHES, QUICK_BATCHES, TF_RUNTIMES
from convbench.errors import UserError

SUITES = ("latency", "audit", "memory", "scaling", "pipeline")  # also the order they run in
DEVICES = ("cpu", "gpu", "all")
SUITE_DIR = Path(__file__).resolve().parent
DEFAULT_BUDGET = RoundBudget(time_s=0.2, min_rounds=7, max_rounds=3000)
BUSY_FRACTION = 0.2  # foreign CPU share above which a row is reported as timed on a busy machine
QUICK_BUDGET = RoundBudget(time_s=0.05, min_rounds=3, max_rounds=500, warmup_s=0.005)


def _names(value) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = value.split(",")
    return tuple(dict.fromkeys(str(v).strip() for v in value if str(v).strip()))


@dataclass(frozen=True)
class BenchOptions:
    """What to benchmark. Empty tuples mean "all" (batches: the default list)."""

    quick: bool = False
    models: tuple[str, ...] = ()
    variants: tuple[str, ...] = ()
    runtimes: tuple[str, ...] = ()
    device: str = "cpu"  # cpu | gpu | all
    batches: tuple[int, ...] = ()
    out: Path = Path("artifacts")  # the artifacts folder: manifest.json in, runs/<time>/ out
    manifest: Path | None = None  # default: <out>/manifest.json
    suites: tuple[str, ...] = ()  # subset of SUITES
    row_time_s: float | None = None  # timed seconds per latency row (default 0.2, quick 0.05)
    storage: Path | None = Path(".benchmarks")  # pytest-benchmark autosave folder; None: no autosave
    pytest_args: tuple[str, ...] = field(default=())  # passed through, e.g. ("-k", "lesson5")

    def __post_init__(self) -> None:
        for name in ("models", "variants", "runtimes", "suites"):
            object.__setattr__(self, name, _names(getattr(self, name)))
        object.__setattr__(self, "out", Path(self.out))
        if self.manifest is not None:
            object.__setattr__(self, "manifest", Path(self.manifest))
        if self.storage is not None:
            object.__setattr__(self, "storage", Path(self.storage))
        object.__setattr__(self, "pytest_args", tuple(self.pytest_args))
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
        if self.row_time_s is not None and not self.row_time_s > 0:
            raise UserError(f"row time {self.row_time_s}: must be > 0 seconds")
        from convbench.runtimes import get_runtimes

        get_runtimes(self.runtimes)  # UserError listing the valid names

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

    # The suites read the options from pytest options (benchmarks/conftest.py defines them),
    # so `python -m pytest benchmarks --cb-quick ...` works without this module.
    def to_pytest_args(self) -> list[str]:
        args = ["--cb-out", str(self.out), "--cb-device", self.device]
        if self.manifest is not None:
            args += ["--cb-manifest", str(self.manifest)]
        if self.quick:
            args.append("--cb-quick")
        for name in ("models", "variants", "runtimes", "suites", "batches"):
            value = getattr(self, name)
            if value:
                args += [f"--cb-{name}", ",".join(map(str, value))]
        if self.row_time_s is not None:
            args += ["--cb-row-time", repr(self.row_time_s)]
        return args

    @classmethod
    def from_pytest_config(cls, config) -> BenchOptions:
        get = config.getoption
        return cls(quick=get("cb_quick"), models=get("cb_models"), variants=get("cb_variants"),
                   runtimes=get("cb_runtimes"), device=get("cb_device"), batches=get("cb_batches") or (),
                   out=Path(get("cb_out")), manifest=get("cb_manifest"), suites=get("cb_suites"),
                   row_time_s=get("cb_row_time"))

    def as_record(self) -> dict:
        return {f.name: (str(v) if isinstance(v := getattr(self, f.name), Path) else v) for f in fields(self)}


def validate_names(options: BenchOptions, manifest) -> None:
    """Models and variants must be in the manifest (runtimes are checked by BenchOptions)."""
    for what, asked, valid in (("model", options.models, manifest.models),
                               ("variant", options.variants, manifest.variants)):
        unknown = [n for n in asked if n not in valid]
        if unknown:
            raise UserError(f"unknown {what}(s) {', '.join(map(repr, unknown))}; valid (in {manifest.path}): "
                            f"{', '.join(valid) or 'none'}")


def new_run_dir(out: Path) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    run_dir, n = Path(out) / "runs" / stamp, 1
    while run_dir.exists():
        n += 1
        run_dir = Path(out) / "runs" / f"{stamp}-{n}"
    run_dir.mkdir(parents=True)
    return run_dir


def pytest_command(options: BenchOptions, bench_json: Path) -> list[str]:
    files = [str(SUITE_DIR / f"test_{s}.py") for s in options.suite_list]
    cmd = [sys.executable, "-m", "pytest", *files,
           "-p", "no:xdist",  # benchmarks never run in parallel workers
           "-p", "no:cacheprovider", "--import-mode=importlib",
           "--benchmark-json", str(bench_json), "--benchmark-disable-gc", "--benchmark-quiet",
           "-r", "fEs", *options.to_pytest_args()]
    if options.storage is not None:
        cmd += ["--benchmark-autosave", "--benchmark-save-data",
                f"--benchmark-storage=file://{Path(options.storage).resolve()}"]
    return cmd + list(options.pytest_args)


def run_bench(options: BenchOptions) -> int:
    """Run the suites in a child `python -m pytest` (fresh process: TF thread pools, memory),
    showing pytest's progress; write <out>/runs/<UTC time>/bench.json; print a summary.
    Returns pytest's exit status (0 all passed, 1 a row or audit failed, ...)."""
    return run_bench_with_folder(options)[0]


def run_bench_with_folder(options: BenchOptions) -> tuple[int, Path | None]:
    """run_bench, also returning the run folder (None when nothing was written), for callers
    that go on with the results (the report)."""
    from convbench.benchmarks.manifest import load_manifest

    manifest = load_manifest(options.manifest_path)  # UserError: run `convbench optimize` first
    validate_names(options, manifest)
    run_dir = new_run_dir(options.out)
    bench_json = run_dir / "bench.json"
    cmd = pytest_command(options, bench_json)
    print(f"convbench bench: {', '.join(options.suite_list)} -> {bench_json}", flush=True)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
    rc = subprocess.run(cmd, env=env).returncode  # inherits stdout: pytest's progress shows live
    if bench_json.exists():
        print(summarize(json.loads(bench_json.read_text())))
        print(f"\nfull results: {bench_json}")
    else:
        why = "every row was skipped (reasons above)" if rc == 0 else f"pytest exited {rc}"
        print(f"convbench bench: no results: {why}; nothing written to {bench_json}", file=sys.stderr)
        if not any(run_dir.iterdir()):
            run_dir.rmdir()
            return rc, None
    return rc, run_dir


# ---- reading results ---------------------------------------------------------------------

def rows(bench: dict, kind: str | None = None) -> list[dict]:
    """extra_info of each benchmark in a bench.json document, optionally of one kind."""
    out = []
    for b in bench.get("benchmarks", []):
        info = dict(b.get("extra_info", {}))
        if kind is None or info.get("kind") == kind:
            out.append(info)
    return out


def _fmt(v, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def latency_table(latency: list[dict], batch: int | None = None, baselines_only: bool = False) -> list[str]:
    """One line per (model, variant, format, device, batch): its fastest runtime/thread setting."""
    best: dict[tuple, dict] = {}
    for r in latency:
        if r.get("runtime") == "null" or (batch is not None and r["batch"] != batch):
            continue
        if baselines_only and r.get("technique") not in (None, "none"):
            continue
        k = (r["model"], r["variant"], r["format"], r["device"], r["batch"])
        if k not in best or r["p50_ms"] < best[k]["p50_ms"]:
            best[k] = r
    head = (f"{'model':18} {'variant':20} {'format':16} {'runtime':18} {'device':6} {'batch':>5} {'thr':>4} "
            f"{'p50_ms':>9} {'p90_ms':>9} {'items/s':>10} {'accuracy':>8}")
    lines = [head, "-" * len(head)]
    for r in sorted(best.values(), key=lambda r: (r["model"], r["batch"], r["p50_ms"])):
        lines.append(f"{r['model'][:18]:18} {r['variant'][:20]:20} {r['format'][:16]:16} {r['runtime'][:18]:18} "
                     f"{r['device']:6} {r['batch']:>5} {str(r['threads'] or 'auto'):>4} {r['p50_ms']:>9.3f} "
                     f"{r['p90_ms']:>9.3f} {r['throughput_items_per_s']:>10.0f} {_fmt(r.get('accuracy'), '8.3f'):>8}")
    return lines


def headlines(bench: dict) -> list[str]:
    """Per model: best deployed artifact vs keras_eager at batch 1, best fraction of SGEMM peak,
    the null runtime's floor; then audits and memory."""
    lat = rows(bench, "latency")
    out = []
    for model in dict.fromkeys(r["model"] for r in lat):
        mine = [r for r in lat if r["model"] == model]
        b1 = [r for r in mine if r["batch"] == 1]
        eager = [r for r in b1 if r["runtime"] == "keras_eager"]
        deployed = [r for r in b1 if r["runtime"] not in TF_RUNTIMES and r["runtime"] != "null"]
        parts = [model]
        if deployed:
            best = min(deployed, key=lambda r: r["p50_ms"])
            parts.append(f"best b1 {best['p50_ms']:.3f} ms ({best['variant']}/{best['runtime']}/t{best['threads']})")
            if eager:
                parts.append(f"keras_eager b1 {eager[0]['p50_ms']:.3f} ms -> {eager[0]['p50_ms'] / best['p50_ms']:.1f}x")
        peaked = [r for r in mine if r.get("fraction_of_peak") is not None and r["runtime"] != "null"]
        if peaked:
            top = max(peaked, key=lambda r: r["fraction_of_peak"])
            parts.append(f"peak {top['fraction_of_peak']:.0%} of SGEMM ({top['achieved_gflops']:.1f} GFLOP/s, "
                         f"{top['variant']}/{top['runtime']}/b{top['batch']}/t{top['threads']})")
        null = [r for r in mine if r["runtime"] == "null"]
        if null:
            parts.append(f"null {null[0]['p50_ms'] * 1e3:.1f} us")
        out.append("  " + "; ".join(parts))
    audits = rows(bench, "audit")
    caching = [a for a in audits if a.get("metric") == "caching"]
    if caching:
        failed = [a["key"] for a in caching if not a.get("audit_passed")]
        out.append(f"  caching audits: {len(caching) - len(failed)}/{len(caching)} passed"
                   + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    over = [a for a in audits if a.get("metric") == "harness_overhead"]
    if over:
        pct = [a["overhead_pct"] for a in over]
        out.append(f"  harness overhead vs a plain perf_counter loop (batch 1): {min(pct):+.1f} .. {max(pct):+.1f} % "
                   f"({sum(a['audit_passed'] for a in over)}/{len(over)} within {over[0]['overhead_limit_pct']:.0f} %)")
    busy = [r for r in lat if (r.get("foreign_cpu_fraction") or 0) > BUSY_FRACTION]
    if busy:
        out.append(f"  {len(busy)}/{len(lat)} latency rows ran while other processes used > {BUSY_FRACTION:.0%} "
                   "of the CPUs (foreign_cpu_fraction): their timings are pessimistic, 2-thread rows most")
    latency_audit_fail = [r["key"] for r in lat if r.get("audit_outputs_equal") is False]
    if latency_audit_fail:
        out.append(f"  timed outputs differ from the accuracy pass: {', '.join(latency_audit_fail)}")
    mem = rows(bench, "memory")
    if mem:
        top = max(mem, key=lambda r: r["peak_rss_mib"])
        out.append(f"  memory: {len(mem)} rows; largest peak {top['peak_rss_mib']:.0f} MiB "
                   f"({top['model']}/{top['variant']}/{top['runtime']}/b{top['batch']})")
    for kind in ("scaling", "pipeline"):
        if rows(bench, kind):
            out.append(f"  {kind}: {len(rows(bench, kind))} rows")
    return out


def machine_line(bench: dict) -> str | None:
    """The measured SGEMM peaks at start and end: unequal ones mean another process shared the cores."""
    rec = bench.get("convbench", {})
    start, end = rec.get("sgemm_peak_gflops"), rec.get("sgemm_peak_gflops_at_end")
    if not start:
        return None
    line = "  SGEMM peak GFLOP/s by threads: start " + ", ".join(f"{k}t {v:.1f}" for k, v in start.items())
    if end:
        line += "; end " + ", ".join(f"{k}t {v:.1f}" for k, v in end.items())
        drift = max(abs(end[k] / start[k] - 1) for k in start if k in end)
        if drift > 0.15:
            line += f"  <- differ by {drift:.0%}: the cores were shared during the run; compare its timings with care"
    return line


def summarize(bench: dict) -> str:
    lat = rows(bench, "latency")
    lines = []
    if lat:
        batch = min(r["batch"] for r in lat)
        lines.append(f"\nbatch {batch}, fastest runtime per post-training artifact (every row, technique variants "
                     "included: bench.json):")
        lines += latency_table(lat, batch=batch, baselines_only=True)
    lines += ["", "headlines:", *headlines(bench)]
    if (machine := machine_line(bench)) is not None:
        lines.append(machine)
    seconds = bench.get("convbench", {}).get("suite_seconds")
    if seconds:
        lines.append("  seconds per suite: " + ", ".join(f"{k} {v:.0f}" for k, v in seconds.items())
                     + f" (total {sum(seconds.values()):.0f})")
    skipped = bench.get("convbench", {}).get("skipped", [])
    if skipped:
        reasons: dict[str, int] = {}
        for s in skipped:
            reasons[s["reason"]] = reasons.get(s["reason"], 0) + 1
        lines.append(f"  skipped: {len(skipped)} rows")
        lines += [f"    {n} x {reason}" for reason, n in sorted(reasons.items(), key=lambda kv: -kv[1])]
    return "\n".join(lines)


def compare_medians(a: dict, b: dict, runtimes=("litert", "litert_noxnnpack", "onnxruntime", "onnxruntime_basic"),
                    batch: int = 1) -> dict[str, Any]:
    """Relative differences of p50 between two bench.json documents, for latency rows of
    `runtimes` at `batch` present in both (used to check run-to-run repeatability)."""
    def index(doc):
        return {r["key"]: r["p50_ms"] for r in rows(doc, "latency") if r["runtime"] in runtimes and r["batch"] == batch}

    ia, ib = index(a), index(b)
    diffs = {k: ib[k] / ia[k] - 1 for k in ia.keys() & ib.keys()}
    vals = sorted(abs(v) for v in diffs.values())
    return {"rows": len(diffs), "max_abs_rel_diff": vals[-1] if vals else None,
            "median_abs_rel_diff": vals[len(vals) // 2] if vals else None,
            "within_5pct": sum(v <= 0.05 for v in vals), "diffs": diffs}


__all__ = ["BenchOptions", "SUITES", "compare_medians", "rows", "run_bench", "run_bench_with_folder", "summarize",
           "validate_names"]
