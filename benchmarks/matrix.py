"""The benchmark matrix: which (lesson convnet x variant x format x runtime x device x batch x
threads) rows each suite runs, generated from the manifest and the options. The whole default
matrix policy is the PLAN tables below; read them to know what `convbench bench` measures."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from convbench.benchmarks.manifest import Manifest
from convbench.optimize import scaling

TF_RUNTIMES = ("keras_eager", "tf_function", "tf_xla")
DEFAULT_BATCHES = (1, 8, 32, 128)
QUICK_BATCHES = (1, 32)
KERAS_BATCHES = (1, 32)  # TF rows are 10-50x slower: two batches are enough to place them


def family(fmt: str) -> str:
    """'keras', 'tflite' or 'onnx': what kind of file an artifact format is."""
    return "keras" if fmt == "keras" else fmt.split("_", 1)[0]


@dataclass(frozen=True)
class Plan:
    """How one runtime is run. batches: 'all' (the option's batches), 'ends' (smallest and
    largest), 'keras' (KERAS_BATCHES present in the option's batches, else the smallest), 'min'."""

    threads: tuple[int | None, ...] = (1,)
    batches: str = "all"
    formats: tuple[str, ...] | None = None  # None: every format the runtime loads


# runtime -> (plans for the baseline artifacts (technique "none": the trained model and its
# post-training conversions), plans for technique variants (pruned / clustered / QAT)).
# Sized so that all four lesson convnets with every variant fit in ~6 minutes on 2 cores:
# thread scaling and the no-XNNPACK / basic-ORT comparisons on the fp32 and int8 baselines
# only, technique variants at the smallest batch (their kernels are the baselines' kernels).
FP32_INT8 = ("tflite_fp32", "tflite_int8", "onnx_fp32", "onnx_static_qdq")
DEFAULT_PLAN: dict[str, tuple[tuple[Plan, ...], tuple[Plan, ...]]] = {
    "null": ((Plan((1,), "min"),), ()),  # one row per model, on one artifact (see null_row)
    "litert": ((Plan((1,), "all"), Plan((2,), "all", FP32_INT8)), (Plan((1,), "min"),)),
    "litert_noxnnpack": ((Plan((1,), "all", FP32_INT8),), ()),
    "onnxruntime": ((Plan((1,), "all"), Plan((2,), "all", FP32_INT8)), (Plan((1,), "min"),)),
    "onnxruntime_basic": ((Plan((1,), "all", ("onnx_fp32",)),), ()),
    "onnxruntime_trt": ((Plan((None,), "all"),), ()),
    **{name: ((Plan((None,), "keras"),), ()) for name in TF_RUNTIMES},
}
# --quick: one thread, the baselines only, the slower reference runtimes left out (naming one
# with --runtimes brings it back with its default plan).
QUICK_PLAN: dict[str, tuple[tuple[Plan, ...], tuple[Plan, ...]]] = {
    "null": ((Plan((1,), "min"),), ()),
    "litert": ((Plan((1,), "all"),), ()),
    "onnxruntime": ((Plan((1,), "all"),), ()),
    "keras_eager": ((Plan((None,), "min"),), ()),
}
# Memory and audits run one runtime per artifact family: the first of these that is selected.
PRIMARY_RUNTIMES = {"tflite": ("litert", "litert_noxnnpack"),
                    "onnx": ("onnxruntime", "onnxruntime_basic", "onnxruntime_trt"),
                    "keras": TF_RUNTIMES}
QUICK_MEMORY_FORMATS = ("tflite_fp32", "onnx_fp32")
AUDIT_FORMATS = (("tflite_fp32", "litert"), ("onnx_fp32", "onnxruntime"))
AUDITS = ("caching", "harness_overhead")

SCALING_FORMATS = (("tflite_fp32", "litert"), ("tflite_int8", "litert"),
                   ("onnx_fp32", "onnxruntime"), ("onnx_int8", "onnxruntime"))
QUICK_SCALING_FORMATS = SCALING_FORMATS[:2]

PIPELINES = ("naive", "cache", "prefetch", "parallel", "parallel_cache_prefetch")
QUICK_PIPELINES = ("naive", "parallel_cache_prefetch")
PIPELINE_BATCH = 32
CONSUMER_MS = (0, 2)  # simulated train step per batch: none (pipeline alone), 2 ms (prefetch can overlap)
QUICK_CONSUMER_MS = (0,)


@dataclass(frozen=True)
class Case:
    """One benchmark row. `key` identifies it across runs (report, regression gate)."""

    kind: str  # latency | memory | audit | scaling | pipeline
    model: str
    variant: str
    format: str
    runtime: str
    device: str
    batch: int
    threads: int | None
    path: str = ""
    metric: str = ""  # audit: caching | harness_overhead; scaling: latency | memory
    skip: str = ""  # non-empty: report this row skipped with this reason
    side: int | None = None  # scaling: input side in pixels
    batches: tuple[int, ...] = ()  # memory: the batches one child runs, one phase each (batch = the largest)
    row: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)  # the manifest row

    @property
    def threads_label(self) -> str:
        return "auto" if self.threads is None else str(self.threads)

    @property
    def id(self) -> str:
        batch = "+".join(map(str, self.batches)) if self.batches else str(self.batch)
        parts = [self.model, self.variant, self.format, self.runtime, self.device, f"b{batch}",
                 f"t{self.threads_label}"]
        return "-".join(([self.metric] if self.metric else []) + parts)

    @property
    def key(self) -> str:
        return "|".join([self.kind, self.metric or "-", self.model, self.variant, self.format, self.runtime,
                         self.device, str(self.batch), self.threads_label])

    def info(self) -> dict:
        """The identifying part of every row's extra_info."""
        return {"kind": self.kind, "metric": self.metric or None, "model": self.model, "variant": self.variant,
                "format": self.format, "runtime": self.runtime, "device": self.device, "batch": self.batch,
                "threads": self.threads, "key": self.key, "artifact": self.path or None,
                **({"batches": list(self.batches)} if self.batches else {})}


