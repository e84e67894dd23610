"""The benchmark matrix: which (lesson convnet x variant x format x runtime x device x batch x
threads) rows each suite runs, generated from the manifest and the options. How each runtime is
run by default lives with the runtime (its Plans, convbench/runtimes/__init__.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from convbench.core.formats import FP32_BASELINES, INT8_BASELINES, TFLITE_FP32, family
from convbench.core.records import ArtifactRecord, Manifest
from convbench.core.records.identity import threads_label
from convbench.core.runtimes import RUNTIMES, Plan, family_runtimes

TF_RUNTIMES = family_runtimes("keras")
# Three points place the throughput curve (the accelerator note) for a quarter fewer rows than
# four: `--batches 1 8 32 128` adds the fourth.
DEFAULT_BATCHES = (1, 32, 128)
QUICK_BATCHES = (1, 32)
KERAS_BATCHES = (1, 32)  # TF rows are 10-50x slower: two batches are enough to place them
QUICK_MEMORY_FORMATS = FP32_BASELINES
AUDIT_FORMATS = FP32_BASELINES   # on their family's primary runtime
AUDITS = ("caching", "harness_overhead")

SCALING_FORMATS = ("tflite_fp32", "tflite_int8", "onnx_fp32", "onnx_int8")   # on their family's primary runtime
QUICK_SCALING_FORMATS = SCALING_FORMATS[:2]
QUICK_SCALING_SIDES = 2   # --quick: the smallest two sides the optimize stage built

# Per-layer latency (the layers suite): the main variants' LiteRT and ONNX files, batch 1, one
# thread. Not on more threads: there the time between nodes (thread-pool handoffs) is in no
# layer, so the layers stop explaining the whole. ONNX Runtime's profiler at two threads summed
# to 0.75-1.19 of the whole over two full runs (Zen 5, 2 cores; 0.85-1.17 at one thread), and
# LiteRT's single-op models, each waking its own pool, to 2-3.6x.
# By default the files whose profiles the report joins, fp32 beside int8 per family
# (report/layers.py); --full adds the rest of LAYER_VARIANTS (about 25 s on 2 cores).
DEFAULT_LAYER_VARIANTS = FP32_BASELINES + INT8_BASELINES
LAYER_VARIANTS = ("tflite_fp32", "tflite_int8", "tflite_dynamic", "tflite_fp16", "onnx_fp32", "onnx_static_qdq",
                  "onnx_dynamic", "onnx_fp16", "pruned_80")
QUICK_LAYER_VARIANTS = ("tflite_fp32", "tflite_int8")
LAYER_FAMILIES = ("tflite", "onnx")   # per-layer timing: LiteRT's single-op models, ORT's profiler

PIPELINES = ("naive", "cache", "prefetch", "parallel", "parallel_cache_prefetch")
QUICK_PIPELINES = ("naive", "parallel_cache_prefetch")
PIPELINE_BATCH = 32
CONSUMER_MS = (0, 2)  # simulated train step per batch: none (pipeline alone), 2 ms (prefetch can overlap)
QUICK_CONSUMER_MS = (0,)


@dataclass(frozen=True)
class Case:
    """One benchmark row to run. `id` names it in pytest; the result records say the rest."""

    kind: str  # latency | memory | audit | layers | scaling | pipeline | scenario
    model: str
    variant: str
    format: str
    runtime: str
    device: str
    batch: int
    threads: int | None
    path: str = ""  # the artifact on this machine
    metric: str = ""  # audit: caching | harness_overhead; scaling: latency | memory; scenario: its name
    skip: str = ""  # non-empty: report this row skipped with this reason
    side: int | None = None  # scaling: input side in pixels
    batches: tuple[int, ...] = ()  # memory: the batches one child runs, one phase each (batch = the largest)
    artifact: ArtifactRecord | None = field(default=None, compare=False, hash=False)  # the manifest's record
    consumer_ms: float = 0.0  # pipeline: simulated train step per batch
    repeat: int = 0  # latency with --repeat N: the round, 1..N (0: one round); a row's identity leaves it out

    @property
    def threads_label(self) -> str:
        return threads_label(self.threads)

    @property
    def id(self) -> str:
        batch = "+".join(map(str, self.batches)) if self.batches else str(self.batch)
        side = [f"{self.side}px"] if self.side else []
        parts = [self.model, self.variant, self.format, *side, self.runtime, self.device, f"b{batch}",
                 f"t{self.threads_label}"]
        rounds = [f"r{self.repeat}"] if self.repeat else []
        return "-".join(([self.metric] if self.metric else []) + parts + rounds)

    def identity(self) -> dict:
        """The fields every result record of this row starts from."""
        return dict(model=self.model, variant=self.variant, format=self.format, runtime=self.runtime,
                    device=self.device, batch=self.batch, threads=self.threads)


def _batches(how: str, batches: tuple[int, ...]) -> tuple[int, ...]:
    if how == "all":
        return batches
    if how == "keras":
        return tuple(b for b in batches if b in KERAS_BATCHES) or (min(batches),)
    return (min(batches),)


def selected_rows(manifest: Manifest, models, variants) -> list[ArtifactRecord]:
    """Skipped artifacts (techniques that cannot apply to a model) have no file: no rows."""
    return [a for a in manifest.artifacts if not a.skipped
            and (not models or a.model in models) and (not variants or a.variant in variants)]


def _is_baseline(artifact: ArtifactRecord, variants) -> bool:
    # A variant named explicitly gets the full matrix, whatever its technique.
    return artifact.technique == "none" or artifact.variant in variants


def _plans(options) -> dict[str, tuple[tuple[Plan, ...], tuple[Plan, ...]]]:
    """runtime -> (plans for baseline artifacts, plans for technique variants). --quick keeps the
    runtimes that have quick plans; --runtimes names them explicitly (with their quick plans
    under --quick where they have some, else their default ones)."""
    def pick(runtime) -> tuple[tuple[Plan, ...], tuple[Plan, ...]]:
        plans = runtime.plans
        return (plans.quick, ()) if options.quick and plans.quick else (plans.baseline, plans.technique)

    if options.runtimes:
        return {name: pick(RUNTIMES[name]) for name in options.runtimes}
    return {name: pick(r) for name, r in RUNTIMES.items()
            if r.plans.in_default_matrix and (r.plans.quick or not options.quick)}


def _runtime_devices(runtime_name: str, devices: tuple[str, ...]) -> list[str]:
    return [d for d in devices if d in RUNTIMES[runtime_name].devices]


def _loads(runtime_name: str, fmt: str) -> bool:
    return family(fmt) in RUNTIMES[runtime_name].formats


def primary_runtime(fmt: str) -> str:
    return family_runtimes(family(fmt))[0]


def _case(kind, artifact: ArtifactRecord, manifest: Manifest, runtime, device, batch, threads, **kw) -> Case:
    path = str(manifest.artifact_path(artifact)) if artifact.path else ""
    return Case(kind, artifact.model, artifact.variant, artifact.format, runtime, device, batch, threads,
                path=path, artifact=artifact, **kw)


def _failed_case(kind: str, artifact: ArtifactRecord, manifest: Manifest, batch: int) -> Case:
    runtime = primary_runtime(artifact.format)
    return _case(kind, artifact, manifest, runtime, "cpu", batch, None,
                 skip=f"optimize failed for {artifact.label}: {artifact.error}")


def null_row(rows: list[ArtifactRecord]) -> ArtifactRecord | None:
    """The artifact a model's null-runtime row reads shapes from: its fp32 TFLite baseline if any."""
    ok = [a for a in rows if a.ok and family(a.format) in ("tflite", "onnx")]
    return next((a for a in ok if a.variant == a.format == TFLITE_FP32), ok[0] if ok else None)


