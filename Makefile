# The two set-up commands of the README: `make demo` and `make test`.
# Each creates (or reuses) the virtual environment .venv in this checkout and installs the project into it.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test
.PHONY: test-fast
DEMO_STAMP := $(VENV)/.installed-demo

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[cpu,test]'
	touch $(STAMP)

demo: $(DEMO_STAMP)
	$(VENV)/bin/ernie-m demo

test: $(STAMP)
	$(PY) -m pytest -n 2 -q

# `make demo` installs only what the demo needs: Paddle (CPU) and, for its conversion step, torch + transformers.
$(DEMO_STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[cpu,demo]'
	touch $(DEMO_STAMP)

# The suite without the tests marked `slow` (see docs/testing.md); `make test` runs everything.
test-fast: $(STAMP)
	$(PY) -m pytest -n 2 -q -m "not slow"
