"""Peak RSS in fresh child processes: plausible numbers for a real tiny .tflite, LiteRT's baseline
far below TensorFlow's, child errors surface as UserError in the parent."""

from __future__ import annotations

import numpy as np
import pytest

from convbench.benchmarks.memory import measure_baseline_rss_mib, measure_peak_rss
from convbench.runtimes import gpu_available
from convbench.benchmarks.tiny import build_tiny_artifacts
from convbench.errors import UserError


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    # Same folder as test_runtimes.py's fixture: built once per session.
    return build_tiny_artifacts(tmp_path_factory.getbasetemp() / "tiny_artifacts")


@pytest.mark.slow
def test_litert_peak_above_baseline(tiny):
    r = measure_peak_rss("litert", tiny.tflite, batch=4, threads=1)
    assert 0 < r.baseline_rss_mib < r.peak_rss_mib < 1024
    assert r.model_rss_mib == pytest.approx(r.peak_rss_mib - r.baseline_rss_mib)
    assert (r.device, r.device_used, r.batch, r.gpu_mib) == ("cpu", "cpu", 4, None)


@pytest.mark.slow
def test_explicit_input_shape_is_used(tiny):
    r = measure_peak_rss("onnxruntime", tiny.onnx, batch=2, threads=1, input_shape=(8, 8, 1))
    assert r.peak_rss_mib > r.baseline_rss_mib > 0


@pytest.mark.slow
def test_litert_baseline_far_below_tensorflow():
    # LiteRT must not import TensorFlow: measured ~39 MiB vs ~610 MiB on the dev machine.
    litert, tf = measure_baseline_rss_mib("litert"), measure_baseline_rss_mib("keras_eager")
    assert litert * 4 < tf


@pytest.mark.slow
def test_child_peak_does_not_inherit_the_parents(tiny):
    # Linux copies the parent's ru_maxrss into a fork+exec'd child; a big parent must not
    # inflate the child's number. Uncached baseline: a fresh child while we hold 400 MiB.
    ballast = np.ones(400 * 2**20 // 8)
    assert measure_baseline_rss_mib.__wrapped__("litert") < 200
    assert measure_peak_rss("litert", tiny.tflite).peak_rss_mib < 200
    del ballast


def test_child_errors_come_back_as_user_error(tmp_path):
    with pytest.raises(UserError, match="no_such.tflite"):
        measure_peak_rss("litert", tmp_path / "no_such.tflite")
    with pytest.raises(UserError, match="unknown runtime"):
        measure_peak_rss("tflite_micro", tmp_path / "a.tflite")


@pytest.mark.skipif(not gpu_available()[0], reason="no GPU here: the NVML / tf.config.experimental."
                    "get_memory_info path of the memory child cannot run")
def test_gpu_memory_is_reported(tiny):
    r = measure_peak_rss("onnxruntime", tiny.onnx, device="gpu")
    assert r.device_used == "gpu" and r.gpu_mib is not None and r.gpu_mib > 0
