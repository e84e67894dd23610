"""The six optimization notes, written from this run's measurements. Each states the textbook
claim once, then a compact table with one row per model (or runtime, pipeline) whose last cell
says whether that row agrees, and says once what holds for the whole run. Accuracy of a deployed
row is the one that row measured; accuracy of an artifact file is its build-time verification in
the manifest; each table's header says which. An accuracy loss is judged against the report's
one accuracy budget (`--accuracy-budget`, the recommendation's too), not the claim's own figure.

The speed notes (accelerator and hardware) are in notes_speed.py."""

from __future__ import annotations

import statistics
from dataclasses import InitVar, dataclass, field

from convbench.core.records import ArtifactRecord, BenchRun
from convbench.report.layers import compression_layers
from convbench.report.recommend import DEFAULT_BUDGET_PP
from convbench.report.rows import accuracy_drop_pp, is_post_training, models, precision
from convbench.report.table import Cell, Table, kib, pct, times, verdict
from convbench.core.formats import TFLITE_FP32, TFLITE_INT8


@dataclass
class Note:
    title: str
    claim: str
    headers: InitVar[list[str]]        # the table's; "verdict" last: each row says if it agrees
    table: Table = field(init=False)   # one row per model (or runtime, pipeline)
    lines: list[str] = field(default_factory=list)          # what holds for the whole run, said once
    contradicted: list[str] = field(default_factory=list)   # every contradiction, rows' and run-wide
    layers: Table | None = None        # the layers that explain the headline, one row per model (layers.py)

    def __post_init__(self, headers: list[str]) -> None:
        self.table = Table(headers, [])

    def row(self, cells: list, contradiction: str | None = None, who: str = "") -> None:
        """A table row; `contradiction` (short: the row's model is in its first cell) also goes
        to `contradicted` as "<who>: <contradiction>"."""
        self.table.rows.append([c if isinstance(c, Cell) else Cell(str(c)) for c in cells]
                               + ([verdict(contradiction)] if self.table.headers[-1] == "verdict" else []))
        if contradiction:
            self.contradicted.append(f"{who or cells[0]}: {contradiction}")

    def contradiction(self, line: str) -> None:
        """A contradiction of the whole run: said once, among the lines, and kept in contradicted."""
        self.lines.append(line)
        self.contradicted.append(line)


def all_notes(run: BenchRun, budget_pp: float = DEFAULT_BUDGET_PP) -> list[Note]:
    """`budget_pp`: the accuracy a row may lose vs fp32 before its verdict contradicts a claim."""
    from convbench.report.notes_speed import accelerator_utilization, data_pipeline, hardware_optimization

    return [model_compression(run, budget_pp), memory_optimization(run), accelerator_utilization(run),
            hardware_optimization(run), data_pipeline(run), model_parameter_optimization(run, budget_pp)]


def _artifacts(run: BenchRun) -> list[ArtifactRecord]:
    return [a for a in run.manifest.artifacts if a.ok] if run.manifest else []


def model_compression(run: BenchRun, budget_pp: float = DEFAULT_BUDGET_PP) -> Note:
    note = Note("Model compression",
                "Post-training int8 quantization makes a model ~4x smaller at <1 pp accuracy cost; "
                "pruning + quantization reach ~10x on compressed (gzip) size (TFMOT's MNIST guides).",
                ["model", "fp32 (KiB)", "int8 (KiB)", "int8 smaller (×)", "accuracy fp32 → int8 (%, file)",
                 "pruned_80 int8 gzip smaller (×)", "pruned_80 sparsity (%)", "verdict"])
    arts, stored_zeros, runtimes = _artifacts(run), [], set()
    for model in models(arts):
        get = {(a.variant, a.format): a for a in arts if a.model == model}
        fp32, int8 = get.get((TFLITE_FP32, TFLITE_FP32)), get.get((TFLITE_INT8, TFLITE_INT8))
        p80, p80_fp32 = get.get(("pruned_80", TFLITE_INT8)), get.get(("pruned_80", TFLITE_FP32))
        if not (fp32 and fp32.bytes and ((int8 and int8.bytes) or (p80 and p80.gzip_bytes))):
            continue
        runtimes |= {a.verification.runtime for a in (fp32, int8, p80) if a and a.verification}
        problems, ratio, gzip_ratio = [], None, None
        if int8 and int8.bytes:
            ratio = fp32.bytes / int8.bytes
            both = None not in (fp32.accuracy, int8.accuracy)
            drop = accuracy_drop_pp(fp32.accuracy, int8.accuracy) if both else None
            if ratio < 3.5:
                problems.append(f"int8 only {ratio:.2f}x smaller")
            if drop is not None and drop > budget_pp:
                problems.append(f"int8 loses {drop:.1f} pp")
        if p80 and p80.gzip_bytes and fp32.gzip_bytes:
            gzip_ratio = fp32.gzip_bytes / p80.gzip_bytes
            if gzip_ratio < 8:
                problems.append(f"pruning + int8 only {gzip_ratio:.1f}x (gzip)")
        if p80_fp32 and p80_fp32.bytes and p80_fp32.bytes >= fp32.bytes * 0.95:
            stored_zeros.append(model)
        note.row([model, kib(fp32.bytes), kib(int8 and int8.bytes), times(ratio),
                  f"{pct(fp32.accuracy)} → {pct(int8 and int8.accuracy)}", times(gzip_ratio, 1),
                  pct(p80 and p80.sparsity, 0)], "; ".join(problems) or None)
    if runtimes:
        note.lines.append(f"File accuracy: each file's build-time verification on the held-out split "
                          f"({', '.join(sorted(runtimes))}); sizes and sparsity are read from the files.")
        note.lines.append(f"An int8 file that loses more than the report's accuracy budget, {budget_pp:g} pp, "
                          "contradicts the claim.")
    if stored_zeros:
        note.lines.append(f"The pruned fp32 .tflite is as large as the dense one ({', '.join(stored_zeros)}): the "
                          "zeros are stored; only compression (gzip) sees them.")
    note.layers = compression_layers(run)   # which layer's error explains the loss (report/layers.py)
    return note