def latency_cases(manifest: Manifest, options) -> list[Case]:
    batches, devices, plans = options.batch_list, options.device_list, _plans(options)
    rows = selected_rows(manifest, options.models, options.variants)
    cases: list[Case] = []
    for model in dict.fromkeys(r.model for r in rows):
        model_rows = [r for r in rows if r.model == model]
        for row in model_rows:
            if not row.ok:
                cases.append(_failed_case("latency", row, manifest, min(batches)))
                continue
            baseline = _is_baseline(row, options.variants)
            for runtime, (base_plans, tech_plans) in plans.items():
                if runtime == "null" or not _loads(runtime, row.format):
                    continue
                for plan in base_plans if baseline else tech_plans:
                    if plan.formats is not None and row.format not in plan.formats:
                        continue
                    for device in _runtime_devices(runtime, devices):
                        threads = plan.threads if device == "cpu" else (None,)
                        # A variant named explicitly gets every batch, whatever its plan.
                        how = "all" if row.variant in options.variants and plan.batches == "min" else plan.batches
                        for batch in _batches(how, batches):
                            for t in threads:
                                case = _case("latency", row, manifest, runtime, device, batch, t)
                                if case not in cases:  # a GPU row from two plans
                                    cases.append(case)
        target = null_row(model_rows)
        if "null" in plans and target is not None and "cpu" in devices:
            cases.append(_case("latency", target, manifest, "null", "cpu", min(batches), 1))
    return in_rounds(cases, options.repeat)


