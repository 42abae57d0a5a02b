# The two set-up commands of the README: `make demo` and `make test`.
# Each creates (or reuses) the virtual environment .venv in this checkout and installs the project into it.
# `make tf5` creates (or reuses) .venv-tf5: transformers 5 and torch with nothing of this project, where the tests
# load converted checkpoints with their bundled code (`make test` builds it; `make demo` uses it when present).
# `make onnx-env` creates (or reuses) .venv-onnx: the smallest ONNX Runtime service install (the project with its
# [onnx,serve] extras, neither Paddle nor torch), where the tests run export, extract and serve (`make test` builds it).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TF5_VENV ?= .venv-tf5
TF5_PACKAGES := torch==2.13.0 transformers==5.23.0 sentencepiece
TF5_STAMP := $(TF5_VENV)/.installed
ONNX_VENV ?= .venv-onnx
ONNX_STAMP := $(ONNX_VENV)/.installed
TEST_ENVS := ERNIE_M_TF5_PYTHON=$(abspath $(TF5_VENV))/bin/python ERNIE_M_ONNX_PYTHON=$(abspath $(ONNX_VENV))/bin/python

.PHONY: demo test test-fast tf5 onnx-env
DEMO_STAMP := $(VENV)/.installed-demo

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[cpu,test]'
	touch $(STAMP)

demo: $(DEMO_STAMP)
	ERNIE_M_TF5_PYTHON=$(abspath $(TF5_VENV))/bin/python $(VENV)/bin/ernie-m demo

test: $(STAMP) $(TF5_STAMP) $(ONNX_STAMP)
	$(TEST_ENVS) $(PY) -m pytest -n 2 -q

# `make demo` installs only what the demo needs: Paddle (CPU) and, for its conversion step, torch + transformers.
$(DEMO_STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[cpu,demo]'
	touch $(DEMO_STAMP)

# The suite without the tests marked `slow` (see docs/testing.md); `make test` runs everything.
test-fast: $(STAMP) $(TF5_STAMP) $(ONNX_STAMP)
	$(TEST_ENVS) $(PY) -m pytest -n 2 -q -m "not slow"

# The second environment: transformers 5.x with nothing of this project, for the tests of converted directories.
$(TF5_STAMP): Makefile
	$(PYTHON) -m venv $(TF5_VENV)
	$(TF5_VENV)/bin/python -m pip install --quiet $(TF5_PACKAGES)
	touch $(TF5_STAMP)

tf5: $(TF5_STAMP)

# The third environment: the project with ONNX Runtime and the serve stack only (no Paddle, no torch).
$(ONNX_STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(ONNX_VENV)
	$(ONNX_VENV)/bin/python -m pip install --quiet -e '.[onnx,serve]'
	touch $(ONNX_STAMP)

onnx-env: $(ONNX_STAMP)
