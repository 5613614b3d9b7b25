# trigger: `make synth` (main job) and `make test`; both set up .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SPECS  := $(wildcard models/*/spec.yml)

MODELS := $(patsubst models/%/spec.yml,%,$(SPECS))
SCANS  := $(patsubst models/%/scan.yml,%,$(wildcard models/*/scan.yml))

.PHONY: all synth test test-fast data train check export rtl bench scan clean distclean setup

all: synth

setup: $(STAMP)

# Debian tools: g++ compiles the hls4ml C simulation; iverilog simulates and yosys synthesises
# the RTL twin (trigger rtl). Installed when missing (root).
APT_TOOLS := g++ iverilog yosys
# HGQ2 goes into an overlay directory, not into the venv (requirements-hgq2.lock says why).
$(STAMP): pyproject.toml requirements.lock requirements-hgq2.lock
	@for tool in $(APT_TOOLS); do command -v $$tool >/dev/null || missing="$$missing $$tool"; done; \
	 if [ -n "$$missing" ]; then apt-get update && apt-get install -y --no-install-recommends $$missing; fi
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip==26.3
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[test]'
	rm -rf $(VENV)/hgq2
	$(BIN)/python -m pip install --quiet --no-deps --target $(VENV)/hgq2 -r requirements-hgq2.lock
	@touch $(STAMP)

## synth: HLS projects for every model under models/, csim checks, metrics.json, summary table
synth: setup
	$(BIN)/trigger synth $(SPECS)

## test: the pytest suite (CI runs this), on every core (pytest-xdist; a module's tests, or one shipped model's, share a worker)
PYTEST := $(BIN)/python -m pytest -n auto --dist loadscope
test: setup
	$(PYTEST)

## test-fast: the suite without the tests marked slow (end-to-end runs of shipped and tiny models); < 3 min
test-fast: setup
	$(PYTEST) -m "not slow"

## data: the datasets of every spec + the full ttbar and anomaly samples (cached under data/; the anomaly one alone ~1.5 h on 2 cores)
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

## export: integration bundles (hls_projects/<model>/bundle/) of every model, after synth: HLS testbench, CMSSW emulator
## libraries (then all in one process) and the RTL core's Verilog testbench, each on every test event
export: synth
	$(BIN)/trigger export $(MODELS)

## rtl: RTL twin of every model (da4ml Verilog): Icarus simulation vs csim (0 LSB), cycle latency/II, yosys resources
rtl: synth
	$(BIN)/trigger rtl $(MODELS)

## bench: numpy emulator vs hls4ml csim predict(): throughput ratio per model, bit-exact on every event
bench: synth
	$(BIN)/trigger bench $(MODELS)

## scan: design-space scan of every model with a scan.yml (models/<name>/scan/; hours on 2 cores; resumable), then its
## pick (scan/pick/spec.yml) verified by the full flow: train, synth (0 LSB on the test split), rtl (yosys, source rtl).
## A model with no design within its budget.yml is reported (exit 1 of --pick) and the others go on; errors stop it.
scan: data
	@missed=""; for model in $(SCANS); do \
	  $(BIN)/trigger scan $$model || exit $$?; \
	  $(BIN)/trigger scan $$model --pick; status=$$?; \
	  if [ $$status = 1 ]; then missed="$$missed $$model"; continue; elif [ $$status != 0 ]; then exit $$status; fi; \
	  $(BIN)/trigger train models/$$model/scan/pick && $(BIN)/trigger synth models/$$model/scan/pick && \
	  $(BIN)/trigger rtl models/$$model/scan/pick || exit $$?; done; \
	if [ -n "$$missed" ]; then echo "make scan: no design within budget.yml for:$$missed (see models/<model>/scan/front.md)"; fi

## clean: remove generated HLS projects and caches (keeps data/ and .venv)
clean:
	find hls_projects -mindepth 1 -maxdepth 1 ! -name README.md -exec rm -rf {} +
	find . -name __pycache__ -type d -prune -not -path './$(VENV)/*' -exec rm -rf {} +
	rm -rf .pytest_cache

## distclean: also remove the generated data and the virtualenv
distclean: clean
	rm -rf data $(VENV)
