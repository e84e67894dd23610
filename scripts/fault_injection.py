"""Fault injection (not part of `make test`): SIGKILL `convbench optimize` and `convbench bench`
at random moments, then check that nothing finished-looking is corrupt or misleading, that the
next run removes every temporary file and exits 0, and that two concurrent optimize runs on one
folder leave a manifest whose hashes all match the files.

    .venv/bin/python scripts/fault_injection.py --optimize-trials 20 --bench-trials 20 --out /tmp/fi

Each optimize trial uses its own seed (so its data split and training are new work), runs a small
selection, and is killed after a random share of a measured full run's time; trials go on until
the asked number of runs were really killed mid-run."""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from convbench.core.errors import UserError
from convbench.core.fingerprint import sha256_file
from convbench.core.records import (MANIFEST_FILE, TrainedRecord, VariantRecord, load_run, read_manifest,
                               read_record)

SELECTION = ["--models", "lesson4_strided", "--epochs", "1", "--workers", "1",
             "--variants", "tflite_fp32", "tflite_int8", "onnx_fp32", "onnx_dynamic", "pruned_50"]
BENCH = ["--quick", "--models", "lesson4_strided", "--runtimes", "litert", "onnxruntime", "--batches", "1"]


def convbench(*args: str) -> list[str]:
    return [sys.executable, "-m", "convbench.cli", *args]


LOGS: list[Path] = []


