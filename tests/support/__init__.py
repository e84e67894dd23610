"""What the tests share, kept out of the installed package:

* tiny.py        the tiny real models (.keras, .tflite, .onnx) and a whole artifacts folder around them
* shared.py      for pytest-xdist: an expensive input built once per run, whichever worker asks first;
                 each worker kept to its own CPUs
* images.py      small real image folders written with Pillow
* factories.py   bench entries and run folders written from the typed records (the gate, the store, MLflow)
* reportdata.py  report rows and whole runs in memory (the report, its notes, the roofline part)
* console.py     what a bad command line prints: one `convbench: error:` line
* plugins/       pytest plugins loaded into a `convbench bench` child to inject a fault

The fixtures built on them are defined once, in tests/conftest.py."""

from pathlib import Path

# The checkout: on a child interpreter's sys.path, `tests.support` imports there too.
REPO_ROOT = Path(__file__).resolve().parents[2]

# What a child process must not inherit from the pytest that starts it (tests/conftest.py removes
# them for the session): a `convbench bench` child is a pytest of its own, where pytest-benchmark
# disables itself on seeing PYTEST_XDIST_WORKER (every latency row then fails) and `-n` from
# PYTEST_ADDOPTS is refused (it runs with -p no:xdist).
CHILD_UNSAFE_ENV = ("PYTEST_ADDOPTS", "PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID",
                    "PYTEST_XDIST_AUTO_NUM_WORKERS")
