"""The console summary of an optimize run: one table per lesson convnet, failures last."""

from __future__ import annotations

from convbench.core.records import ArtifactRecord, Manifest
from convbench.core.tables import print_lines, print_table

HEADERS = ("variant", "format", "accuracy %", "vs fp32 pp", "agree %", "KiB", "gzip KiB", "sparsity %")


def _cells(a: ArtifactRecord, fp32: float) -> list:
    if not a.ok:
        return [a.variant, a.format, "FAILED", None, None, None, None, None]
    v = a.verification
    return [a.variant, a.format, f"{v.accuracy:.2%}"[:-1], f"{(v.accuracy - fp32) * 100:+.1f}",
            f"{v.agreement_vs_fp32:.1%}"[:-1], f"{a.bytes / 1024:.0f}", f"{a.gzip_bytes / 1024:.0f}",
            f"{a.sparsity:.1%}"[:-1]]


def print_summary(manifest: Manifest, tables: bool = True) -> list[ArtifactRecord]:
    """Print the tables (`tables=False`: the counts and the failures only, inside `convbench run`);
    return the failed artifacts (the caller turns them into the exit code: skipped ones, which
    cannot apply to their model, do not count)."""
    failed = [a for a in manifest.artifacts if a.failed]
    skipped = [a for a in manifest.artifacts if a.skipped]
    for model in manifest.models if tables else ():
        fp32 = manifest.fp32_accuracy(model)
        rows = [_cells(a, fp32) for a in manifest.artifacts
                if a.model == model and a.format != "keras" and not a.skipped]
        print_table(HEADERS, rows, title=f"{model} (fp32 Keras accuracy {fp32:.2%}; each file run by its runtime)",
                    right=range(2, len(HEADERS)))
    verified = len(manifest.artifacts) - len(failed) - len(skipped)
    lines = [f"{verified} artifacts verified in their runtimes, {len(skipped)} skipped (cannot apply), "
             f"{len(failed)} failed ({manifest.optimize_seconds:.0f} s)"]
    lines += [f"  skipped {a.label}: {a.skipped}" for a in skipped]
    lines += [f"  FAILED {a.label}: {a.error}" for a in failed]
    lines += [f"  note: {t.name}: {t.notes}" for t in manifest.trained if t.source and "near chance" in t.notes]
    print_lines(lines)
    return failed
