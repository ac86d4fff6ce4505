# Every target creates the virtualenv itself when it is missing.
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help venv demo test lint format bench fixtures clean docs

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-9s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

venv: $(STAMP) ## Create .venv and install wrt with its dev tools

demo: $(STAMP) ## Run the main job: the seed problem, end to end
	$(VENV)/bin/wrt demo

test: $(STAMP) ## Run the test suite (unit, property, CLI, examples, doctests)
	$(PY) -m pytest

lint: $(STAMP) ## ruff check, ruff format check, pyright (basic) on src
	$(VENV)/bin/ruff check src tests examples bench docs/hooks docs/data
	$(VENV)/bin/ruff format --check src tests examples bench docs/hooks docs/data
	$(VENV)/bin/pyright -p .

format: $(STAMP) ## Format the code with ruff
	$(VENV)/bin/ruff format src tests examples bench docs/hooks docs/data
	$(VENV)/bin/ruff check --fix src tests examples bench docs/hooks docs/data

# docs: the site (mkdocs-material + mkdocstrings) into site/, with --strict: a broken
# link, a mkdocstrings warning or an undocumented public symbol fails the build. The
# docs extra is installed here only, never by demo or test.
DOCS_STAMP := $(VENV)/.docs-installed

$(DOCS_STAMP): $(STAMP)
	$(PIP) install --quiet -c constraints.txt -e ".[dev,docs]"
	touch $(DOCS_STAMP)

docs: $(DOCS_STAMP) ## Build the documentation site into site/ (mkdocs --strict)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

bench: $(STAMP) ## Side-by-side benchmarks of the engines and torch peers (prints)
	$(PY) bench/bench_engines.py

# bench-peers: the benchmark with optional peers (jet-for-pytorch, JAX, folx) in
# their own environment, .bench-venv; they are never wrt's dependencies. A peer that
# fails to install is reported and its rows are left out of the page.
BENCH_VENV := .bench-venv
BENCH_PY := $(BENCH_VENV)/bin/python
BENCH_STAMP := $(BENCH_VENV)/.installed

$(BENCH_STAMP): pyproject.toml constraints.txt bench/requirements-peers.txt bench/patch_jet.py
	test -x $(BENCH_PY) || python3 -m venv $(BENCH_VENV)
	$(BENCH_PY) -m pip install --quiet -c constraints.txt torch==2.13.0
	$(BENCH_PY) -m pip install --quiet -c constraints.txt scipy
	($(BENCH_PY) -m pip install --quiet --no-deps --ignore-requires-python jet-for-pytorch==1.0.0 \
		&& $(BENCH_PY) bench/patch_jet.py) \
		|| echo "bench-peers: jet-for-pytorch not installed; its rows will be left out"
	$(BENCH_PY) -m pip install --quiet -c constraints.txt -r bench/requirements-peers.txt \
		|| echo "bench-peers: JAX / folx not installed; their rows will be left out"
	$(BENCH_PY) -m pip install --quiet -c constraints.txt -e .
	touch $(BENCH_STAMP)

.PHONY: bench-peers
bench-peers: $(BENCH_STAMP) ## Benchmarks with jet, JAX, folx; writes docs/benchmarks.md
	$(BENCH_PY) bench/bench_engines.py --write docs/benchmarks.md

fixtures: ## Regenerate tests/fixtures (own .fixtures-venv with TensorFlow; slow)
	test -x .fixtures-venv/bin/python || python3 -m venv .fixtures-venv
	.fixtures-venv/bin/python -m pip install --quiet -c constraints.txt -r fixtures/requirements.txt
	.fixtures-venv/bin/python -m pip install --quiet --no-deps -r fixtures/requirements-nodeps.txt
	.fixtures-venv/bin/python fixtures/make_arrays.py
	.fixtures-venv/bin/python fixtures/make_torch.py
	.fixtures-venv/bin/python fixtures/make_onnx.py
	.fixtures-venv/bin/python fixtures/make_keras.py
	for g in fixtures/make_corpus_*.py; do .fixtures-venv/bin/python $$g || exit 1; done
	.fixtures-venv/bin/python fixtures/make_readme.py

clean: ## Remove the virtualenv and caches
	rm -rf $(VENV) .bench-venv .fixtures-venv .pytest_cache .ruff_cache .hypothesis site