def run(cmd: list[str], kill_after_s: float | None = None) -> tuple[int, float]:
    """Run a command, its output to a log file of its own; SIGKILL it after `kill_after_s` (its
    whole process group, workers included). Returns (exit status, seconds)."""
    log = Path(cmd[cmd.index("--out") + 1]).parent / "logs" / f"{len(LOGS):03d}-{cmd[3]}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    LOGS.append(log)
    started = time.monotonic()
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            proc.wait(timeout=kill_after_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return proc.returncode, time.monotonic() - started


def last_lines(n: int = 5) -> list[str]:
    """The end of the last command's log: why a resumed run did not exit 0."""
    return LOGS[-1].read_text(errors="replace").strip().splitlines()[-n:]


def temporaries(out: Path) -> list[Path]:
    return [p for p in out.rglob(".*") if p.name.endswith(".tmp") or p.name.startswith(".scratch-")]


def problems(out: Path) -> list[str]:
    """Every finished-looking file that is corrupt or says something untrue about the files."""
    found = []
    manifest_path = out / MANIFEST_FILE
    if manifest_path.exists():
        try:
            manifest = read_manifest(manifest_path)
        except UserError as exc:
            return [f"manifest unreadable: {exc}"]
        for artifact in manifest.artifacts:
            path = manifest.artifact_path(artifact) if artifact.path else None
            if path is not None and (not path.is_file() or sha256_file(path) != artifact.sha256):
                found.append(f"manifest hash does not match {path}")
    for record_path in out.glob("optimized/*/*/record.json"):
        try:
            record = read_record(record_path, VariantRecord)
        except UserError as exc:
            found.append(f"corrupt {record_path}: {exc}")
            continue
        for artifact in record.artifacts:
            path = record_path.parent / artifact.path if artifact.path else None
            if path is not None and (not path.is_file() or sha256_file(path) != artifact.sha256):
                found.append(f"record hash does not match {path}")
    for summary in out.glob("trained/*/summary.json"):
        try:
            read_record(summary, TrainedRecord)
        except UserError as exc:
            found.append(f"corrupt {summary}: {exc}")
        for name in (TrainedRecord.MODEL_FILE, TrainedRecord.INFERENCE_FILE, TrainedRecord.REFERENCE_FILE):
            if not (summary.parent / name).is_file():
                found.append(f"{summary.parent} lacks {name}")
    for run_dir in (out / "runs").glob("*") if (out / "runs").is_dir() else []:
        if run_dir.name.startswith("."):
            continue
        try:
            load_run(run_dir, require_manifest=True)
        except UserError as exc:
            found.append(f"published run folder is not complete: {exc}")
    return found


def kill_trials(command: Callable[[int], list[str]], out: Path, trials: int, full_s: float,
                rng: random.Random) -> list[dict]:
    """Until `trials` runs were really killed mid-run: kill `command(trial)` after a random share of
    `full_s`, look for corrupt or misleading files, run it again to its end, look again."""
    results: list[dict] = []
    for trial in range(3 * trials):
        if sum(r["killed_exit"] == -signal.SIGKILL for r in results) >= trials:
            break
        cmd = command(trial)
        kill_s = rng.uniform(0.5, 0.95 * full_s)
        killed_rc, _ = run(cmd, kill_s)
        corrupt = problems(out)
        resumed_rc, _ = run(cmd)
        results.append({"trial": trial, "kill_after_s": round(kill_s, 1), "killed_exit": killed_rc,
                        "corrupt_after_kill": corrupt, "resumed_exit": resumed_rc,
                        "resumed_log_end": last_lines() if resumed_rc else [],
                        "corrupt_after_resume": problems(out), "temporaries_after_resume": len(temporaries(out))})
        print(json.dumps(results[-1]), flush=True)
    return results


def optimize_trials(out: Path, trials: int, rng: random.Random) -> list[dict]:
    run(convbench("optimize", *SELECTION, "--seed", "1000", "--out", str(out)))  # builds the shared scaling cache
    _, full_s = run(convbench("optimize", *SELECTION, "--seed", "1001", "--out", str(out)))  # a trial's own work
    # each trial its own seed: new work, the same command killed and then resumed
    return kill_trials(lambda trial: convbench("optimize", *SELECTION, "--seed", str(trial + 1), "--out", str(out)),
                       out, trials, full_s, rng)


def bench_trials(out: Path, trials: int, rng: random.Random) -> list[dict]:
    run(convbench("optimize", *SELECTION, "--seed", "1000", "--out", str(out)))  # the manifest to bench
    run(convbench("bench", *BENCH, "--out", str(out)))  # builds what a first bench builds
    _, full_s = run(convbench("bench", *BENCH, "--out", str(out)))
    return kill_trials(lambda trial: convbench("bench", *BENCH, "--out", str(out)), out, trials, full_s, rng)


def concurrent_trial(out: Path) -> dict:
    """Two optimize runs started together on one folder (new seed: real work for both)."""
    cmd = convbench("optimize", *SELECTION, "--seed", "2000", "--out", str(out))
    procs = [subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(2)]
    exits = [p.wait() for p in procs]
    return {"exits": exits, "problems": problems(out), "temporaries": len(temporaries(out))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--optimize-trials", type=int, default=20)
    parser.add_argument("--bench-trials", type=int, default=20)
    parser.add_argument("--out", type=Path, default=Path("/tmp/convbench-fault-injection"))
    parser.add_argument("--seed", type=int, default=0, help="of the random kill moments")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    summary = {"optimize": optimize_trials(args.out / "optimize", args.optimize_trials, rng),
               "bench": bench_trials(args.out / "bench", args.bench_trials, rng),
               "concurrent": concurrent_trial(args.out / "concurrent")}
    bad = 0
    for stage in ("optimize", "bench"):
        trials = summary[stage]
        misleading = sum(bool(t["corrupt_after_kill"] or t["corrupt_after_resume"]) for t in trials)
        left = sum(t["temporaries_after_resume"] > 0 for t in trials)
        failed = sum(t["resumed_exit"] != 0 for t in trials)
        killed = sum(t["killed_exit"] == -signal.SIGKILL for t in trials)
        print(f"{stage}: {len(trials)} trials, {killed} killed mid-run, {misleading} with corrupt or misleading files, "
              f"{left} with temporaries after the next run, {failed} resumed runs not exiting 0")
        bad += misleading + left + failed
    c = summary["concurrent"]
    print(f"concurrent optimize: exits {c['exits']}, {len(c['problems'])} manifest/file mismatches, "
          f"{c['temporaries']} temporaries")
    bad += len(c["problems"]) + sum(e != 0 for e in c["exits"])
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
