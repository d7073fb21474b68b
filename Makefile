# krimp-listener — two commands on a fresh clone:
#   make demo   virtualenv, install, run the whole pipeline offline on the bundled samples
#   make test   virtualenv, install with test extras, run the whole test suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: demo test venv clean bench lint

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/listener demo --out demo

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	@echo "Benchmarks are run by hand; see README 'Performance' for each command."

# also what hatch_build.py (the Cython accelerator) left in classifiers/ and build/
clean:
	rm -rf $(VENV) demo reports .pytest_cache .hypothesis build/cython-* build/_compiled.json
	find classifiers \( -name '*.so' -o -name '*.pyd' -o -name '*.c' \) -delete
	rm -f classifiers/_compiled.json
