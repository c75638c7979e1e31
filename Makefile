# The README's two commands are `make reports` and `make test`; each sets up .venv first.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DATA   ?= data/sample
OUT    ?= reports
JOBS   ?=

.PHONY: reports test lab sample validate dictionary bench clean

# Tests and builds run one process per core; single-threaded maths libraries avoid
# oversubscribing the cores (matrix work in disclosure control is 10x faster so).
export OPENBLAS_NUM_THREADS ?= 1
export OMP_NUM_THREADS ?= 1

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $(STAMP)

reports: $(STAMP)  ## build every report from $(DATA) into $(OUT)/
	$(PY) -m changing_tracks build --data $(DATA) --out $(OUT) $(if $(JOBS),--jobs $(JOBS))

test: $(STAMP)  ## run the whole test suite
	$(PY) -m pytest -n 2 -q

lab: $(STAMP)  ## open JupyterLab on the notebooks
	$(PY) -m jupyter lab notebooks/

sample: $(STAMP)  ## regenerate the committed sample data from its seed
	$(PY) -m changing_tracks sample --out data/sample --seed 2020

validate: $(STAMP)  ## check a data folder: make validate DATA=path/to/data
	$(PY) -m changing_tracks validate $(DATA)

dictionary: $(STAMP)  ## regenerate docs/data-dictionary.md from the contracts
	$(PY) -m changing_tracks dictionary --out docs/data-dictionary.md

BENCH_ARGS ?= --big-register
bench: $(STAMP)  ## run the benchmarks (slow, ~6 GB of generated data; not part of make test)
	$(PY) -m benchmarks $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
