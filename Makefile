# Two commands do all the set-up: `make lab` and `make test` (see README.md).
# Both create .venv when it is missing: torch first, then this project with its dev extra.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU build on the course machines (from their local wheel folder); elsewhere on Linux,
# PyPI's torch==2.13.0 is a CUDA build (see README). Override it, e.g.
#   make lab TORCH_SPEC="torch>=2.3,<3"
# The stamp file records the spec: a different TORCH_SPEC reinstalls (`make clean-venv`
# starts from nothing).
TORCH_SPEC ?= torch==2.13.0
# Notebook kernels: quick mode, one BLAS thread each, no progress bars, no network for datasets.
TEST_ENV := COURSE_QUICK=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 TQDM_DISABLE=1 \
	HF_DATASETS_OFFLINE=1 HF_HUB_OFFLINE=1 HF_DATASETS_DISABLE_PROGRESS_BARS=1 MPLBACKEND=Agg
PYTEST_ARGS ?=
# Jupyter refuses to run as root unless told; containers and CI machines often are root.
LAB_ARGS ?= $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: lab test lint unit notebooks doctor exercises clean-venv \
	lecture-deps vendor executed slides site lecture

# Rebuild the stamp (reinstall) when it records another TORCH_SPEC, or none (an old stamp).
ifneq ($(strip $(file < $(BIN)/.installed)),$(strip $(TORCH_SPEC)))
.PHONY: $(BIN)/.installed
endif

$(BIN)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[dev,bench]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	@printf '%s\n' '$(TORCH_SPEC)' > $@

# Opens the course root: notebooks/ and exercises/ one click apart; RISE (the `lecture` extra)
# presents a chapter as slides, running its cells live. Kernels inherit the environment:
# `COURSE_QUICK=1 make lab` opens every chapter in quick mode.
lab: $(BIN)/.installed $(BIN)/.lecture-installed
	@$(BIN)/course doctor || echo "course doctor found problems (above); opening JupyterLab anyway"
	$(BIN)/jupyter lab $(LAB_ARGS) .

test: $(BIN)/.installed lint lecture-deps
	$(BIN)/course exercises check
	$(TEST_ENV) $(BIN)/pytest $(PYTEST_ARGS)

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/nbstripout --verify notebooks/*.ipynb solutions/*.ipynb exercises/*.ipynb

unit: $(BIN)/.installed
	$(TEST_ENV) $(BIN)/pytest tests -m "not slow"

notebooks: $(BIN)/.installed
	$(TEST_ENV) $(BIN)/pytest $(PYTEST_ARGS) notebooks solutions

doctor: $(BIN)/.installed
	$(BIN)/course doctor

exercises: $(BIN)/.installed
	$(BIN)/course exercises build

clean-venv:
	rm -rf $(VENV)

# --- The lecture edition (README: Instructors) ---------------------------------------------
# Its Python packages (the `lecture` extra) and the JavaScript its pages load (npm, into the
# git-ignored build/vendor). The browser tests of `make test` need both.
$(BIN)/.lecture-installed: pyproject.toml $(BIN)/.installed
	$(BIN)/python -m pip install --quiet -e ".[lecture]"
	@touch $@

build/vendor/node_modules/.package-lock.json: site/vendor/package.json site/vendor/package-lock.json $(BIN)/.lecture-installed
	$(BIN)/python -m course_lib.lecture vendor
	@touch $@

lecture-deps: $(BIN)/.lecture-installed build/vendor/node_modules/.package-lock.json
vendor: lecture-deps

# Every chapter run once into build/executed/$(MODE) (full: the course's results; quick: what
# CI builds). Re-runs only chapters whose code changed; resumes after an interruption.
MODE ?= full
JOBS ?= 1
EXECUTED_ENV := TQDM_DISABLE=1 HF_DATASETS_OFFLINE=1 HF_HUB_OFFLINE=1 \
	HF_DATASETS_DISABLE_PROGRESS_BARS=1
executed: lecture-deps
	$(EXECUTED_ENV) $(BIN)/python -m course_lib.lecture executed --mode $(MODE) --jobs $(JOBS)

# Decks and site read the executed edition (full where present, else quick under a banner).
slides: lecture-deps
	$(BIN)/python -m course_lib.lecture slides --out build/slides

site: lecture-deps
	$(BIN)/python -m course_lib.lecture site --out build/site

# What CI checks of it: the quick edition, decks and site, and the browser tests.
lecture: lecture-deps
	$(MAKE) executed MODE=quick JOBS=2
	$(TEST_ENV) $(BIN)/pytest -n 0 -m browser tests/test_lecture_browser.py
