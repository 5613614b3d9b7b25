# trigger: `make synth` (main job) and `make test`; both set up .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SPECS  := $(wildcard models/*/spec.yml)

MODELS := $(patsubst models/%/spec.yml,%,$(SPECS))

.PHONY: all synth test test-fast data train check export clean distclean setup

all: synth

setup: $(STAMP)

# g++ compiles the hls4ml C simulation; install it when missing (root, Debian).
$(STAMP): pyproject.toml requirements.lock
	@command -v g++ >/dev/null || (apt-get update && apt-get install -y --no-install-recommends g++)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip==26.3
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[test]'
	@touch $(STAMP)

## synth: HLS projects for every model under models/, csim checks, metrics.json, summary table
synth: setup
	$(BIN)/trigger synth $(SPECS)

## test: the pytest suite (CI runs this)
test: setup
	$(BIN)/python -m pytest

## data: the datasets of every spec + the full ttbar and anomaly samples (cached under data/; ~2 h on 2 cores)
data: setup
	$(BIN)/trigger data spec $(SPECS)
	$(BIN)/trigger data ttbar
	$(BIN)/trigger data anomaly

## train: (re)train every model from its spec; writes models/<name>/trained/
train: data
	$(BIN)/trigger train $(SPECS)

## check: budget gate on the last metrics.json of every model
check: setup
	$(BIN)/trigger check $(MODELS)

## export: firmware integration bundles (hls_projects/<model>/bundle/) of every model, after synth
export: synth
	$(BIN)/trigger export $(MODELS)

## clean: remove generated HLS projects and caches (keeps data/ and .venv)
clean:
	find hls_projects -mindepth 1 -maxdepth 1 ! -name README.md -exec rm -rf {} +
	find . -name __pycache__ -type d -prune -not -path './$(VENV)/*' -exec rm -rf {} +
	rm -rf .pytest_cache

## distclean: also remove the generated data and the virtualenv
distclean: clean
	rm -rf data $(VENV)
