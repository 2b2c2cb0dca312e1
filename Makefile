# make demo: analyse ResNet-50 (batch 32, bf16, meta tensors) on an H100 SXM spec. make test: run the test suite.
# Both create .venv and install what they need on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed

.PHONY: demo test install clean figures notebooks

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	# torch first, pinned to the local CPU build: a looser requirement would fetch CUDA wheels.
	$(PIP) install --quiet -c constraints.txt torch==2.13.0
	$(PIP) install --quiet -c constraints.txt -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/roofline analyze resnet50 --hw h100-sxm --batch 32 --dtype bf16 --meta

test: $(STAMP)
	$(PY) -m pytest -q

# Regenerate the committed README figures in docs/figures/ (meta tensors: a few seconds).
figures: $(STAMP)
	$(PY) benchmarks/figures.py

# Run every notebook in place and store its outputs (a few minutes on 2 cores).
notebooks: $(STAMP)
	$(PY) benchmarks/notebooks.py

clean:
	rm -rf $(VENV) build *.egg-info
