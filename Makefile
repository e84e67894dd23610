# Two commands for a fresh machine with Python 3.11 and pip:
#   make bench   set up .venv and run the whole job on the default data (convbench run)
#   make test    set up .venv if needed, lint (ruff), build the docs strictly and run the tests
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Installs go through uv (bootstrapped into the venv by pip): from a warm package cache it installs
# the 2 GB of TensorFlow & co. in seconds. Byte-compiled once, so that no process compiles
# TensorFlow again on import (it imports in less than half the time compiled): the main job's
# install all of it (a run imports most of it, several processes at once); the test install, a
# larger set, only what the tests import, below. Python writes what else
# a process imports on its first import, so the recipes run with PYTHONDONTWRITEBYTECODE empty (an
# environment that sets it, as the development machine's does, would make every process compile
# again). The files land in .venv and in git-ignored __pycache__ folders. setuptools ends every
# editable build of this layout (models/ installed as convbench.models, ...: a mapping only its
# import-hook strategy serves) with an informational "Editable installation" note that no
# pyproject setting turns off; every other warning still shows.
export PYTHONDONTWRITEBYTECODE :=
UV     := PYTHONWARNINGS='ignore:Editable installation' $(BIN)/uv pip install --quiet \
          --python $(BIN)/python
# What the tests import, compiled before they run, at once: the test modules (TensorFlow & co., as
# pytest collects them) and, beside that, the packages the tests import later or that the
# processes they start import (Keras 3, the converters and quantizers, Ray's and MLflow's servers,
# SciPy, scikit-learn, SymPy), whole. Otherwise both test workers compile TensorFlow at the same
# moment, and each Ray node, MLflow server and bench child its own copy of what it imports (the
# figures: docs/measurements). A failure here only means those compile on first import; the tests
# say what is wrong.
LATER_IMPORTS := keras tf2onnx tensorflow_model_optimization ai_edge_quantizer ray mlflow scipy sklearn sympy
COMPILE_TEST_IMPORTS := $(BIN)/python -m pytest --collect-only -q -p no:cacheprovider tests >/dev/null 2>&1 & \
	collect=$$!; site=$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'); \
	$(BIN)/python -m compileall -q -j 0 $(addprefix $$site/,$(LATER_IMPORTS)) >/dev/null 2>&1; \
	wait $$collect || true
STAMP  := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
CHROMIUM ?= /usr/bin/chromium

.PHONY: env bench test lint docs gpu-env clean

env: $(STAMP)

# Reinstall when the dependency list changes; editable, so code edits need no reinstall. The venv
# gets no pip of its own (uv installs into it; making one is most of a venv's time), and the
# machine's pip (22.3 or later, for --python) puts uv there.
define NEW_VENV
	test -x $(BIN)/python || $(PYTHON) -m venv --without-pip $(VENV)
	test -x $(BIN)/uv || $(PYTHON) -m pip --python $(BIN)/python install --quiet 'uv>=0.9,<1'
endef

$(STAMP): pyproject.toml
	$(NEW_VENV)
	$(UV) --compile-bytecode -e .
	touch $(STAMP)

bench: env
	$(BIN)/convbench run

# What the tests exercise beyond the base install, so CI runs those tests instead of skipping
# them: the MLflow extra (a real tracking server), the test extra (Playwright, ruff, import-linter,
# pytest-xdist), the docs extra (MkDocs), the ray extra (the fleet tests start a real local Ray
# cluster) and, as root where it is missing, Debian's Chromium for
# the browser test (Playwright cannot download its own browser here). Without Chromium, that one
# test skips, saying why. One install with the extras, not the base install and then the extras
# (with pip from a fresh clone: 120 s instead of 170 s on 2 busy cores).
$(TEST_STAMP): pyproject.toml
	$(NEW_VENV)
	$(UV) -e '.[test,mlflow,docs,ray]'
	test -x $(CHROMIUM) || [ "$$(id -u)" != 0 ] || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || \
		echo "could not install chromium: the browser test will skip"
	$(COMPILE_TEST_IMPORTS)
	touch $(STAMP) $(TEST_STAMP)

# The lint, the layers and the docs first (seconds): pyflakes catches a name used but never imported,
# on paths no test reaches; the import contracts (pyproject.toml) a module that imports a layer above
# its own; the strict docs build a broken link, anchor or included file.
# Then the tests in parallel, one pytest-xdist worker per core (TEST_WORKERS=0: all in this process),
# a file's tests on one worker (its module fixtures built once), the slowest files first
# (tests/conftest.py orders them, --no-loadscope-reorder keeps that order). Not loadgroup: with
# pytest 9.2 its xdist_group marks are silently ignored (pytest-xdist issue 1386). The options
# live here, not in pyproject's addopts: the bench child, a pytest reading the same pyproject,
# runs with -p no:xdist, where -n is an error.
TEST_WORKERS ?= auto
test: lint docs
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder tests

lint: $(TEST_STAMP)
	$(BIN)/ruff check .
	scripts/check_layers.sh $(BIN)/python

# The documentation site (docs/, mkdocs.yml) into build/site/ (git-ignored); --strict turns every
# warning (a link to a missing page or anchor, a page left out of the nav) into a failure.
docs: $(TEST_STAMP)
	$(BIN)/python -m mkdocs build --strict --site-dir build/site

# GPU machines: TensorFlow's CUDA wheels, and onnxruntime-gpu *replacing* onnxruntime
# (both ship the `onnxruntime` module; installed together, one silently shadows the other).
gpu-env: env
	$(UV) -e '.[gpu]'
	$(BIN)/uv pip uninstall --quiet --python $(BIN)/python onnxruntime
	$(UV) 'onnxruntime-gpu>=1.20,<1.33'

clean:
	rm -rf $(VENV) artifacts .benchmarks build/site
