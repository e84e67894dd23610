"""Read the optimize stage's manifest.json: its artifact rows with paths resolved, and the data
split (.npz) it was made from, found by dataset fingerprint."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from convbench.errors import UserError



@dataclass(frozen=True)
class Manifest:
    path: Path
    data: dict  # the whole JSON document

    @property
    def folder(self) -> Path:
        return self.path.parent

    @property
    def dataset(self) -> dict:
        return self.data.get("dataset", {})

    @property
    def fingerprint(self) -> str:
        return self.dataset.get("fingerprint", "")

    @property
    def rows(self) -> list[dict]:
        return list(self.data.get("artifacts", []))

    @property
    def models(self) -> list[str]:
        return list(dict.fromkeys(r["model"] for r in self.rows))

    @property
    def variants(self) -> list[str]:
        return list(dict.fromkeys(r["variant"] for r in self.rows))

    def artifact_path(self, row: dict) -> Path:
        return resolve_artifact_path(self.path, row["path"])


def load_manifest(path) -> Manifest:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no manifest; run `convbench optimize` first (it writes the artifacts "
                        "and their manifest.json that the benchmarks read)")
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"{path}: not a readable manifest ({exc}); run `convbench optimize` again") from None
    if not isinstance(data, dict) or not isinstance(data.get("artifacts"), list):
        raise UserError(f"{path}: no 'artifacts' list; is this a convbench manifest?")
    return Manifest(path, data)


def resolve_artifact_path(manifest_path: Path, recorded: str) -> Path:
    """Paths in the manifest are as optimize wrote them: absolute, relative to the directory it
    ran in (usually the repository: 'artifacts/...'), or relative to the manifest's folder.
    The first candidate that exists wins; the last one is returned when none does."""
    p = Path(recorded)
    if p.is_absolute():
        return p
    folder = Path(manifest_path).resolve().parent
    candidates = [Path.cwd() / p, folder.parent / p, folder / p]
    if p.parts and p.parts[0] == folder.name:  # 'artifacts/x' next to a manifest in artifacts/
        candidates.insert(1, folder / Path(*p.parts[1:]))
    for c in candidates:
        if c.exists():
            return c
    return candidates[-1]


def find_dataset_file(data_dir: Path, fingerprint: str) -> Path:
    """The .npz in `data_dir` whose Dataset fingerprint is `fingerprint`."""
    from convbench.models.data import Dataset

    data_dir = Path(data_dir)
    files = sorted(data_dir.glob("*.npz"))
    for f in files:
        try:
            if Dataset.load(f).fingerprint == fingerprint:
                return f
        except UserError:
            continue  # not a convbench data file: keep looking
    raise UserError(f"{data_dir}: no data split with fingerprint {fingerprint[:16]}... among {len(files)} .npz "
                    "file(s); the manifest is from another data set: run `convbench optimize` again")


def load_dataset_for(manifest: Manifest):
    """The exact Dataset (x_test in [0, 1], y_test, ...) the manifest's artifacts were made from."""
    from convbench.models.data import Dataset

    return Dataset.load(find_dataset_file(manifest.folder / "data", manifest.fingerprint))