def memory_optimization(run: BenchRun) -> Note:
    note = Note("Memory optimization", "A 4x smaller (int8) model needs correspondingly less memory to run.",
                ["model", "runtime", "files fp32 → int8", "model memory fp32 → int8 (MiB)",
                 "process peak fp32 → int8 (MiB)", "int8 saves (%)", "verdict"])
    mem = [m for m in run.of("memory") if is_post_training(m)]
    batches, dominated = set(), False
    for (model, runtime, device) in sorted({(m.model, m.runtime, m.device) for m in mem}):
        mine = [m for m in mem if (m.model, m.runtime, m.device) == (model, runtime, device)]
        fp32 = next((m for m in mine if precision(m) == "fp32"), None)
        # The int8 file that saves the most: if even it does not halve the peak, none does.
        int8 = min((m for m in mine if precision(m) == "int8"), key=lambda m: m.phases[0].peak_rss_mib, default=None)
        if not (fp32 and int8):
            continue
        f, i = fp32.phases[0], int8.phases[0]
        batches.add(f.batch)
        saved = 1 - i.peak_rss_mib / f.peak_rss_mib
        dominated |= i.peak_rss_mib > 0.5 * f.peak_rss_mib
        note.row([model, runtime if device == "cpu" else f"{runtime} ({device})", f"{fp32.format} → {int8.format}",
                  f"{f.model_rss_mib:.1f} → {i.model_rss_mib:.1f}", f"{f.peak_rss_mib:.0f} → {i.peak_rss_mib:.0f}",
                  f"{saved * 100:.1f}"],
                 None if i.peak_rss_mib <= 0.5 * f.peak_rss_mib else f"int8 saves only {saved:.1%} of the peak"
                 if saved >= 0 else f"int8 needs {-saved:.1%} more at the peak",
                 who=f"{model} on {runtime}")
    if batches:
        note.lines.append(f"Batch {', '.join(map(str, sorted(batches)))}; process peak: VmHWM of a fresh process "
                          "that loads and runs the file; model memory: that minus a process that only imports the "
                          "runtime.")
    baselines = {m.runtime: m.baseline_rss_mib for m in run.of("memory")}
    if baselines:
        note.lines.append("Import-only peak RSS per runtime: " +
                          ", ".join(f"{k} {v:.0f} MiB" for k, v in sorted(baselines.items())) + ".")
    if dominated:
        note.lines.append("Where int8 does not halve the peak, the runtime itself dominates a process's memory, "
                          "not the model's weights.")
    return note


def model_parameter_optimization(run: BenchRun, budget_pp: float = DEFAULT_BUDGET_PP) -> Note:
    note = Note("Model-parameter optimization (training and fine-tuning)",
                "A few epochs of fine-tuning after pruning, clustering or QAT recover the fp32 accuracy "
                "(within ~1 pp).",
                ["model", "epochs", "validation accuracy first → last (%)", "train accuracy (%)",
                 "fine-tuned files: median Δ (pp)", "worst file", "worst Δ (pp)", "verdict"])
    trained = {t.name: t for t in (run.manifest.trained if run.manifest else [])}
    arts = _artifacts(run)
    for model in sorted(trained):
        t, base = trained[model], run.fp32_accuracy(model)
        val, train = t.history.get("val_accuracy") or [], t.history.get("accuracy") or []
        tuned = [a for a in arts if a.model == model and a.finetune_seconds and a.accuracy is not None]
        worst = min(tuned, key=lambda a: a.accuracy) if tuned and base is not None else None
        lost = accuracy_drop_pp(base, worst.accuracy) if worst else 0.0
        why = " (only the 6-unit head trains)" if "transfer" in model else ""
        note.row([model, len(val) or "–", f"{pct(val[0])} → {pct(val[-1])}" if val else "–",
                  pct(train[-1]) if train else "–",
                  f"{-statistics.median(accuracy_drop_pp(base, a.accuracy) for a in tuned):+.1f}" if worst else "–",
                  f"{worst.variant} ({worst.format})" if worst else "–", f"{-lost:+.1f}" if worst else "–"],
                 f"{worst.variant} loses {lost:.1f} pp despite fine-tuning{why}" if lost > budget_pp else None)
    if arts:
        note.lines.append("Δ: each fine-tuned file's build-time verified accuracy minus the trained fp32 model's; "
                          f"a loss beyond the report's accuracy budget, {budget_pp:g} pp, contradicts the claim.")
    return note
