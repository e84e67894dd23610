"""Peak RSS in fresh child processes: a real tiny .tflite adds less than the runtime's own import,
LiteRT's baseline is far below TensorFlow's, the parent's size does not leak into the child,
child errors surface as UserError in the parent. No absolute MiB limits: they depend on the
machine and library builds."""

from __future__ import annotations

import numpy as np
import pytest

from convbench.benchmarks.memory import measure_baseline_rss_mib, measure_peak_rss
from convbench.core.errors import UserError
from convbench.core.runtimes import gpu_available


@pytest.mark.slow
def test_litert_peak_above_baseline(tiny_artifacts):
    r = measure_peak_rss("litert", tiny_artifacts.tflite, batch=4, threads=1)
    assert 0 < r.baseline_rss_mib < r.peak_rss_mib
    # A 3 KB model and a batch of four 8x8 images add less than the interpreter's own import.
    assert 0 < r.model_rss_mib < r.baseline_rss_mib
    assert r.model_rss_mib == pytest.approx(r.peak_rss_mib - r.baseline_rss_mib)
    assert (r.device, r.device_used, r.batch, r.gpu_mib) == ("cpu", "cpu", 4, None)


@pytest.mark.slow
def test_explicit_input_shape_is_used(tiny_artifacts):
    r = measure_peak_rss("onnxruntime", tiny_artifacts.onnx, batch=2, threads=1, input_shape=(8, 8, 1))
    assert r.peak_rss_mib > r.baseline_rss_mib > 0
    # A shape the model cannot take must reach the session: the child fails on it.
    with pytest.raises(RuntimeError, match="memory child"):
        measure_peak_rss("onnxruntime", tiny_artifacts.onnx, batch=2, threads=1, input_shape=(9, 9, 1))


@pytest.mark.slow
def test_litert_baseline_far_below_tensorflow():
    # LiteRT must not import TensorFlow: measured ~39 MiB vs ~610 MiB on the dev machine.
    litert, tf = measure_baseline_rss_mib("litert"), measure_baseline_rss_mib("keras_eager")
    assert litert * 4 < tf


@pytest.mark.slow
def test_child_peak_does_not_inherit_the_parents(tiny_artifacts):
    # Linux copies the parent's ru_maxrss into a fork+exec'd child; a big parent must not
    # inflate the child's number. Uncached baselines: fresh children without and with 400 MiB here.
    lean = measure_baseline_rss_mib.__wrapped__("litert")
    ballast = np.ones(400 * 2**20 // 8)
    ballast[::512] = 1.0  # touch every page: resident, not just reserved
    heavy = measure_baseline_rss_mib.__wrapped__("litert")
    del ballast
    assert abs(heavy - lean) < 100, (lean, heavy)  # inherited, it would be ~400 MiB more


def test_child_errors_come_back_as_user_error(tmp_path):
    with pytest.raises(UserError, match="no_such.tflite"):
        measure_peak_rss("litert", tmp_path / "no_such.tflite")
    with pytest.raises(UserError, match="unknown runtime"):
        measure_peak_rss("tflite_micro", tmp_path / "a.tflite")


@pytest.mark.skipif(not gpu_available()[0], reason="no GPU here: the NVML / tf.config.experimental."
                    "get_memory_info path of the memory child cannot run")
def test_gpu_memory_is_reported(tiny_artifacts):
    r = measure_peak_rss("onnxruntime", tiny_artifacts.onnx, device="gpu")
    assert r.device_used == "gpu" and r.gpu_mib is not None and r.gpu_mib > 0
