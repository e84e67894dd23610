"""Which of the gate's two modes a pair of inputs asks for: two runs (between-runs mode) or two
manifests (interleaved A/B mode); one of each is a mistake."""

from __future__ import annotations

import json
from pathlib import Path

from convbench.core.errors import UserError
from convbench.core.records import BENCH_FILE, MANIFEST_FILE

RUNS, INTERLEAVED = "runs", "interleaved"


def gate_mode(base: Path, new: Path) -> str:
    """'runs' for two run folders / bench.json files, 'interleaved' for two manifests (files or
    artifacts folders); anything else, or one of each, is a UserError."""

    def kind(path: Path) -> str:
        if path.is_dir():
            if (path / BENCH_FILE).is_file():
                return RUNS
            if (path / MANIFEST_FILE).is_file():
                return INTERLEAVED
            raise UserError(f"{path}: neither a run folder (no {BENCH_FILE}) nor an artifacts folder "
                            f"(no {MANIFEST_FILE})")
        return INTERLEAVED if path.name != BENCH_FILE and _is_manifest(path) else RUNS

    modes = {kind(Path(base)), kind(Path(new))}
    if len(modes) > 1:
        raise UserError(f"{base} and {new}: one is a run and the other a manifest; compare two runs "
                        "(between-runs mode) or two manifests (interleaved A/B mode)")
    return modes.pop()


def _is_manifest(path: Path) -> bool:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False  # the between-runs reader names the file and what is wrong with it
    return isinstance(doc, dict) and str(doc.get("schema", "")).startswith("convbench.manifest/")