def round_of(test_name: str) -> int:
    """The round in a latency test's name (its Case.id ends -r<k> with --repeat), else 0."""
    match = re.search(r"-r(\d+)\]$", test_name)
    return int(match.group(1)) if match else 0


def without_round(test_name: str) -> str:
    return re.sub(r"-r\d+\]$", "]", test_name)


def in_rounds(cases: list[Case], repeat: int) -> list[Case]:
    """--repeat N: every row once per round, round after round, so that a slow minute of the
    machine lands on many rows once rather than on one row N times; the rows' spread between
    rounds is then the machine's run-to-run spread. Skipped rows stay in round 1 only."""
    if repeat <= 1:
        return cases
    return [replace(c, repeat=k) for k in range(1, repeat + 1) for c in cases if k == 1 or not c.skip]


def memory_cases(manifest: Manifest, options) -> list[Case]:
    """Per model and artifact format: one artifact (the baseline when there is one), one
    runtime (the first selected of its family's runtimes), one fresh child that runs the smallest
    and then the largest batch and reports their peaks apart."""
    batches, devices = options.batch_list, options.device_list
    selected = options.runtimes or tuple(_plans(options))
    rows = selected_rows(manifest, options.models, options.variants)
    ends = tuple(sorted({min(batches), max(batches)}))
    cases: list[Case] = []
    for model in dict.fromkeys(r.model for r in rows):
        by_format: dict[str, ArtifactRecord] = {}
        for row in sorted((r for r in rows if r.model == model), key=lambda r: not _is_baseline(r, options.variants)):
            by_format.setdefault(row.format, row)
        for fmt, row in by_format.items():
            if options.quick and fmt not in QUICK_MEMORY_FORMATS and fmt not in options.variants:
                continue
            if not row.ok:
                cases.append(_failed_case("memory", row, manifest, min(batches)))
                continue
            for device in devices:
                runtime = next((r for r in family_runtimes(family(fmt))
                                if r in selected and device in _runtime_devices(r, (device,))), None)
                if runtime is None:
                    continue
                threads = 1 if device == "cpu" and runtime not in TF_RUNTIMES else None
                cases.append(_case("memory", row, manifest, runtime, device, max(ends), threads, batches=ends))
    return cases


def audit_cases(manifest: Manifest, options) -> list[Case]:
    """Per model: the caching and harness-overhead audits on the fp32 TFLite/ONNX baselines,
    at the smallest batch, one thread, CPU."""
    if "cpu" not in options.device_list:
        return []
    selected = options.runtimes or tuple(_plans(options))
    rows = [r for r in selected_rows(manifest, options.models, options.variants) if r.ok]
    batch = min(options.batch_list)
    cases = []
    for model in dict.fromkeys(r.model for r in rows):
        for fmt in AUDIT_FORMATS:
            runtime = primary_runtime(fmt)
            row = next((r for r in rows if r.model == model and r.variant == r.format == fmt), None)
            if row is None or runtime not in selected:
                continue
            cases += [_case("audit", row, manifest, runtime, "cpu", batch, 1, metric=a) for a in AUDITS]
    return cases


def scaling_cases(manifest: Manifest, options) -> list[Case]:
    """Each lesson architecture with random weights at the input sides the optimize stage built
    (the manifest's scaling folders), fp32 and int8 TFLite/ONNX, batch 1, one thread: latency
    (and memory unless --quick)."""
    built = [(e.arch, e.side) for e in manifest.scaling if not options.models or e.arch in options.models]
    archs = list(dict.fromkeys(arch for arch, _ in built))
    sides = sorted({side for _, side in built})
    if options.quick:
        sides = sides[:QUICK_SCALING_SIDES]
    formats = QUICK_SCALING_FORMATS if options.quick else SCALING_FORMATS
    metrics = ("latency",) if options.quick else ("latency", "memory")
    selected = options.runtimes or tuple(_plans(options))
    cases = []
    for arch in archs:
        for side in sides:
            if (arch, side) not in built:
                continue
            for fmt in formats:
                runtime = primary_runtime(fmt)
                if runtime not in selected:
                    continue
                for device in _runtime_devices(runtime, options.device_list):
                    threads = 1 if device == "cpu" else None
                    for metric in metrics:
                        cases.append(Case("scaling", arch, "random_weights", fmt, runtime, device, 1, threads,
                                          metric=metric, side=side))
    return cases


