"""`convbench optimize|run --ray` on a real local Ray cluster (tests/support/ray_cluster.py):
bounded by --timeout, then built and published in the local layout with the node that built it,
then all cache hits with nothing sent; and the bad options, checked before any work."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from convbench.core.fingerprint import sha256_file
from convbench.core.records import read_record
from tests.support.ray_cluster import on_cluster


@pytest.mark.slow
def test_optimize_on_a_cluster_publishes_the_local_layout_then_sends_nothing(tiny_artifacts, tmp_path):
    """`optimize --ray`: a user's tiny model's job runs as a Ray task (the model file and the data
    shipped through the object store); what it made comes back into the local cache layout with
    the node that made it; a second run is all cache hits, decided here, nothing sent."""
    from convbench.core.records import TrainedRecord, VariantRecord, read_manifest
    from tests.support.images import write_image_folder

    # The tiny net (8x8x1, three classes) as the user's model, on three classes of 8x8 images.
    images = write_image_folder(tmp_path / "three", classes=("a", "b", "c"), size=8,
                                splits=("train", "valid"))
    model = Path(shutil.copy(tiny_artifacts.keras, tmp_path / "mine.keras"))
    out = tmp_path / "artifacts"
    optimize = (f"{sys.executable} -m convbench.cli optimize --ray {{address}} --model {model} --data {images} "
                f"--image-size 8 --color-mode grayscale --variants tflite_fp32 --scaling-sides --out {out}")
    # First bounded below the time the job needs: cancelled, exit 1, nothing of it published.
    done = on_cluster(out, tmp_path, [], node_types=("b",),
                      command=f"{optimize} --timeout 1; echo rc=$?; echo first run; {optimize}; echo rc=$?; "
                              f"echo second run; {optimize}; echo rc=$?")
    bounded, _, printed = done.stdout.partition("first run")   # the commands' stderr comes after all of it
    assert "rc=1" in bounded and "no result from the cluster within --timeout 1 s" in done.stderr, done.stderr[-3000:]
    printed += done.stderr
    first, _, second = printed.partition("second run")
    assert done.returncode == 0 and "rc=0" in first and "rc=0" in second, printed[-4000:]
    assert "optimize --ray: 1 job(s) sent to the cluster" in first and "mine: built on " in first, first[-3000:]
    assert "optimize --ray: all 1 job(s) cached here; nothing sent to the cluster" in second, second[-3000:]
    assert "sent to the cluster at" not in second and "built on" not in second

    manifest = read_manifest(out / "manifest.json")     # the local schema, every path relative
    assert {(a.variant, a.format) for a in manifest.artifacts} == {("keras_fp32", "keras"),
                                                                   ("tflite_fp32", "tflite_fp32")}
    for artifact in manifest.artifacts:
        path = manifest.artifact_path(artifact)
        assert path.is_file() and sha256_file(path) == artifact.sha256, artifact
        assert artifact.built_on is not None and artifact.built_on.ray_node_id and artifact.built_on.machine_id
        assert artifact.cached or artifact.format == "keras"   # the second run's manifest: every variant a cache hit
    (trained,) = manifest.trained
    folder = manifest.resolve(trained.folder)
    assert folder.parent == out / "trained" and trained.built_on == read_record(folder / "summary.json",
                                                                               TrainedRecord).built_on
    assert trained.source.path == str(model.resolve())   # the driver's file, not the node's copy of it
    (variant_folder,) = (out / "optimized").glob("mine-*/tflite_fp32-*")
    assert read_record(variant_folder / "record.json", VariantRecord).artifacts[0].built_on is not None
    assert not [p for p in out.rglob(".*") if p.name.endswith(".tmp")]   # published whole, no temporaries left
    assert done.left_on_nodes == []     # the node removed its work folder


@pytest.mark.parametrize("argv, line", [
    (["--ray", "127.0.0.1:1"], "cluster address 127.0.0.1:1: no Ray head reachable (Connection refused)"),
    (["--ray", "head"], "cluster address 'head': expected HOST:PORT of a Ray head (ray start --head --port=...)"),
    (["--ray", "127.0.0.1:1", "--workers", "2"],
     "--workers 2: not with --ray (each job is a Ray task asking for one CPU; the cluster decides how many run at "
     "once)"),
    (["--timeout", "60"], "--timeout: only with --ray"),
])
@pytest.mark.parametrize("command", ["optimize", "run"])
def test_bad_ray_options_are_one_line_before_any_work(tmp_path, capsys, command, argv, line):
    from convbench.cli import main

    pytest.importorskip("ray", reason="the ray extra is not installed (pip install 'convbench[ray]')")
    out = tmp_path / "artifacts"
    assert main([command, *argv, "--models", "lesson5_custom", "--out", str(out)]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [f"convbench: error: {line}"]
    assert not (out / "trained").exists() and not (out / "data").exists()


def test_optimize_without_ray_names_the_extra(tmp_path, capsys, monkeypatch):
    from convbench.cli import main

    monkeypatch.setitem(sys.modules, "ray", None)   # `import ray` then raises ImportError
    assert main(["optimize", "--ray", "127.0.0.1:6379", "--out", str(tmp_path / "artifacts")]) == 2
    assert "pip install 'convbench[ray]'" in capsys.readouterr().err