def _batches(how: str, batches: tuple[int, ...]) -> tuple[int, ...]:
    if how == "all":
        return batches
    if how == "ends":
        return tuple(sorted({min(batches), max(batches)}))
    if how == "keras":
        return tuple(b for b in batches if b in KERAS_BATCHES) or (min(batches),)
    return (min(batches),)


def selected_rows(manifest: Manifest, models, variants) -> list[dict]:
    return [r for r in manifest.rows
            if (not models or r["model"] in models) and (not variants or r["variant"] in variants)]


def _is_baseline(row: Mapping, variants) -> bool:
    # A variant named explicitly gets the full matrix, whatever its technique.
    return row.get("technique", "none") == "none" or row["variant"] in variants


def _plans(options) -> dict[str, tuple[tuple[Plan, ...], tuple[Plan, ...]]]:
    table = QUICK_PLAN if options.quick else DEFAULT_PLAN
    if options.runtimes:
        return {r: table.get(r, DEFAULT_PLAN[r]) for r in options.runtimes}
    return dict(table)


def _runtime_devices(runtime_name: str, devices: tuple[str, ...]) -> list[str]:
    from convbench.runtimes import RUNTIMES

    return [d for d in devices if d in RUNTIMES[runtime_name].devices]


def _loads(runtime_name: str, fmt: str) -> bool:
    from convbench.runtimes import RUNTIMES

    return family(fmt) in RUNTIMES[runtime_name].formats


def _case(kind, row, manifest: Manifest, runtime, device, batch, threads, **kw) -> Case:
    path = str(manifest.artifact_path(row)) if row.get("path") else ""
    return Case(kind, row["model"], row["variant"], row["format"], runtime, device, batch, threads,
                path=path, row=row, **kw)


def _failed_case(kind: str, row, manifest: Manifest, batch: int) -> Case:
    runtime = PRIMARY_RUNTIMES[family(row["format"])][0]
    return _case(kind, row, manifest, runtime, "cpu", batch, None,
                 skip=f"optimize failed for {row['model']}/{row['variant']}/{row['format']}: {row['error']}")


def null_row(rows: list[dict]) -> dict | None:
    """The artifact a model's null-runtime row reads shapes from: its fp32 TFLite baseline if any."""
    ok = [r for r in rows if not r.get("error") and family(r["format"]) in ("tflite", "onnx")]
    for r in ok:
        if r["variant"] == "tflite_fp32" and r["format"] == "tflite_fp32":
            return r
    return ok[0] if ok else None


