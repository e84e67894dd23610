"""The record schema: files round-trip, paths move with the manifest's folder, another schema
version or another tool's file is one clear error naming the file; code fingerprints ignore
comments and docstrings but not code."""

from __future__ import annotations

import json
import textwrap
import types
from pathlib import Path

import pytest

from convbench.core.errors import UserError
from convbench.core.fingerprint import code_of
from convbench.core.records import (ArtifactRecord, DatasetInfo, Manifest, TrainedRecord, read_manifest, to_jsonable,
                               write_manifest)


def manifest_at(folder: Path) -> Manifest:
    (folder / "optimized").mkdir(parents=True)
    (folder / "optimized" / "a.tflite").write_bytes(b"x")
    data = DatasetInfo(name="d", fingerprint="f" * 64, class_names=["a", "b"], input_shape=[8, 8, 1],
                       split_sizes={"test": 2}, normalization={}, path=str(folder / "data" / "d.npz"))
    trained = TrainedRecord(name="m", lesson="5", fingerprint="t", test_accuracy=0.9, params=1, trainable_params=1,
                            flops_per_image=2, flops_method="analytic", train_seconds=1.0, epochs=1, batch_size=1,
                            learning_rate=0.1, seed=0, folder=str(folder / "trained" / "m"))
    artifact = ArtifactRecord(model="m", variant="tflite_fp32", format="tflite_fp32", technique="none",
                              path=str(folder / "optimized" / "a.tflite"))
    return Manifest(created="now", dataset=data, trained=[trained], artifacts=[artifact],
                    path=folder / "manifest.json")


def test_manifest_paths_are_written_relative_to_its_folder(tmp_path):
    written = write_manifest(tmp_path / "manifest.json", manifest_at(tmp_path))
    raw = json.loads((tmp_path / "manifest.json").read_text())
    assert raw["artifacts"][0]["path"] == "optimized/a.tflite" and raw["dataset"]["path"] == "data/d.npz"
    assert raw["trained"][0]["folder"] == "trained/m" and "cached" in raw["artifacts"][0]
    back = read_manifest(tmp_path / "manifest.json")
    assert back == written and back.artifact_path(back.artifacts[0]).read_bytes() == b"x"
    # A copy elsewhere (the manifests/ history, a run folder) says '..' where it must.
    copy = write_manifest(tmp_path / "runs" / "r1" / "manifest.json", back)
    assert copy.artifacts[0].path == "../../optimized/a.tflite"
    assert read_manifest(tmp_path / "runs" / "r1" / "manifest.json").artifact_path(copy.artifacts[0]).is_file()


def test_fine_tuning_steps_follow_the_chain_of_parents(tmp_path):
    manifest = manifest_at(tmp_path)
    chain = [("keras_fp32", "none", None), ("pruned_50", "prune", "keras_fp32"),
             ("sparse_clustered_16", "cluster", "pruned_50"), ("pcqat", "qat", "sparse_clustered_16"),
             ("tflite_int8", "none", "keras_fp32"), ("loop", "qat", "loop")]
    manifest.artifacts += [ArtifactRecord(model="m", variant=v, format="tflite_int8", technique=t, parent=p)
                           for v, t, p in chain]
    steps = {v: manifest.fine_tuning_steps("m", v) for v, _, _ in chain}
    assert steps == {"keras_fp32": 0, "pruned_50": 1, "sparse_clustered_16": 2, "pcqat": 3, "tflite_int8": 0,
                     "loop": 1}   # a record naming itself as its parent ends the walk
    assert manifest.fine_tuning_steps("m", "unknown") == 0


def test_another_schema_version_is_one_clear_error(tmp_path):
    write_manifest(tmp_path / "manifest.json", manifest_at(tmp_path))
    doc = json.loads((tmp_path / "manifest.json").read_text())
    doc["schema"] = "convbench.manifest/1"
    (tmp_path / "manifest.json").write_text(json.dumps(doc))
    with pytest.raises(UserError, match=r"manifest\.json: manifest schema 'convbench\.manifest/1'.*convbench optimize"):
        read_manifest(tmp_path / "manifest.json")


@pytest.mark.parametrize("content, message", [
    ({"artifacts": []}, "not a convbench manifest"),
    ({"schema": "other.tool/3"}, "not a convbench manifest"),
    ("[1, 2]", "not a convbench manifest"),
    ("{ not json", "not a JSON file"),
])
def test_a_foreign_or_corrupt_manifest_is_one_clear_error(tmp_path, content, message):
    path = tmp_path / "manifest.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    with pytest.raises(UserError, match=message) as err:
        read_manifest(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_an_artifact_row_without_its_model_names_the_field(tmp_path):
    write_manifest(tmp_path / "manifest.json", manifest_at(tmp_path))
    doc = json.loads((tmp_path / "manifest.json").read_text())
    del doc["artifacts"][0]["model"]
    (tmp_path / "manifest.json").write_text(json.dumps(doc))
    with pytest.raises(UserError, match=r"manifest\.json: not a valid convbench record: artifacts\.0\.model"):
        read_manifest(tmp_path / "manifest.json")


def test_records_serialize_their_derived_values_only_as_attributes(tmp_path):
    artifact = manifest_at(tmp_path).artifacts[0]
    assert "ok" not in to_jsonable(artifact) and artifact.ok and artifact.label == "m/tflite_fp32/tflite_fp32"


_written = iter(range(10**6))


def _module(source: str, folder: Path) -> types.ModuleType:
    """A real module from source text, in a file (inspect reads the source back from it)."""
    import importlib.util

    path = folder / f"snippet_{next(_written)}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


BASE = textwrap.dedent('''
    """Module docstring."""
    def to_tflite(model, mode):
        """Convert it."""
        return [model, mode]  # a comment
''')


def test_code_fingerprint_ignores_comments_docstrings_and_layout(tmp_path):
    edited = BASE.replace('"""Convert it."""', '"""Convert it, now better explained."""')
    edited = edited.replace("# a comment", "# another comment").replace("[model, mode]", "[model,  mode]")
    edited = edited.replace('"""Module docstring."""', "# no docstring any more")
    base, other = _module(BASE, tmp_path), _module(edited, tmp_path)
    assert code_of(other.to_tflite) == code_of(base.to_tflite)
    assert code_of(other) == code_of(base)


def test_code_fingerprint_follows_code(tmp_path):
    changed = _module(BASE.replace("[model, mode]", "[mode, model]"), tmp_path)
    assert code_of(changed.to_tflite) != code_of(_module(BASE, tmp_path).to_tflite)
