"""Every CPU runtime on a tiny real model: loads its format, right shapes at batch 1 and 4, agrees
with Keras; XNNPACK really on/off; GPU rows refused here with a reason; no silent CPU fallback."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from convbench.core.formats import family_of_path
from convbench.core.runtimes import RUNTIMES, DeviceUnavailable, get_runtimes, gpu_available
from convbench.core.errors import UserError
from tests.support import REPO_ROOT
from tests.support.tiny import sample_input

CPU_RUNTIMES = [name for name, r in RUNTIMES.items() if "cpu" in r.devices]
TF_RUNTIMES = ("keras_eager", "tf_function", "tf_xla")
HAS_GPU, GPU_REASON = gpu_available()


@pytest.fixture(scope="session")
def reference(tiny_artifacts):
    """Keras's own answer on a batch of 4, computed without the runtime layer."""
    from convbench.core.tfsetup import keras

    model = keras.models.load_model(tiny_artifacts.keras, compile=False)
    return model(sample_input(4), training=False).numpy()


@pytest.mark.slow
@pytest.mark.parametrize("batch", [1, 4])
@pytest.mark.parametrize("name", CPU_RUNTIMES)
def test_cpu_runtime_predicts_like_keras(tiny_artifacts, reference, name, batch):
    runtime = RUNTIMES[name]
    # TF thread pools are fixed once the fixture has run TF: leave them at the default.
    session = runtime.load(tiny_artifacts.path_for(runtime.formats[0]), threads=None if name in TF_RUNTIMES else 1,
                           batch=batch)
    assert session.device_used == "cpu" and session.batch == batch
    assert session.input_shape == (batch, 8, 8, 1) and session.output_shape == (batch, 3)
    y = session.predict(sample_input(4)[:batch])
    assert y.shape == (batch, 3) and y.dtype == np.float32
    if name == "null":
        assert np.all(y == y.flat[0])
    else:
        np.testing.assert_allclose(y, reference[:batch], rtol=1e-5, atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["litert", "litert_noxnnpack"])
def test_int8_tflite_quantizes_input_and_dequantizes_output(tiny_artifacts, reference, name):
    session = RUNTIMES[name].load(tiny_artifacts.tflite_int8, threads=1, batch=4)
    assert (session.input_dtype, session.output_dtype) == ("int8", "int8")
    feed = session.prepare(sample_input(4))
    assert feed.dtype == np.int8
    y = session.postprocess(session.run(feed))
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, reference, atol=0.03)  # int8 softmax steps are 1/256


@pytest.mark.slow
def test_xnnpack_delegate_really_on_or_off(tiny_artifacts):
    def op_names(name):
        session = RUNTIMES[name].load(tiny_artifacts.tflite, threads=1)
        return session, {op["op_name"] for op in session._interp._get_ops_details()}

    on, on_ops = op_names("litert")
    off, off_ops = op_names("litert_noxnnpack")
    assert "DELEGATE" in on_ops and on.providers[0] == "XNNPACK"
    assert "DELEGATE" not in off_ops and "CONV_2D" in off_ops and off.providers == ("builtin",)


@pytest.mark.slow
def test_null_output_ignores_input(tiny_artifacts):
    session = RUNTIMES["null"].load(tiny_artifacts.onnx, batch=4)
    a = session.predict(sample_input(4, seed=1))
    b = session.predict(np.zeros((4, 8, 8, 1), np.float32))
    assert a.shape == (4, 3) and np.array_equal(a, b)


@pytest.mark.slow
def test_wrong_input_and_wrong_format_are_refused(tiny_artifacts):
    session = RUNTIMES["onnxruntime"].load(tiny_artifacts.onnx, threads=1, batch=4)
    with pytest.raises(ValueError, match=r"\(4, 8, 8, 1\)"):
        session.prepare(sample_input(1))  # batch is fixed at load
    with pytest.raises(ValueError, match="float32"):
        session.prepare(sample_input(4).astype(np.float64))
    with pytest.raises(UserError, match="tiny.onnx"):
        RUNTIMES["litert"].load(tiny_artifacts.onnx)


@pytest.mark.skipif(HAS_GPU, reason=f"a GPU is present ({GPU_REASON}): this checks the no-GPU refusal")
@pytest.mark.parametrize("name", list(RUNTIMES))
def test_gpu_rows_unavailable_here_with_reason(tmp_path, name):
    ok, why = RUNTIMES[name].available("gpu")
    assert not ok and len(why) > 10
    artifact = tmp_path / {"keras": "m.keras", "tflite": "m.tflite", "onnx": "m.onnx"}[RUNTIMES[name].formats[0]]
    artifact.write_bytes(b"")  # refused before the file is read
    with pytest.raises(DeviceUnavailable, match=why[:20]):
        RUNTIMES[name].load(artifact, device="gpu")


@pytest.mark.slow
@pytest.mark.skipif(HAS_GPU, reason=f"a GPU is present ({GPU_REASON}): ORT's CUDA provider would really load")
def test_ort_cpu_fallback_is_never_labelled_gpu(tiny_artifacts, monkeypatch):
    # Pretend the checks pass: ORT then gets CUDA EP requested, falls back to CPU with only a
    # warning, and the session must refuse to call that run "gpu".
    monkeypatch.setattr(RUNTIMES["onnxruntime"], "available", lambda device: (True, ""))
    with pytest.warns(UserWarning, match="not in available provider"), \
            pytest.raises(DeviceUnavailable, match="CUDAExecutionProvider"):
        RUNTIMES["onnxruntime"].load(tiny_artifacts.onnx, device="gpu")


@pytest.mark.slow
@pytest.mark.skipif(HAS_GPU, reason=f"a GPU is present ({GPU_REASON}): TF would really place the model there")
def test_tf_soft_placement_on_cpu_is_never_labelled_gpu(tiny_artifacts, monkeypatch):
    monkeypatch.setattr(RUNTIMES["tf_function"], "available", lambda device: (True, ""))
    with pytest.raises(DeviceUnavailable, match="CPU"):
        RUNTIMES["tf_function"].load(tiny_artifacts.keras, device="gpu")


def test_onnxruntime_trt_is_gpu_only():
    ok, why = RUNTIMES["onnxruntime_trt"].available("cpu")
    assert not ok and "gpu" in why


def test_unknown_runtime_lists_valid_names():
    with pytest.raises(UserError) as err:
        get_runtimes(["litert", "tensorrt_llm"])
    assert "'tensorrt_llm'" in str(err.value) and "onnxruntime_basic" in str(err.value)


def test_artifact_family_rejects_unknown_suffix(tmp_path):
    assert family_of_path(tmp_path / "a.h5") == "keras"
    with pytest.raises(UserError, match="model.pt"):
        family_of_path(tmp_path / "model.pt")


def test_every_runtime_reports_a_version():
    for runtime in RUNTIMES.values():
        assert any(ch.isdigit() for ch in runtime.version()), runtime.name


@pytest.mark.slow
def test_litert_and_ort_never_import_tensorflow(tiny_artifacts):
    # A fresh interpreter: this test process has TensorFlow loaded already.
    code = (
        "import json, sys\n"
        "from convbench.core.runtimes import RUNTIMES\n"
        f"sys.path.insert(0, {str(REPO_ROOT)!r})\n"
        "from tests.support.tiny import sample_input\n"
        f"RUNTIMES['litert'].load({str(tiny_artifacts.tflite)!r}, threads=1).predict(sample_input(1))\n"
        f"RUNTIMES['onnxruntime'].load({str(tiny_artifacts.onnx)!r}, threads=1).predict(sample_input(1))\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'tf_keras', 'keras'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