def latency_cases(manifest: Manifest, options) -> list[Case]:
    batches, devices, plans = options.batch_list, options.device_list, _plans(options)
    rows = selected_rows(manifest, options.models, options.variants)
    cases: list[Case] = []
    for model in dict.fromkeys(r["model"] for r in rows):
        model_rows = [r for r in rows if r["model"] == model]
        for row in model_rows:
            if row.get("error"):
                cases.append(_failed_case("latency", row, manifest, min(batches)))
                continue
            baseline = _is_baseline(row, options.variants)
            for runtime, (base_plans, tech_plans) in plans.items():
                if runtime == "null" or not _loads(runtime, row["format"]):
                    continue
                for plan in base_plans if baseline else tech_plans:
                    if plan.formats is not None and row["format"] not in plan.formats:
                        continue
                    for device in _runtime_devices(runtime, devices):
                        threads = plan.threads if device == "cpu" else (None,)
                        for batch in _batches(plan.batches, batches):
                            for t in threads:
                                case = _case("latency", row, manifest, runtime, device, batch, t)
                                if case not in cases:  # a GPU row from two plans
                                    cases.append(case)
        target = null_row(model_rows)
        if "null" in plans and target is not None and "cpu" in devices:
            cases.append(_case("latency", target, manifest, "null", "cpu", min(batches), 1))
    return cases


def memory_cases(manifest: Manifest, options) -> list[Case]:
    """Per model and artifact format: one artifact (the baseline when there is one), one
    runtime (the first selected of PRIMARY_RUNTIMES), one fresh child that runs the smallest
    and then the largest batch and reports their peaks apart."""
    batches, devices = options.batch_list, options.device_list
    selected = options.runtimes or tuple(_plans(options))
    rows = selected_rows(manifest, options.models, options.variants)
    ends = tuple(sorted({min(batches), max(batches)}))
    cases: list[Case] = []
    for model in dict.fromkeys(r["model"] for r in rows):
        by_format: dict[str, dict] = {}
        for row in sorted((r for r in rows if r["model"] == model),
                          key=lambda r: not _is_baseline(r, options.variants)):
            by_format.setdefault(row["format"], row)
        for fmt, row in by_format.items():
            if options.quick and fmt not in QUICK_MEMORY_FORMATS and fmt not in options.variants:
                continue
            if row.get("error"):
                cases.append(_failed_case("memory", row, manifest, min(batches)))
                continue
            for device in devices:
                runtime = next((r for r in PRIMARY_RUNTIMES[family(fmt)]
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
    rows = [r for r in selected_rows(manifest, options.models, options.variants) if not r.get("error")]
    batch = min(options.batch_list)
    cases = []
    for model in dict.fromkeys(r["model"] for r in rows):
        for fmt, runtime in AUDIT_FORMATS:
            row = next((r for r in rows if r["model"] == model and r["format"] == fmt and r["variant"] == fmt), None)
            if row is None or runtime not in selected:
                continue
            cases += [_case("audit", row, manifest, runtime, "cpu", batch, 1, metric=a) for a in AUDITS]
    return cases


def scaling_cases(manifest: Manifest, options) -> list[Case]:
    """Each selected lesson architecture with random weights at growing input sides, fp32 and
    int8 TFLite/ONNX, batch 1, one thread: latency (and memory unless --quick)."""
    archs = [m for m in manifest.models if not options.models or m in options.models]
    sides = scaling.QUICK_SIDES if options.quick else scaling.SIDES
    formats = QUICK_SCALING_FORMATS if options.quick else SCALING_FORMATS
    metrics = ("latency",) if options.quick else ("latency", "memory")
    selected = options.runtimes or tuple(_plans(options))
    cases = []
    for arch in archs:
        for side in sides:
            for fmt, runtime in formats:
                if runtime not in selected:
                    continue
                for device in _runtime_devices(runtime, options.device_list):
                    threads = 1 if device == "cpu" else None
                    for metric in metrics:
                        cases.append(Case("scaling", arch, f"random_{side}x{side}x{scaling.CHANNELS}", fmt, runtime,
                                          device, 1, threads, metric=metric, side=side))
    return cases


def pipeline_cases(manifest: Manifest, options) -> list[Case]:
    if "cpu" not in options.device_list:
        return []
    names = QUICK_PIPELINES if options.quick else PIPELINES
    consumers = QUICK_CONSUMER_MS if options.quick else CONSUMER_MS
    row = {"dataset": manifest.dataset.get("name", "dataset")}
    return [Case("pipeline", "tf.data", p, f"consumer_{ms}ms", "tf.data", "cpu", PIPELINE_BATCH, None,
                 metric="images_per_s", row={**row, "consumer_ms": ms}) for ms in consumers for p in names]


CASE_MAKERS = {"latency_case": ("latency", latency_cases), "memory_case": ("memory", memory_cases),
               "audit_case": ("audit", audit_cases), "scaling_case": ("scaling", scaling_cases),
               "pipeline_case": ("pipeline", pipeline_cases)}


def needs_tensorflow(case: Case) -> bool:
    """Rows that import TensorFlow into the benchmark process (run last, after the rest)."""
    return case.kind in ("scaling", "pipeline") or (case.kind == "latency" and case.runtime in TF_RUNTIMES)
