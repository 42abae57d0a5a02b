# The two set-up commands of the README: `make demo` and `make test`.
# Each creates (or reuses) the virtual environment .venv in this checkout and installs the project into it.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[cpu,test]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/ernie-m demo

test: $(STAMP)
	$(PY) -m pytest -n 2 -q
