"""The fixtures the test modules share, each defined once here (helpers in tests/support/):

* image_folder     a small real car/truck image folder (train and valid splits)
* tiny_artifacts   the tiny net as .keras, fp32 and int8 .tflite, .onnx (TinyArtifacts)
* tiny_manifest    manifest.json of a whole artifacts folder around those files, read only
* tiny_bench_copy  a private copy of that folder, for a test that writes into it (runs, store)
* tiny_two_conv    the two-conv net's TFLite and ONNX files and its Keras op count

The session ones are built once per run, also under pytest-xdist (tests/support/shared.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.images import write_image_folder
from tests.support.shared import built_once
from tests.support.tiny import TinyArtifacts, build_tiny_artifacts, build_two_conv_files, copy_tiny_bench

# Options and markers a child process must not inherit from this pytest: a `convbench bench`
# child is a pytest of its own (pytest-benchmark disables itself when it sees
# PYTEST_XDIST_WORKER), and `-n` from PYTEST_ADDOPTS is refused there.
CHILD_UNSAFE_ENV = ("PYTEST_ADDOPTS", "PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID",
                    "PYTEST_XDIST_AUTO_NUM_WORKERS")


@pytest.fixture(scope="session", autouse=True)
def children_start_clean():
    """Every child process a test starts sees no pytest options or xdist worker variables."""
    with pytest.MonkeyPatch.context() as mp:
        for name in CHILD_UNSAFE_ENV:
            mp.delenv(name, raising=False)
        yield


@pytest.fixture
def image_folder(tmp_path) -> Path:
    return write_image_folder(tmp_path / "cars", splits=("train", "valid"))


@pytest.fixture(scope="session")
def tiny_artifacts(request, tmp_path_factory) -> TinyArtifacts:
    return build_tiny_artifacts(built_once(request.config, tmp_path_factory, "tiny_artifacts", build_tiny_artifacts))


@pytest.fixture(scope="session")
def tiny_manifest(request, tmp_path_factory, tiny_artifacts) -> Path:
    """The tiny artifacts folder's manifest (tests/support/tiny.py). Shared by every test: read
    it, or take `tiny_bench_copy` to write into the folder."""
    from tests.support.tiny import write_tiny_manifest

    def build(out: Path) -> None:
        copy_tiny_bench(tiny_artifacts.keras.parent, out / "tiny_artifacts")  # converted once
        write_tiny_manifest(out)

    return built_once(request.config, tmp_path_factory, "tiny_bench", build) / "manifest.json"


@pytest.fixture
def tiny_bench_copy(tiny_manifest, tmp_path) -> Path:
    """A copy of the tiny artifacts folder at tmp_path/artifacts, this test's own."""
    return copy_tiny_bench(tiny_manifest.parent, tmp_path / "artifacts")


@pytest.fixture(scope="session")
def tiny_two_conv(request, tmp_path_factory) -> dict:
    """fp32 and int8 TFLite, fp32 and static QDQ ONNX of a two-conv net with 'same' padding, and
    its Keras op count ("keras_flops")."""
    return build_two_conv_files(built_once(request.config, tmp_path_factory, "two_conv", build_two_conv_files))
