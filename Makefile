# The two commands of the README. Both create .venv (Python 3.11) and install the exact pins first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TORCH_STAMP := $(VENV)/.torch-installed

MATHJAX := .cache/npm/node_modules/mathjax/es5

# Debian packages the PDF needs (.ci/run installs the missing ones; fonts-dejavu-core: DejaVu Sans Mono for code,
# librsvg2-bin: SVG outputs to PDF, poppler-utils: pdftotext for tests/pdf)
TEX_PACKAGES := texlive-latex-recommended texlive-latex-extra texlive-fonts-recommended texlive-xetex latexmk \
                fonts-freefont-otf fonts-dejavu-core librsvg2-bin poppler-utils

.PHONY: install book pdf pdf-build test lab clean mutation

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $(STAMP)

install: $(STAMP)

# The optional PyTorch extra (chapter 13's four-layer transformer): only the tests need it.
$(TORCH_STAMP): $(STAMP) requirements-torch.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-torch.txt
	touch $(TORCH_STAMP)

# Build the HTML book into _build/html from a clean _build; any Sphinx warning is an error.
book: $(STAMP)
	rm -rf _build
	$(BIN)/jupyter-book build . -W -n --keep-going

# The whole book as one PDF, _build/latex/iclbook.pdf: Jupyter Book's LaTeX builder (xelatex), any Sphinx warning
# is an error. Needs Debian's TeX Live (as root: .ci/run installs it; the README lists the packages).
pdf: $(STAMP)
	rm -rf _build/latex _build/.doctrees
	$(MAKE) pdf-build

# (pdf-build keeps the rest of _build; it removes the doctrees after, because they hold the outputs myst-nb chose
# for LaTeX and an HTML build must never reuse them)
pdf-build:
	@command -v xelatex >/dev/null && command -v latexmk >/dev/null && command -v rsvg-convert >/dev/null || { \
	  echo "make pdf: TeX Live is missing; as root: apt-get install --no-install-recommends $(TEX_PACKAGES)" >&2; exit 1; }
	$(BIN)/jupyter-book build . --builder pdflatex -W -n --keep-going
	rm -rf _build/.doctrees

# MathJax 3 from the npm registry, for the offline build the browser test reads (the published site uses the CDN).
$(MATHJAX)/tex-chtml.js:
	npm install --no-save --no-audit --no-fund --prefix .cache/npm mathjax@3.2.2

# Unit tests and every chapter under strict nbval (stored outputs compared; chapter 13 and the four-layer
# tests need the PyTorch extra), and the chapters once more under a second BLAS kernel with one thread; then, from
# a clean _build, the PDF (-W) and its pdftotext test; then the -W HTML build with a local MathJax, which links to
# the PDF; then the browser test of every page in headless Chromium (skipped, with a message, if absent); then the
# chapters with widgets run live in JupyterLab, driven in the same Chromium (tests/lab).
test: $(STAMP) $(TORCH_STAMP) $(MATHJAX)/tex-chtml.js
	$(BIN)/python -m pytest
	# every chapter again under strict nbval with another OpenBLAS kernel and one thread: a stored output that
	# depends on round-off fails here instead of on a reader's machine
	OPENBLAS_CORETYPE=Prescott OPENBLAS_NUM_THREADS=1 ICLBOOK_EXEC_TIMES=.cache/exec_times_prescott.json \
	  $(BIN)/python -m pytest book
	rm -rf _build
	$(MAKE) pdf-build
	$(BIN)/python -m pytest tests/pdf
	ICLBOOK_MATHJAX_DIR=$(CURDIR)/$(MATHJAX) $(BIN)/jupyter-book build . -W -n --keep-going
	$(BIN)/python -m pytest tests/browser
	$(BIN)/python -m pytest tests/lab

# Run the chapters yourself: JupyterLab on the book's folder (Ctrl-C twice to stop). Root, as in a
# container, must say so to Jupyter.
lab: $(STAMP)
	$(BIN)/jupyter lab book$(if $(filter 0,$(shell id -u)), --allow-root)

# Mutation testing (not part of `make test`): every mutant of the core numerical modules (model, ridge, theory,
# problem) and of Adam's update, against the unit tests selected in pyproject.toml's [tool.mutmut]; a fresh run
# (the mutants/ folder is rebuilt), two workers, one BLAS thread each. Prints the score at the end.
MUTANTS := 'iclbook.model.*' 'iclbook.ridge.*' 'iclbook.convergence.*' 'iclbook.problem.*' 'iclbook._validate.*' \
           'iclbook.training.x_adam_update__*'

mutation: $(STAMP) requirements-dev.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	rm -rf mutants
	OPENBLAS_NUM_THREADS=1 $(BIN)/mutmut run --max-children 2 $(MUTANTS)
	$(BIN)/python tests/mutation_score.py $(MUTANTS)

clean:
	rm -rf _build .pytest_cache mutants
