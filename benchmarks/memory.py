"""Peak memory of loading and running one (artifact, runtime, batch), each in a fresh child
process, minus a baseline child that only imports the runtime's libraries. measure_peak_rss_batches
runs several batches in one fresh child, one phase each, and reports each phase's peak apart."""

from __future__ import annotations

import argparse
import functools
import gc
import json
import resource
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from convbench.core.child import child_python
from convbench.core.errors import UserError

TIMEOUT_S = 600


@dataclass(frozen=True)
class PeakRss:
    """One phase of a memory child (a measurement; rows.memory_result makes the record)."""

    runtime: str
    artifact: str
    device: str
    device_used: str
    batch: int
    threads: int | None
    peak_rss_mib: float  # high-water RSS (VmHWM) of the child that loaded the model and ran it
    baseline_rss_mib: float  # high-water RSS of a child that only imported the runtime's modules
    model_rss_mib: float  # peak - baseline: what the model, its session and the runs added
    gpu_mib: float | None = None
    gpu_mib_source: str | None = None  # "tensorflow peak" or "nvml process used, after runs"
    peak_reset: bool | None = None  # later phases of one child: was the high-water mark reset before it?


def _child_rss_mib() -> float:
    """This process's peak RSS since its exec, in MiB.

    Not getrusage(RUSAGE_SELF).ru_maxrss: Linux carries the parent's high-water mark across
    fork+exec into it (a parent holding 500 MB made a 11 MiB child report 526 MiB; a parent with
    TensorFlow loaded made every child report ~884 MiB). VmHWM belongs to the exec'd address
    space only. ru_maxrss (KiB on Linux) is the fallback where /proc is missing."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # "VmHWM:   10940 kB"
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _reset_peak_rss() -> bool:
    """Set this process's VmHWM back to its current RSS (Linux >= 4.0: write 5 to clear_refs),
    so the next phase's peak is its own. False where the kernel or sandbox refuses."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _gpu_memory_mib(runtime) -> tuple[float | None, str | None]:
    from convbench.core.runtimes.keras_tf import KerasRuntime

    if isinstance(runtime, KerasRuntime):
        from convbench.core.tfsetup import tf

        return tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20, "tensorflow peak"
    from convbench.core.runtimes.gpu import nvml_process_used_mib

    used = nvml_process_used_mib()
    return used, (None if used is None else "nvml process used, after runs")


def _child_main(argv: list[str]) -> dict:
    # The child process of _run_child (internal, not a user command line): its options are the
    # parent's protocol; it answers with one JSON line on stdout.
    p = argparse.ArgumentParser(prog="python -m convbench.benchmarks.memory")
    p.add_argument("--runtime", required=True)
    p.add_argument("--artifact", type=Path)
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch", type=int, action="append",
                   help="batch size; repeat it to run several batches, one phase each, in this order")
    p.add_argument("--threads", type=int)
    p.add_argument("--input-shape", help="per-item shape, e.g. 28,28,1 (default: the model's)")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--baseline", action="store_true", help="only import the runtime's modules")
    args = p.parse_args(argv)

    from convbench.core.runtimes import get_runtime

    runtime = get_runtime(args.runtime)
    if args.baseline:
        runtime.import_modules()
        return {"peak_rss_mib": _child_rss_mib()}
    phases, reset_ok, session = [], True, None
    for batch in args.batch or [1]:
        if session is not None:   # the last batch's session is freed before the peak is reset
            session = None
            gc.collect()
            reset_ok = _reset_peak_rss() and reset_ok
        session = runtime.load(args.artifact, device=args.device, threads=args.threads, batch=batch)
        shape = (batch, *map(int, args.input_shape.split(","))) if args.input_shape else session.input_shape
        x = np.random.default_rng(0).random(shape, dtype=np.float32)
        for _ in range(args.runs):
            session.predict(x)
        phases.append({"batch": batch, "peak_rss_mib": _child_rss_mib()})
    gpu_mib, source = _gpu_memory_mib(runtime) if args.device == "gpu" else (None, None)
    return {"peak_rss_mib": phases[-1]["peak_rss_mib"], "device_used": session.device_used,
            "gpu_mib": gpu_mib, "gpu_mib_source": source, "phases": phases, "peak_reset": reset_ok}


