"""Load a run folder (bench.json from `convbench bench`) into flat rows for the report.
Missing, foreign or corrupt files are user errors that name the file."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from convbench.errors import UserError


def load_bench_json(path: Path) -> dict:
    """A convbench bench.json: pytest-benchmark JSON whose benchmarks carry convbench extra_info."""
    path = Path(path)
    if path.is_dir():
        path = path / "bench.json"
    if not path.is_file():
        raise UserError(f"{path}: no such result file (run `convbench bench` first)")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: corrupt result file, not JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("benchmarks"), list):
        raise UserError(f"{path}: not a pytest-benchmark result file (no 'benchmarks' list)")
    if not all(isinstance(b, dict) and "kind" in b.get("extra_info", {}) for b in data["benchmarks"]):
        raise UserError(f"{path}: foreign result file: its benchmarks lack convbench's extra_info")
    return data


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
    folder = Path(folder)
    bench = load_bench_json(folder)
    rows = []
    for b in bench["benchmarks"]:
        row = dict(b["extra_info"])
        row["raw_ms"] = [s * 1e3 for s in b.get("stats", {}).get("data", [])]
        rows.append(row)
    manifest = None
    manifest_path = folder / "manifest.json"
    if not manifest_path.exists():
        manifest_path = Path(bench.get("convbench", {}).get("manifest", {}).get("path", ""))
    if manifest_path.is_file():
        try:
            manifest = json.loads(manifest_path.read_text())
        except json.JSONDecodeError as exc:
            raise UserError(f"{manifest_path}: corrupt manifest ({exc})") from None
    return Run(folder if folder.is_dir() else folder.parent, bench, rows, manifest)
