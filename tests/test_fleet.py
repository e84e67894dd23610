"""`convbench fleet` on a real local Ray cluster (a head and one more node, started once for the
four checks through tests/support/ray_cluster.py inside a network namespace with only loopback
and its own PID namespace, so nothing outlives it): two machine types benchmarked, both runs brought back,
stored and compared as one physical machine; a node killed mid-bench recorded as failed while
the other run is kept; `optimize --ray` bounded by --timeout, then built, then all cache
hits. Then the checks that need no cluster: a dead address, Ray missing, the
software comparison, prices and costs."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from convbench.core.errors import UserError
from convbench.core.fingerprint import sha256_file
from convbench.core.records import BENCH_FILE, load_run, read_record
from convbench.core.records.fleet import FLEET_FILE, FleetNode, FleetRun, SoftwareStamp
from convbench.fleet.compare import parse_prices, usd_per_million
from convbench.fleet.software import check_same_software
from tests.support.ray_cluster import CONVBENCH, SMALL_BENCH, Done, Step, fleet, on_cluster
from tests.support.tiny import copy_tiny_bench


@pytest.fixture(scope="module")
def on_one_cluster(tmp_path_factory, tiny_manifest, tiny_artifacts) -> dict[str, tuple[Done, Path]]:
    """The four cluster checks below, each in its own folder, run one after another on one
    cluster (a head of type a; a node of type b, labelled type c); the node killed last. Per
    check: its result and its folder."""
    from tests.support.images import write_image_folder

    folders = {name: tmp_path_factory.mktemp(name) for name in ("types", "optimize", "ctrl_c", "killed")}
    outs = {name: copy_tiny_bench(tiny_manifest.parent, folders[name] / "artifacts")
            for name in ("types", "ctrl_c", "killed")}
    # First a machine type no node has: one line listing the types found, nothing started. Then a
    # and b are custom resources (b on the second node), c is the second node's label: both ways
    # of naming a machine type, c benched.
    wrong = f"{fleet(outs['types'], '--machine-types', 'nope')}; echo rc=$?; "
    types = wrong + fleet(outs["types"], *SMALL_BENCH, "--machine-types", "a", "c", "--price", "a=0.10",
                          "--price", "c=0.40")
    # `optimize --ray`: the tiny net (8x8x1, three classes) as the user's model, on three classes
    # of 8x8 images; first bounded below the time the job needs, then built, then all cached.
    images = write_image_folder(folders["optimize"] / "three", classes=("a", "b", "c"), size=8,
                                splits=("train", "valid"))
    model = Path(shutil.copy(tiny_artifacts.keras, folders["optimize"] / "mine.keras"))
    out = folders["optimize"] / "artifacts"
    optimize = (f"{CONVBENCH} optimize --ray {{address}} --model {model} --data {images} --image-size 8 "
                f"--color-mode grayscale --variants tflite_fp32 --scaling-sides --out {out}")
    optimize_steps = (f"{optimize} --timeout 1; echo rc=$?; echo first run; {optimize}; echo rc=$?; echo second run; "
                      f"{optimize}; echo rc=$?")
    both = ("--machine-types", "a", "b")
    steps = {"types": Step(types, folders["types"]),
             "optimize": Step(optimize_steps, folders["optimize"]),
             "ctrl_c": Step(fleet(outs["ctrl_c"], *SMALL_BENCH, *both), folders["ctrl_c"], interrupt_after=2.0),
             "killed": Step(fleet(outs["killed"], *SMALL_BENCH, *both), folders["killed"], kill_node_after=3.0)}
    done = on_cluster(list(steps.values()), node_types=("b",), label_type="c")
    return {name: (d, folders[name] / "artifacts") for name, d in zip(steps, done)}


def test_a_fleet_benchmarks_each_machine_type_and_reports_one_physical_machine(on_one_cluster):
    done, out = on_one_cluster["types"]
    printed = done.stdout + done.stderr
    assert done.returncode == 0, printed[-3000:]
    assert "rc=2" in printed and "convbench: error: machine type(s) 'nope' match no alive node; types found: a, b, c" \
        in printed
    runs = sorted((out / "runs").iterdir())
    assert [r.name.rsplit("-", 1)[-1] for r in runs] == ["a", "c"], printed[-4000:]   # and no temporary
    for run_dir, machine_type in zip(runs, "ac"):
        node = read_record(run_dir / FLEET_FILE, FleetNode)
        assert node.machine_type == machine_type and node.accepted_differences == []
        assert node.bench_niceness == 0   # not Ray's worker priority (15): the tests run as root
        assert load_run(run_dir, require_manifest=True).latency and (run_dir / BENCH_FILE).is_file()
    (fleet_dir,) = (out / "fleets").iterdir()
    record = read_record(fleet_dir / FLEET_FILE, FleetRun)
    assert [(m.machine_type, m.status) for m in record.machines] == [("a", "stored"), ("c", "stored")], record
    assert record.shipped_files > 0 and record.bench_args == ["--quick", "--runtimes", "litert", "--suites", "latency",
                                                             "--batches", "1", "--repeat", "3"]
    # Both machines timed their rows in the fleet's 3 rounds: each ratio has an interval.
    assert all(len(r.repeat_p50_ms) == 3 for run_dir in runs for r in load_run(run_dir).latency)
    assert "ratio(s) distinguishable from noise" in printed, printed[-4000:]
    from convbench.store.db import connect, store_path
    from convbench.store.queries import list_runs

    with connect(store_path(out)) as con:
        stored = list_runs(con)
    assert sorted(r.run_id for r, _ in stored) == sorted(m.run_id for m in record.machines)
    assert len({m.machine_id for _, m in stored}) == 1     # one physical machine, said so:
    assert "m0 a and m1 c are one physical machine (same machine fingerprint" in printed, printed[-4000:]
    assert "$ per million" in printed and "cheapest m" in printed and "fastest m" in printed, printed[-4000:]
    assert "$ per million" in (fleet_dir / "cross-machine.md").read_text()   # and as a page, beside fleet.json
    assert (fleet_dir / "cross-machine.html").is_file()
    # The same runs read again, without prices: no cost anywhere.
    from convbench.cli import main

    assert main(["fleet-report", *map(str, runs), "--reference", "c"]) == 0


def test_a_node_killed_mid_bench_fails_its_machine_only(on_one_cluster):
    done, out = on_one_cluster["killed"]
    printed = done.stdout + done.stderr
    assert done.returncode == 1, printed[-3000:]
    (fleet_dir,) = (out / "fleets").iterdir()
    machines = {m.machine_type: m for m in read_record(fleet_dir / FLEET_FILE, FleetRun).machines}
    assert machines["a"].status == "stored" and machines["b"].status == "failed", machines
    assert "node" in machines["b"].reason.lower() and machines["b"].run_folder is None
    # Only a's run folder, nothing half-written (no hidden temporaries) anywhere in the folder.
    assert [p.name.rsplit("-", 1)[-1] for p in (out / "runs").iterdir()] == ["a"]
    assert not [p for p in out.rglob(".*") if p.name.endswith(".tmp")]
    assert "fleet: b: failed (" in printed
    assert len(done.left_on_nodes) == 1   # the killed node's (a later bench there removes it: remote.py)


def test_ctrl_c_cancels_the_remote_benches_and_writes_no_run(on_one_cluster):
    done, out = on_one_cluster["ctrl_c"]
    printed = done.stdout + done.stderr
    assert done.returncode == 130, printed[-3000:]
    assert "convbench: interrupted" in printed
    (fleet_dir,) = (out / "fleets").iterdir()
    machines = read_record(fleet_dir / FLEET_FILE, FleetRun).machines
    assert [(m.machine_type, m.status, m.reason) for m in machines] == [
        (t, "failed", "interrupted (Ctrl-C); its task was cancelled") for t in "ab"]
    assert not (out / "runs").exists() or not list((out / "runs").iterdir())
    # Each node's task was cancelled, not killed: it stopped its bench and removed its work folder.
    assert done.left_on_nodes == []


@pytest.mark.slow
def test_optimize_on_a_cluster_publishes_the_local_layout_then_sends_nothing(on_one_cluster):
    """`optimize --ray`: a user's tiny model's job runs as a Ray task (the model file and the data
    shipped through the object store); what it made comes back into the local cache layout with
    the node that made it; a second run is all cache hits, decided here, nothing sent."""
    from convbench.core.records import TrainedRecord, VariantRecord, read_manifest

    done, out = on_one_cluster["optimize"]
    model = out.parent / "mine.keras"
    # First bounded below the time the job needs: cancelled, exit 1, nothing of it published.
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


def test_a_dead_address_is_one_line_before_any_work(tiny_bench_copy, capsys):
    from convbench.cli import main

    pytest.importorskip("ray", reason="the ray extra is not installed (pip install 'convbench[ray]')")
    assert main(["fleet", "127.0.0.1:1", "--out", str(tiny_bench_copy), "--quick"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["convbench: error: cluster address 127.0.0.1:1: no Ray head reachable (Connection refused)"]
    assert not (tiny_bench_copy / "runs").exists() and not (tiny_bench_copy / "fleets").exists()


def test_without_ray_the_error_names_the_extra(tiny_bench_copy, capsys, monkeypatch):
    from convbench.cli import main

    monkeypatch.setitem(sys.modules, "ray", None)   # `import ray` then raises ImportError
    assert main(["fleet", "127.0.0.1:6379", "--out", str(tiny_bench_copy)]) == 2
    assert "pip install 'convbench[ray]'" in capsys.readouterr().err


def _stamp(**kw) -> SoftwareStamp:
    return SoftwareStamp(**{"convbench_version": "0.1.0", "git_commit": "abc", "git_dirty": False, "python": "3.11.7",
                            "libraries": {"onnxruntime": "1.32.0", "ray": "2.60.0"}, **kw})


def test_other_software_on_a_node_is_one_error_unless_accepted():
    driver = _stamp()
    node = _stamp(libraries={"onnxruntime": "1.31.0", "ray": "2.60.0"}, git_dirty=True)
    with pytest.raises(UserError) as err:
        check_same_software(driver, {"n1 (10.0.0.2)": _stamp(), "n2 (10.0.0.3)": node}, accept=False)
    assert str(err.value).startswith("node n2 (10.0.0.3) runs other software than this driver: convbench commit: "
                                     "abc here, abc+dirty there; onnxruntime: 1.31.0 here, 1.32.0 there"[:70])
    assert "onnxruntime: 1.32.0 here, 1.31.0 there" in str(err.value) and "--accept-software-mismatch" in str(err.value)
    accepted = check_same_software(driver, {"n2": node}, accept=True)
    assert accepted == {"n2": ["convbench commit: abc here, abc+dirty there", "onnxruntime: 1.32.0 here, 1.31.0 there"]}


def test_prices_and_cost_per_million():
    assert parse_prices(["c7i=0.36", "a=2"]) == {"c7i": 0.36, "a": 2.0}
    # $3.60 an hour serving 1000 inferences/s: 3.6 M inferences for $3.60, i.e. $1 per million.
    assert usd_per_million(3.6, 1000.0) == pytest.approx(1.0)
    for bad in ("c7i", "=1", "c7i=free", "c7i=0", "c7i=-1", "c7i=inf"):
        with pytest.raises(UserError, match="expected MACHINE_TYPE=USD_PER_HOUR"):
            parse_prices([bad])


def test_a_bad_price_is_refused_before_the_cluster_is_contacted(tiny_bench_copy, capsys):
    from convbench.cli import main

    assert main(["fleet", "127.0.0.1:1", "--out", str(tiny_bench_copy), "--price", "a=cheap"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "convbench: error: --price 'a=cheap': expected MACHINE_TYPE=USD_PER_HOUR with a price > 0, e.g. c7i=0.36"]


def test_records_without_built_on_still_load():
    """Artifacts and trained models written before `built_on` existed: built here, not recorded."""
    from convbench.core.records import ArtifactRecord, BuiltOn, from_jsonable, to_jsonable

    old = {"model": "m", "variant": "tflite_fp32", "format": "tflite_fp32", "technique": "none"}
    assert from_jsonable(ArtifactRecord, old, "record.json").built_on is None
    node = BuiltOn(hostname="n1", machine_id="f3dca601e7d33170", ray_node_id="8d61")
    made = ArtifactRecord(**old, built_on=node)
    assert from_jsonable(ArtifactRecord, json.loads(json.dumps(to_jsonable(made))), "x").built_on == node


def test_fleet_json_round_trips():
    node = FleetNode(machine_type="a", node_id="n", node_address="127.0.0.1", cluster_address="127.0.0.1:1",
                     software=_stamp())
    from convbench.core.records import from_jsonable, to_jsonable

    assert from_jsonable(FleetNode, json.loads(json.dumps(to_jsonable(node))), "x") == node


def test_only_what_the_bench_reads_is_shipped(tmp_path):
    from convbench.fleet.shipping import artifact_set

    out = tmp_path / "artifacts"
    for rel in ("manifest.json", "data/d.npz", "bases/b/x", "trained/lesson5_custom-ab12/m.keras",
                "trained/lesson5-cd34/m.keras", "optimized/lesson5_custom-ab12/v-ef/f.tflite",
                "scaling/lesson5_custom-28x28x1-99/f.tflite", "runs/r/bench.json", "results.duckdb", "logs/l.log",
                ".lock", "optimized/.x.tmp/f"):
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_bytes(rel.encode())
    everything = {f.path for f in artifact_set(out)}
    assert everything == {"manifest.json", "data/d.npz", "bases/b/x", "trained/lesson5_custom-ab12/m.keras",
                          "trained/lesson5-cd34/m.keras", "optimized/lesson5_custom-ab12/v-ef/f.tflite",
                          "scaling/lesson5_custom-28x28x1-99/f.tflite"}
    # One model without the scaling suite: lesson5's files stay home ("lesson5" is not "lesson5_custom").
    assert {f.path for f in artifact_set(out, ("lesson5_custom",), scaling=False)} == everything - {
        "trained/lesson5-cd34/m.keras", "scaling/lesson5_custom-28x28x1-99/f.tflite"}
