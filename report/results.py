"""Load a run folder (bench.json from `convbench bench`) into flat rows for the report.
Missing, foreign or corrupt files are user errors that name the file."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from convbench.errors import UserError


def resolve_bench_json(path: str | Path) -> Path:
    """A run folder (holding bench.json) or a bench.json file itself."""
    path = Path(path)
    if path.is_dir():
        path = path / "bench.json"
        if not path.is_file():
            raise UserError(f"{path.parent}: no bench.json in this folder "
                            "(expected a run folder from `convbench bench`, or a bench.json file)")
    elif not path.exists():
        raise UserError(f"{path}: no such file or folder")
    return path


def load_bench_json(path: str | Path) -> tuple[Path, dict]:
    """Read a convbench bench.json (pytest-benchmark JSON whose benchmarks carry convbench's
    extra_info). Returns the resolved file path and the document."""
    path = resolve_bench_json(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{path}: not a JSON file ({exc})") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("benchmarks"), list):
        raise UserError(f"{path}: not a pytest-benchmark result (no \"benchmarks\" list); "
                        "expected the bench.json that `convbench bench` writes")
    if not doc["benchmarks"]:
        # An empty run would pass a regression gate vacuously and make an empty report.
        raise UserError(f"{path}: holds no benchmarks (were they all skipped or deselected?)")
    for i, bench in enumerate(doc["benchmarks"]):
        info = bench.get("extra_info") if isinstance(bench, dict) else None
        if not isinstance(info, dict) or "kind" not in info:
            name = bench.get("name", f"#{i}") if isinstance(bench, dict) else f"#{i}"
            raise UserError(f"{path}: benchmark {name!r} has no convbench extra_info \"kind\"; "
                            "not a convbench result (run `convbench bench`)")
    return path, doc


@dataclass
class Run:
    folder: Path
    bench: dict
    rows: list[dict]          # extra_info of every benchmark, plus raw_ms (timed samples)
    manifest: dict | None

    def of(self, kind: str) -> list[dict]:
        return [r for r in self.rows if r["kind"] == kind]

    @property
    def session(self) -> dict:
        return self.bench.get("convbench", {})


def load_run(folder: Path) -> Run:
    path, bench = load_bench_json(folder)
    rows = []
    for b in bench["benchmarks"]:
        row = dict(b["extra_info"])
        row["raw_ms"] = [s * 1e3 for s in b.get("stats", {}).get("data", [])]
        rows.append(row)
    manifest = None
    manifest_path = path.parent / "manifest.json"
    if not manifest_path.exists():
        manifest_path = Path(bench.get("convbench", {}).get("manifest", {}).get("path", ""))
    if manifest_path.is_file():
        try:
            manifest = json.loads(manifest_path.read_text())
        except json.JSONDecodeError as exc:
            raise UserError(f"{manifest_path}: corrupt manifest ({exc})") from None
    return Run(path.parent, bench, rows, manifest)
