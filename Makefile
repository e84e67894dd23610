# Two commands for a fresh machine with Python 3.11 and pip:
#   make bench   set up .venv and run the whole job on the default data (convbench run)
#   make test    set up .venv if needed, lint (ruff) and run the tests
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
CHROMIUM ?= /usr/bin/chromium

.PHONY: env bench test lint gpu-env clean

env: $(STAMP)

# Reinstall when the dependency list changes; editable, so code edits need no reinstall.
define NEW_VENV
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
endef

$(STAMP): pyproject.toml
	$(NEW_VENV)
	$(BIN)/python -m pip install --quiet -e .
	touch $(STAMP)

bench: env
	$(BIN)/convbench run

# What the tests exercise beyond the base install, so CI runs those tests instead of skipping
# them: the MLflow extra (a real tracking server) and the test extra (Playwright), and, as root
# where it is missing, Debian's Chromium for the browser test (Playwright cannot download its own
# browser here). Without Chromium, that one test skips, saying why. One pip install with the
# extras, not the base install and then the extras: from a fresh clone that took 120 s instead of
# 170 s (2 busy cores). About half of it is pip byte-compiling what it installs; --no-compile
# would save that only where Python may write .pyc files later (PYTHONDONTWRITEBYTECODE unset):
# otherwise every process recompiles TensorFlow on import (+11 s each, measured).
$(TEST_STAMP): pyproject.toml
	$(NEW_VENV)
	$(BIN)/python -m pip install --quiet -e '.[test,mlflow]'
	test -x $(CHROMIUM) || [ "$$(id -u)" != 0 ] || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || \
		echo "could not install chromium: the browser test will skip"
	touch $(STAMP) $(TEST_STAMP)

# The lint first (a second): pyflakes catches a name used but never imported, on paths no test reaches.
# Then the tests in parallel, one pytest-xdist worker per core (TEST_WORKERS=0: all in this process),
# a file's tests on one worker (its module fixtures built once), the slowest files first
# (tests/conftest.py orders them, --no-loadscope-reorder keeps that order). Not loadgroup: with
# pytest 9.2 its xdist_group marks are silently ignored (pytest-xdist issue 1386). The options
# live here, not in pyproject's addopts: the bench child, a pytest reading the same pyproject,
# runs with -p no:xdist, where -n is an error.
TEST_WORKERS ?= auto
test: $(TEST_STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder tests

lint: $(TEST_STAMP)
	$(BIN)/ruff check .

# GPU machines: TensorFlow's CUDA wheels, and onnxruntime-gpu *replacing* onnxruntime
# (both ship the `onnxruntime` module; installed together, one silently shadows the other).
gpu-env: env
	$(BIN)/python -m pip install --quiet -e '.[gpu]'
	$(BIN)/python -m pip uninstall --yes onnxruntime
	$(BIN)/python -m pip install --quiet 'onnxruntime-gpu>=1.20,<1.33'

clean:
	rm -rf $(VENV) artifacts .benchmarks