def layer_cases(manifest: Manifest, options) -> list[Case]:
    """Per model: the .tflite and .onnx files of DEFAULT_LAYER_VARIANTS (--full: LAYER_VARIANTS;
    --variants: those named), on LiteRT or ONNX Runtime (unless --runtimes leaves them out), CPU, batch 1."""
    if "cpu" not in options.device_list:
        return []
    wanted = options.variants or (QUICK_LAYER_VARIANTS if options.quick else LAYER_VARIANTS if options.full
                                  else DEFAULT_LAYER_VARIANTS)
    cases = []
    for row in selected_rows(manifest, options.models, wanted):
        if family(row.format) not in LAYER_FAMILIES:
            continue
        runtime = primary_runtime(row.format)
        if options.runtimes and runtime not in options.runtimes:
            continue
        if not row.ok:
            cases.append(_failed_case("layers", row, manifest, 1))
            continue
        cases.append(_case("layers", row, manifest, runtime, "cpu", 1, 1))
    return cases


def pipeline_cases(manifest: Manifest, options) -> list[Case]:
    if "cpu" not in options.device_list:
        return []
    names = QUICK_PIPELINES if options.quick else PIPELINES
    consumers = QUICK_CONSUMER_MS if options.quick else CONSUMER_MS
    return [Case("pipeline", "tf.data", p, f"consumer_{ms}ms", "tf.data", "cpu", PIPELINE_BATCH, None,
                 consumer_ms=ms) for ms in consumers for p in names]


def _best_int8(rows: list[ArtifactRecord]) -> ArtifactRecord | None:
    """A model's int8 baseline of highest build-time accuracy (INT8_BASELINES' order breaks ties)."""
    ok = [a for fmt in INT8_BASELINES for a in rows if a.ok and a.variant == a.format == fmt]
    return max(ok, key=lambda a: a.accuracy or 0.0, default=None)


def scenario_cases(manifest: Manifest, options) -> list[Case]:
    """The serving scenarios (benchmarks/scenarios.py) on each model's primary rows, the fp32
    TFLite baseline and its best int8 baseline, on their family's primary runtime (with
    --all-scenarios: every file and every Server SUT), and a SingleStream row of the null
    runtime per model (LoadGen's own Python path)."""
    from convbench.benchmarks.scenarios import scenario_plan

    plan = scenario_plan(options)
    rows = selected_rows(manifest, options.models, options.variants)
    selected = options.runtimes or tuple(_plans(options))
    cases: list[Case] = []
    for model in dict.fromkeys(r.model for r in rows):
        mine = [r for r in rows if r.model == model]
        if options.all_scenarios:
            targets = [r for r in mine if family(r.format) in ("tflite", "onnx")]
        else:
            fp32 = next((r for r in mine if r.ok and r.variant == r.format == TFLITE_FP32), None)
            targets = [r for r in (fp32, _best_int8(mine)) if r is not None]
        for row in targets:
            if not row.ok:
                cases.append(_failed_case("scenario", row, manifest, 1))
                continue
            runtime = primary_runtime(row.format)
            if runtime not in selected:
                continue
            for device in _runtime_devices(runtime, options.device_list):
                cases += [_case("scenario", row, manifest, runtime, device, batch, threads, metric=metric)
                          for metric, batch, threads in plan]
        target = null_row(mine)
        if target is not None and "null" in selected and "cpu" in options.device_list:
            cases.append(_case("scenario", target, manifest, "null", "cpu", 1, 1, metric="single_stream"))
    return cases


CASE_MAKERS = {"latency_case": ("latency", latency_cases), "memory_case": ("memory", memory_cases),
               "audit_case": ("audit", audit_cases), "layers_case": ("layers", layer_cases),
               "scaling_case": ("scaling", scaling_cases),
               "pipeline_case": ("pipeline", pipeline_cases),
               "scenario_case": ("scenarios", scenario_cases)}


def needs_tensorflow(case: Case) -> bool:
    """Rows that import TensorFlow into the benchmark process (run last, after the rest)."""
    return case.kind in ("scaling", "pipeline") or (case.kind == "latency" and case.runtime in TF_RUNTIMES)
