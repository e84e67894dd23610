"""The one runtime interface, used by the optimize stage's accuracy pass and by every benchmark
row alike: load an artifact on an explicit device, then prepare (untimed), run (the only timed
step) and postprocess (untimed). A runtime also says how the default benchmark matrix runs it
(its Plans), so adding a runtime touches its module and the registry only."""

from __future__ import annotations

import abc
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from convbench.core.errors import UserError
from convbench.core.formats import family_of_path

DEVICES = ("cpu", "gpu")


class DeviceUnavailable(UserError):
    """The asked device cannot run this runtime here, or a session would silently land on
    another device. Benchmarks catch it to skip a row and print its message as the reason."""


def package_version(*dists: str) -> str:
    """'dist x.y.z' of the first installed distribution (onnxruntime or onnxruntime-gpu, ...)."""
    for dist in dists:
        try:
            return f"{dist} {metadata.version(dist)}"
        except metadata.PackageNotFoundError:
            continue
    return f"{dists[0]} (not installed)"


@dataclass(frozen=True)
class Plan:
    """How the benchmark matrix runs a runtime. batches: 'all' (the option's batches), 'keras'
    (KERAS_BATCHES present in the option's batches, else the smallest), 'min'. formats: None =
    every format the runtime loads."""

    threads: tuple[int | None, ...] = (1,)
    batches: str = "all"
    formats: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Plans:
    """Plans for the baseline artifacts (the trained model and its post-training conversions)
    and for technique variants (pruned / clustered / QAT), default and --quick. A runtime with
    no quick plans is left out of --quick unless named with --runtimes."""

    baseline: tuple[Plan, ...] = (Plan(),)
    technique: tuple[Plan, ...] = ()
    quick: tuple[Plan, ...] = ()
    in_default_matrix: bool = True


class Session(abc.ABC):
    """One loaded model at a fixed batch. Subclasses set input_shape/output_shape (with batch),
    device_used (where it really runs) and providers (what really executes it)."""

    runtime: str
    batch: int
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    device_used: str
    providers: tuple[str, ...] = ()

    def prepare(self, x: np.ndarray) -> Any:
        """Untimed: check x (float32 NHWC at the load batch) and convert it to the runtime's feed."""
        x = np.asarray(x)
        if x.dtype != np.float32 or tuple(x.shape) != self.input_shape:
            raise ValueError(f"{self.runtime}: expected float32 input of shape {self.input_shape}, "
                             f"got {x.dtype} {tuple(x.shape)}")
        return self._prepare(np.ascontiguousarray(x))

    def _prepare(self, x: np.ndarray) -> Any:
        return x

    @abc.abstractmethod
    def run(self, feed: Any) -> Any:
        """Timed: one inference on a prepared feed; returns the raw output, already computed."""

    def postprocess(self, raw: Any) -> np.ndarray:
        """Untimed: the raw output as float32 (dequantized where the model outputs int8)."""
        return np.asarray(raw, dtype=np.float32)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.postprocess(self.run(self.prepare(x)))

    def predict_all(self, x: np.ndarray) -> np.ndarray:
        """Outputs for every image of `x`, in load-batch chunks (the last one zero-padded): the
        accuracy pass of the optimize stage and of every latency row."""
        outputs = []
        for start in range(0, len(x), self.batch):
            chunk = x[start:start + self.batch]
            pad = self.batch - len(chunk)
            if pad:
                chunk = np.concatenate([chunk, np.zeros((pad, *chunk.shape[1:]), chunk.dtype)])
            outputs.append(self.predict(chunk)[:self.batch - pad])
        return np.concatenate(outputs)

    def describe(self) -> dict[str, Any]:
        return {"runtime": self.runtime, "batch": self.batch, "device_used": self.device_used,
                "providers": list(self.providers), "input_shape": list(self.input_shape),
                "output_shape": list(self.output_shape)}


class Runtime(abc.ABC):
    """A way to execute an artifact. Instances live in the RUNTIMES registry."""

    name: str
    formats: tuple[str, ...]            # artifact families it loads: keras | tflite | onnx
    devices: tuple[str, ...] = ("cpu",)
    plans: Plans = Plans()

    @abc.abstractmethod
    def version(self) -> str: ...

    @abc.abstractmethod
    def import_modules(self) -> None:
        """Import what load() needs and nothing else (the memory baseline runs only this)."""

    @abc.abstractmethod
    def _load(self, path: Path, device: str, threads: int | None, batch: int) -> Session: ...

    def _gpu_check(self) -> tuple[bool, str]:
        """Runtime-specific GPU check, called only once the machine is known to have a GPU."""
        return False, f"{self.name} has no GPU support"

    def available(self, device: str) -> tuple[bool, str]:
        """(True, '') when this runtime can run on `device` here, else (False, why)."""
        if device not in self.devices:
            return False, f"runtime {self.name!r} runs only on {'/'.join(self.devices)}, not {device!r}"
        if device == "gpu":
            from convbench.core.runtimes.gpu import gpu_available

            ok, why = gpu_available()
            return self._gpu_check() if ok else (False, why)
        return True, ""

    def load(self, path, device: str = "cpu", threads: int | None = None, batch: int = 1) -> Session:
        path = Path(path)
        if device not in DEVICES:
            raise UserError(f"device {device!r}: expected one of {DEVICES}")
        if not path.exists():
            raise UserError(f"{path}: no such artifact")
        fmt = family_of_path(path)
        if fmt not in self.formats:
            raise UserError(f"{path}: runtime {self.name!r} loads {'/'.join(self.formats)} artifacts, not {fmt}")
        if batch < 1 or (threads is not None and threads < 1):
            raise UserError(f"batch={batch}, threads={threads}: both must be >= 1 (threads None = runtime default)")
        ok, why = self.available(device)
        if not ok:
            raise DeviceUnavailable(why)
        return self._load(path, device, threads, batch)


def single_io(name: str, path: Path, n_inputs: int, n_outputs: int) -> None:
    """The benchmarks feed one image tensor and read one score tensor."""
    if n_inputs != 1 or n_outputs != 1:
        raise UserError(f"{path}: {name} found {n_inputs} inputs and {n_outputs} outputs; expected 1 and 1")
