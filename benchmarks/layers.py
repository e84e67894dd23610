"""Per-layer latency at batch 1 of a .tflite (LiteRT + XNNPACK) or .onnx (ONNX Runtime) file:
time, share of the whole model, ops and achieved ops/s per layer, and how well the layers add
up to the whole model timed the same way (the layers suite, benchmarks/test_layers.py).

LiteRT's Python API has no op profiler (ai-edge-litert 2.3: the interpreter wrapper exposes no
profiler, `profiling_info_pb2` is only the C++ benchmark tool's output format), so each
operator is cut into a single-op model (tflite_graph.single_op_model: same tensors,
quantization and constant buffers), fed the intermediate values of a real run of the whole
model, and timed with XNNPACK like the whole model, interleaved with it. Each invoke costs a
fixed overhead (Python call, interpreter, delegate dispatch) that the whole model pays once and
N single-op models pay N times: it is measured on a one-element ADD model and subtracted from
every layer; the check is sum(layers) + one overhead vs the whole model. Measured on lesson5
(Zen 5, 1 thread): 0.97-1.03 for fp32, int8, dynamic, fp16 and pruned_80.

On any file: convbench inspect layers MODEL.tflite|MODEL.onnx [--threads N] [--onnx-method profiler|sliced]
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from convbench.core.records import LayerTiming


@dataclass(frozen=True)
class LayerProfile:
    """What one profiling measured (the layers suite adds the row's identity: LayerProfileResult)."""

    method: str
    layers: list[LayerTiming]
    whole_us: float       # median of the whole model, timed like the benchmark (no profiler)
    overhead_us: float    # one run's fixed cost, measured on a one-element model
    providers: tuple[str, ...] = ()
    notes: list[str] = field(default_factory=list)
    resolution_us: float = 0.0   # per layer: how far one layer's time may be off by the method itself
    # The method times kernels only (ORT's profiler): the executor's time between nodes is in no
    # layer and differs by machine (their sum was 0.85-1.03 of the whole on a Zen 5, 0.69-0.77 on
    # a Zen 4, one thread), so only a sum above the whole says the layers are wrong.
    kernels_only: bool = False

    def explains_whole(self, relative: float) -> bool:
        """The layers add up to the whole within `relative` (plus each layer's resolution); for a
        kernels-only method, they do not add up to more than the whole."""
        excess = self.sum_ratio - 1
        return (excess if self.kernels_only else abs(excess)) <= self.tolerance(relative)

    @property
    def sum_ratio(self) -> float:
        return (sum(layer.time_us for layer in self.layers) + self.overhead_us) / self.whole_us

    def tolerance(self, relative: float) -> float:
        """|sum_ratio - 1| allowed: `relative`, plus every layer's resolution."""
        return relative + self.resolution_us * len(self.layers) / self.whole_us


def layer_timing(index: int, name: str, op_type: str, time_us: float, whole_us: float, counted) -> LayerTiming:
    return LayerTiming(index=index, name=name, op_type=op_type, time_us=time_us, share=time_us / whole_us,
                       ops=counted.ops_real, ops_dense=counted.ops_dense)


def interleaved_medians(runs: dict[str, callable], budget_s: float = 1.5, reps: int = 5,
                        max_rounds: int = 400) -> dict[str, float]:
    """Median µs per call of each callable, timed in rounds of `reps` calls each so that slow
    drift (another process on the shared CPU, clock changes) hits every callable alike."""
    samples = {k: [] for k in runs}
    for fn in runs.values():  # warm-up
        fn()
    deadline = time.perf_counter() + budget_s
    rounds = 0
    while rounds < max_rounds and (rounds < 10 or time.perf_counter() < deadline):
        for key, fn in runs.items():
            out = samples[key]
            for _ in range(reps):
                t0 = time.perf_counter()
                fn()
                out.append(time.perf_counter() - t0)
        rounds += 1
    return {k: float(np.median(v)) * 1e6 for k, v in samples.items()}


def _quiet_interpreter(**kwargs):
    from ai_edge_litert.interpreter import Interpreter

    with warnings.catch_warnings():  # preserve_all_tensors warns that it is for debugging
        warnings.simplefilter("ignore", UserWarning)
        return Interpreter(**kwargs)


def trivial_tflite() -> bytes:
    """A one-element ADD: what one invoke costs when there is no work."""
    from convbench.benchmarks.tflite_graph import Builder

    b = Builder("invoke overhead")
    x = b.tensor("x", [1, 1], "float32")
    c = b.tensor("c", [1, 1], "float32", np.ones((1, 1), np.float32))
    y = b.tensor("y", [1, 1], "float32")
    b.op("ADD", [x, c], [y], b.options("AddOptionsT"), "AddOptions")
    return b.build([x], [y])


def sample_input(shape, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random([1, *[int(d) for d in shape[1:]]], dtype=np.float32)


def profile_tflite(path, threads: int = 1, x: np.ndarray | None = None, budget_s: float = 1.5) -> LayerProfile:
    from convbench.benchmarks import tflite_graph as tg
    from convbench.core.runtimes.int8_io import quantize_input

    path = Path(path)
    model = tg.read_model(path)
    ops = tg.graph_ops(model)
    # Intermediate values of one real run feed the single-op models.
    full = _quiet_interpreter(model_path=str(path), experimental_preserve_all_tensors=True)
    detail = full.get_input_details()[0]
    x = sample_input(detail["shape"]) if x is None else x
    full.resize_tensor_input(detail["index"], list(x.shape))
    full.allocate_tensors()
    full.set_tensor(detail["index"], quantize_input(x, full.get_input_details()[0]))
    full.invoke()

    whole = _quiet_interpreter(model_path=str(path), num_threads=threads)
    whole.resize_tensor_input(detail["index"], list(x.shape))
    whole.allocate_tensors()
    whole.set_tensor(detail["index"], quantize_input(x, whole.get_input_details()[0]))
    trivial = _quiet_interpreter(model_content=trivial_tflite(), num_threads=threads)
    trivial.allocate_tensors()
    runs = {"whole": whole.invoke, "overhead": trivial.invoke}
    interpreters = [whole, trivial]
    folded = [f"{op.index}:{op.op_type}" for op in ops if op.folded]
    notes = [f"{len(folded)} ops with only constant inputs ({', '.join(folded)}): computed once at init, "
             "not timed"] if folded else []
    for op in ops:
        if op.folded:
            continue
        content, inputs = tg.single_op_model(model, op.index)
        interp = _quiet_interpreter(model_content=content, num_threads=threads)
        interp.allocate_tensors()
        for d, t in zip(interp.get_input_details(), inputs):
            interp.set_tensor(d["index"], full.get_tensor(t))
        interpreters.append(interp)
        runs[op.index] = interp.invoke
    medians = interleaved_medians(runs, budget_s)
    overhead, whole_us = medians.pop("overhead"), medians.pop("whole")
    layers = [layer_timing(op.index, op.name, op.op_type, medians[op.index] - overhead, whole_us, tg.op_ops(model, op))
              for op in ops if not op.folded]
    delegated = "DELEGATE" in {d["op_name"] for d in whole._get_ops_details()}
    method = ("single-op models cut from the flatbuffer, fed the whole model's intermediate tensors, "
              f"timed interleaved with the whole model ({'XNNPACK' if delegated else 'builtin kernels'}); "
              "per-invoke overhead of a one-element ADD subtracted from each layer")
    # Each layer's time has a one-element ADD's invoke overhead subtracted; a real op's own
    # invoke overhead differs from that by up to about half of it: that is the method's
    # resolution per layer (it matters only for models of a few µs, e.g. tests' toy models).
    return LayerProfile(method, layers, whole_us, overhead, ("XNNPACK", "builtin") if delegated else ("builtin",),
                        notes, resolution_us=overhead / 2)


def profile(path, threads: int = 1, budget_s: float = 1.5, onnx_method: str = "profiler") -> LayerProfile:
    """LiteRT: single-op models. ONNX: ORT's profiler, or onnx_method="sliced" (one-node models)."""
    path = Path(path)
    if path.suffix == ".onnx":
        from convbench.benchmarks.layers_onnx import profile_onnx

        return profile_onnx(path, threads, method=onnx_method, budget_s=budget_s)
    if path.suffix == ".tflite":
        return profile_tflite(path, threads, budget_s=budget_s)
    raise ValueError(f"{path}: expected a .tflite or .onnx file")
