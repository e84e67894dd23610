"""Peak memory of loading and running one (artifact, runtime, batch), each in a fresh child
process, minus a baseline child that only imports the runtime's libraries."""

from __future__ import annotations

import argparse
import functools
import json
import resource
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from convbench.errors import UserError

TIMEOUT_S = 600


@dataclass(frozen=True)
class MemoryResult:
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


def _gpu_memory_mib(runtime) -> tuple[float | None, str | None]:
    from convbench.benchmarks.runtimes.keras_tf import KerasRuntime

    if isinstance(runtime, KerasRuntime):
        from convbench.tfsetup import tf

        return tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20, "tensorflow peak"
    from convbench.benchmarks.runtimes.gpu import nvml_process_used_mib

    used = nvml_process_used_mib()
    return used, (None if used is None else "nvml process used, after runs")


def _child_main(argv: list[str]) -> dict:
    p = argparse.ArgumentParser(prog="python -m convbench.benchmarks.memory")
    p.add_argument("--runtime", required=True)
    p.add_argument("--artifact", type=Path)
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--threads", type=int)
    p.add_argument("--input-shape", help="per-item shape, e.g. 28,28,1 (default: the model's)")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--baseline", action="store_true", help="only import the runtime's modules")
    args = p.parse_args(argv)

    from convbench.benchmarks.runtimes import get_runtime

    runtime = get_runtime(args.runtime)
    if args.baseline:
        runtime.import_modules()
        return {"peak_rss_mib": _child_rss_mib()}
    session = runtime.load(args.artifact, device=args.device, threads=args.threads, batch=args.batch)
    shape = (args.batch, *map(int, args.input_shape.split(","))) if args.input_shape else session.input_shape
    x = np.random.default_rng(0).random(shape, dtype=np.float32)
    for _ in range(args.runs):
        session.predict(x)
    gpu_mib, source = _gpu_memory_mib(runtime) if args.device == "gpu" else (None, None)
    return {"peak_rss_mib": _child_rss_mib(), "device_used": session.device_used,
            "gpu_mib": gpu_mib, "gpu_mib_source": source}


def _run_child(args: list[str], what: str) -> dict:
    cmd = [sys.executable, "-m", "convbench.benchmarks.memory", *args]
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
        from convbench.benchmarks.runtimes import DeviceUnavailable

        raise (DeviceUnavailable if out.get("error_type") == "DeviceUnavailable" else UserError)(out["error"])
    raise RuntimeError(f"memory child for {what} exited {proc.returncode}:\n{proc.stderr[-3000:]}")


@functools.lru_cache(maxsize=None)
def measure_baseline_rss_mib(runtime_name: str) -> float:
    """Peak RSS of a fresh Python that imports only `runtime_name`'s modules (cached per process)."""
    return _run_child(["--runtime", runtime_name, "--baseline"], f"{runtime_name} baseline")["peak_rss_mib"]


def measure_peak_rss(runtime_name: str, artifact_path, batch: int = 1, threads: int | None = 1,
                     input_shape: tuple[int, ...] | None = None, device: str = "cpu", runs: int = 3) -> MemoryResult:
    """Load `artifact_path` with `runtime_name` in a fresh child, predict `runs` times on random
    input of `input_shape` (per item; default the model's), and report its peak RSS."""
    artifact = Path(artifact_path).resolve()
    args = ["--runtime", runtime_name, "--artifact", str(artifact), "--device", device,
            "--batch", str(batch), "--runs", str(runs)]
    if threads is not None:
        args += ["--threads", str(threads)]
    if input_shape is not None:
        args += ["--input-shape", ",".join(map(str, input_shape))]
    out = _run_child(args, f"{runtime_name} on {artifact.name}")
    baseline = measure_baseline_rss_mib(runtime_name)
    return MemoryResult(runtime=runtime_name, artifact=str(artifact), device=device, device_used=out["device_used"],
                        batch=batch, threads=threads, peak_rss_mib=out["peak_rss_mib"], baseline_rss_mib=baseline,
                        model_rss_mib=out["peak_rss_mib"] - baseline, gpu_mib=out["gpu_mib"],
                        gpu_mib_source=out["gpu_mib_source"])


def main(argv: list[str] | None = None) -> int:
    try:
        result = _child_main(sys.argv[1:] if argv is None else argv)
    except UserError as exc:  # DeviceUnavailable included: the parent re-raises the same kind
        print(json.dumps({"error": str(exc), "error_type": type(exc).__name__}))
        return 2
    print(json.dumps(result))  # the one line the parent reads
    return 0


if __name__ == "__main__":
    sys.exit(main())
