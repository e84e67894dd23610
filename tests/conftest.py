"""The fixtures the test modules share, each defined once here (helpers in tests/support/):

* image_folder     a small real car/truck image folder (train and valid splits)
* tiny_artifacts   the tiny net as .keras, fp32 and int8 .tflite, .onnx (TinyArtifacts)
* tiny_manifest    manifest.json of a whole artifacts folder around those files, read only
* tiny_bench_copy  a private copy of that folder, for a test that writes into it (runs, store)
* tiny_two_conv    the two-conv net's TFLite and ONNX files and its Keras op count

The session ones are built once per run, also under pytest-xdist (tests/support/shared.py).

`make test` runs the tests in parallel (pytest-xdist, --dist loadfile): a file's tests run on one
worker, in order, so a module fixture is built once and tests that publish runs into one folder
see them in order; the slowest files are handed out first; each worker keeps to its own CPUs;
a test marked `timed` runs while the other workers wait."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import CHILD_UNSAFE_ENV
from tests.support.shared import CpuTurns, built_once, keep_this_worker_to_its_own_cpus

# First, before numpy's or TensorFlow's thread pools exist (xdist sets the variables it reads
# before a worker imports this file).
keep_this_worker_to_its_own_cpus()

from tests.support.images import write_image_folder  # noqa: E402
from tests.support.tiny import TinyArtifacts, build_tiny_artifacts, build_two_conv_files, copy_tiny_bench  # noqa: E402

# The order files are handed out in (--no-loadscope-reorder keeps it; xdist would otherwise sort
# them by their number of tests): the files with a timed test first, before a slow fixture has
# started on another worker (a timed test waits for the tests running there; test_optimize's
# module fixture takes 90 s), then the slowest first (pytest --durations, summed per file), so
# that the last file a worker takes is a short one. With two workers, test_optimize is queued
# behind test_roofline. A file missing from the list runs after these, in collection order.
SLOWEST_FIRST = ("test_roofline.py", "test_end_to_end.py", "test_optimize.py", "test_fleet.py", "test_train.py",
                 "test_byom_cli.py",
                 "test_workers.py", "test_bench_run.py", "test_mlflow.py", "test_convnets.py", "test_data.py",
                 "test_own_model.py", "test_report.py", "test_report_browser.py", "test_memory.py", "test_bench.py")


CPU_TURNS = pytest.StashKey[CpuTurns]()


def pytest_configure(config):
    config.addinivalue_line("markers", "timed: checks measured times that need the machine to themselves: under "
                                       "pytest-xdist the other workers wait while it runs (tests/support/shared.py)")
    config.stash[CPU_TURNS] = CpuTurns(config)


def _timed(item) -> bool:
    return item is not None and item.get_closest_marker("timed") is not None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    turns = item.config.stash[CPU_TURNS]
    turns.begin(alone=_timed(item))
    try:
        return (yield)
    finally:
        turns.end(keep=_timed(item) and _timed(nextitem))


def pytest_collection_modifyitems(config, items):
    # The files with a timed test first, and their timed tests first in them: they run before a
    # slow fixture has started on another worker (a timed test waits for the tests running there,
    # 30 s at most; test_optimize's module fixture takes 90 s).
    timed_files = {item.path for item in items if _timed(item)}

    def rank(item: pytest.Item) -> tuple[bool, int, bool]:
        name = item.path.name
        slowest = SLOWEST_FIRST.index(name) if name in SLOWEST_FIRST else len(SLOWEST_FIRST)
        return item.path not in timed_files, slowest, not _timed(item)

    items.sort(key=rank)  # stable: otherwise a file's tests keep their order


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
