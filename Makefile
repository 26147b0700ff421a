# The two commands of the README. Both create .venv (Python 3.11) and install the exact pins first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install book test clean

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $(STAMP)

install: $(STAMP)

# Build the HTML book into _build/html from a clean _build; any Sphinx warning is an error.
book: $(STAMP)
	rm -rf _build
	$(BIN)/jupyter-book build . -W -n --keep-going

# Unit tests, every chapter under strict nbval (stored outputs compared), then the clean -W book build.
test: $(STAMP)
	$(BIN)/python -m pytest
	$(MAKE) --no-print-directory book

clean:
	rm -rf _build .pytest_cache
