# The two commands of the README. Both create .venv (Python 3.11) and install the exact pins first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

MATHJAX := .cache/npm/node_modules/mathjax/es5

.PHONY: install book test clean mutation

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $(STAMP)

install: $(STAMP)

# Build the HTML book into _build/html from a clean _build; any Sphinx warning is an error.
book: $(STAMP)
	rm -rf _build
	$(BIN)/jupyter-book build . -W -n --keep-going

# MathJax 3 from the npm registry, for the offline build the browser test reads (the published site uses the CDN).
$(MATHJAX)/tex-chtml.js:
	npm install --no-save --no-audit --no-fund --prefix .cache/npm mathjax@3.2.2

# Unit tests and every chapter under strict nbval (stored outputs compared); then the clean -W build with a
# local MathJax; then the browser test of every page in headless Chromium (skipped, with a message, if absent).
test: $(STAMP) $(MATHJAX)/tex-chtml.js
	$(BIN)/python -m pytest
	rm -rf _build
	ICLBOOK_MATHJAX_DIR=$(CURDIR)/$(MATHJAX) $(BIN)/jupyter-book build . -W -n --keep-going
	$(BIN)/python -m pytest tests/browser

# Mutation testing (not part of `make test`): every mutant of the core numerical modules (model, ridge, theory,
# problem) and of Adam's update, against the unit tests selected in pyproject.toml's [tool.mutmut]; a fresh run
# (the mutants/ folder is rebuilt), two workers, one BLAS thread each. Prints the score at the end.
MUTANTS := 'iclbook.model.*' 'iclbook.ridge.*' 'iclbook.theory.*' 'iclbook.problem.*' 'iclbook.train.x__adam_update__*'

mutation: $(STAMP) requirements-dev.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	rm -rf mutants
	OPENBLAS_NUM_THREADS=1 $(BIN)/mutmut run --max-children 2 $(MUTANTS)
	$(BIN)/python tests/mutation_score.py $(MUTANTS)

clean:
	rm -rf _build .pytest_cache mutants
