"""GPU roofs, where a GPU answers: large fp32 and fp16 GEMMs through ONNX Runtime's CUDA EP (the
onnxruntime rows' runtime) and TensorFlow (the Keras rows' runtime), and a device-memory triad.
Inputs and outputs stay on the GPU (ORT I/O binding; TF tensors placed on /GPU:0), so the probes
time the kernels, not PCIe copies. A probe whose runtime has no GPU here is listed in
`not_measured` with the reason."""

from __future__ import annotations

import time

import numpy as np

from convbench.benchmarks.roof_probes import Probe
from convbench.core.records import BandwidthMeasurement, DeviceRoofs

GEMM_N = 4096                    # 137 Gop per call: milliseconds on any data-centre GPU
TRIAD_ELEMENTS = 64 * 2**20      # 3 x 256 MiB fp32 arrays, beyond any GPU's L2


def measure_gpu_roofs(name: str, budget) -> DeviceRoofs:
    from convbench.benchmarks.roofs import time_probes

    start = time.perf_counter()
    probes, bandwidth, not_measured = {}, [], {}
    for make in (_ort_probes, _tf_probes):
        try:
            found, streams = make()
        except Exception as exc:  # the runtime has no GPU path here: say which and why
            not_measured[make.__name__.strip("_")] = f"{type(exc).__name__}: {str(exc)[:300]}"
            continue
        probes.update({p.method: p for p in found})
        bandwidth += streams
    not_measured.setdefault("bf16", "no benchmarked row computes in bf16")
    return DeviceRoofs(device="gpu", name=name, usable_cores=1, measurements=time_probes(probes, budget),
                       bandwidth=bandwidth, not_measured=not_measured, seconds=round(time.perf_counter() - start, 2))


def _ort_probes() -> tuple[list[Probe], list[BandwidthMeasurement]]:
    import onnxruntime as ort
    from onnx import TensorProto, helper

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        raise RuntimeError(f"onnxruntime has no CUDAExecutionProvider (has {ort.get_available_providers()})")
    n, probes = GEMM_N, []
    for precision, elem, dtype in (("fp32", TensorProto.FLOAT, np.float32), ("fp16", TensorProto.FLOAT16, np.float16)):
        graph = helper.make_graph([helper.make_node("MatMul", ["a", "b"], ["y"])], "gemm",
                                  [helper.make_tensor_value_info(x, elem, [n, n]) for x in "ab"],
                                  [helper.make_tensor_value_info("y", elem, [n, n])])
        run = _ort_bound(graph, {x: np.random.default_rng(0).random((n, n)).astype(dtype) for x in "ab"})
        probes.append(Probe(precision, f"onnxruntime CUDA MatMul {precision} {n}x{n}x{n}", None, 2 * n**3, run))
    nodes = [helper.make_node("Mul", ["c", "s"], ["sc"]), helper.make_node("Add", ["b", "sc"], ["y"])]
    triad = helper.make_graph(nodes, "triad", [helper.make_tensor_value_info(x, TensorProto.FLOAT, [TRIAD_ELEMENTS])
                                               for x in "bc"],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [TRIAD_ELEMENTS])],
                              initializer=[helper.make_tensor("s", TensorProto.FLOAT, [], [3.0])])
    run = _ort_bound(triad, {x: np.ones(TRIAD_ELEMENTS, np.float32) for x in "bc"})
    return probes, [_bandwidth("onnxruntime CUDA triad y = b + s*c (fp32, Mul + Add fused or not)", run)]


def _ort_bound(graph, inputs: dict[str, np.ndarray]):
    """A CUDA session whose inputs and output live on the GPU; returns its run callable."""
    import onnxruntime as ort
    from onnx import helper

    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CUDAExecutionProvider"])
    if sess.get_providers()[0] != "CUDAExecutionProvider":
        raise RuntimeError(f"the session runs on {sess.get_providers()}, not CUDA")
    binding = sess.io_binding()
    for name, value in inputs.items():
        binding.bind_ortvalue_input(name, ort.OrtValue.ortvalue_from_numpy(value, "cuda", 0))
    binding.bind_output("y", "cuda")
    return lambda: sess.run_with_iobinding(binding)   # returns when the GPU is done


def _tf_probes() -> tuple[list[Probe], list[BandwidthMeasurement]]:
    from convbench.core.tfsetup import tf

    if not tf.config.list_physical_devices("GPU"):
        raise RuntimeError("TensorFlow sees no GPU (CPU-only wheel? install with `make gpu-env`)")
    n, probes = GEMM_N, []
    with tf.device("/GPU:0"):
        for precision, dtype in (("fp32", tf.float32), ("fp16", tf.float16)):
            a = tf.random.uniform((n, n), dtype=tf.float32)
            a = tf.cast(a, dtype)
            gemm = tf.function(lambda x=a: tf.reduce_sum(tf.matmul(x, x)[0, :1]))
            probes.append(Probe(precision, f"tensorflow GPU matmul {precision} {n}x{n}x{n}", None, 2 * n**3,
                                lambda f=gemm: f().numpy()))   # .numpy() waits for the GPU
        b, c = tf.ones(TRIAD_ELEMENTS), tf.ones(TRIAD_ELEMENTS)
        triad = tf.function(lambda: tf.reduce_sum((b + 3.0 * c)[:1]))
    return probes, [_bandwidth("tensorflow GPU triad y = b + s*c (fp32)", lambda: triad().numpy())]


def _bandwidth(method: str, run, repeats: int = 10) -> BandwidthMeasurement:
    from convbench.benchmarks.roofs import time_once

    run()
    best = min(time_once(run) for _ in range(repeats))
    return BandwidthMeasurement(method=method, threads=None, bytes_per_s=3 * 4 * TRIAD_ELEMENTS / best,
                                array_bytes=4 * TRIAD_ELEMENTS)