def _run_child(args: list[str], what: str) -> dict:
    cmd = child_python("-m", "convbench.benchmarks.memory", *args)
    # subprocess.run blocks in wait(): no polling loop in the parent.
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S)
    lines = proc.stdout.strip().splitlines()
    try:
        out = json.loads(lines[-1]) if lines else {}
    except json.JSONDecodeError:
        out = {}
    if proc.returncode == 0 and "peak_rss_mib" in out:
        return out
    if "error" in out:
        from convbench.core.runtimes import DeviceUnavailable

        raise (DeviceUnavailable if out.get("error_type") == "DeviceUnavailable" else UserError)(out["error"])
    raise RuntimeError(f"memory child for {what} exited {proc.returncode}:\n{proc.stderr[-3000:]}")


@functools.cache
def measure_baseline_rss_mib(runtime_name: str) -> float:
    """Peak RSS of a fresh Python that imports only `runtime_name`'s modules (cached per process)."""
    return _run_child(["--runtime", runtime_name, "--baseline"], f"{runtime_name} baseline")["peak_rss_mib"]


def measure_peak_rss(runtime_name: str, artifact_path, batch: int = 1, threads: int | None = 1,
                     input_shape: tuple[int, ...] | None = None, device: str = "cpu", runs: int = 3) -> PeakRss:
    """Load `artifact_path` with `runtime_name` in a fresh child, predict `runs` times on random
    input of `input_shape` (per item; default the model's), and report its peak RSS."""
    return measure_peak_rss_batches(runtime_name, artifact_path, (batch,), threads, input_shape, device, runs)[0]


def measure_peak_rss_batches(runtime_name: str, artifact_path, batches, threads: int | None = 1,
                             input_shape: tuple[int, ...] | None = None, device: str = "cpu",
                             runs: int = 3) -> list[PeakRss]:
    """One fresh child loads `artifact_path` at each batch in turn (a phase each: load, `runs`
    predictions) and reports each phase's peak RSS apart: the first phase's is a fresh process's;
    before each later phase the previous session is dropped and the high-water mark reset to
    the current RSS (what the allocator kept stays counted). Cheaper than a child per batch:
    one interpreter start and library import. GPU memory is read once, after the last phase."""
    artifact = Path(artifact_path).resolve()
    args = ["--runtime", runtime_name, "--artifact", str(artifact), "--device", device, "--runs", str(runs)]
    for b in batches:
        args += ["--batch", str(b)]
    if threads is not None:
        args += ["--threads", str(threads)]
    if input_shape is not None:
        args += ["--input-shape", ",".join(map(str, input_shape))]
    out = _run_child(args, f"{runtime_name} on {artifact.name}")
    baseline = measure_baseline_rss_mib(runtime_name)
    results = []
    for i, phase in enumerate(out["phases"]):
        last = i == len(out["phases"]) - 1
        results.append(PeakRss(
            runtime=runtime_name, artifact=str(artifact), device=device, device_used=out["device_used"],
            batch=phase["batch"], threads=threads, peak_rss_mib=phase["peak_rss_mib"], baseline_rss_mib=baseline,
            model_rss_mib=phase["peak_rss_mib"] - baseline, gpu_mib=out["gpu_mib"] if last else None,
            gpu_mib_source=out["gpu_mib_source"] if last else None,
            peak_reset=out["peak_reset"] if i else None))
    return results


def main(argv: list[str] | None = None) -> int:
    try:
        result = _child_main(sys.argv[1:] if argv is None else argv)
    except UserError as exc:  # DeviceUnavailable included: the parent re-raises the same kind
        print(json.dumps({"error": str(exc), "error_type": type(exc).__name__}))
        return 2
    print(json.dumps(result))  # the one line the parent reads
    return 0


if __name__ == "__main__":   # _run_child's child process only, not a user command line
    sys.exit(main())
