# Real-time web, hands on. `make lab` to learn, `make test` to check everything.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
KERNEL := realtime-web
PYTEST_NOTEBOOKS := --nbval-lax --nbval-current-env --nbval-cell-timeout=180

.PHONY: setup lab test lint unit notebooks exercises run bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --editable '.[dev]'
	$(BIN)/python -m ipykernel install --user --name $(KERNEL) --display-name "Python (real-time web)"
	touch $(STAMP)

ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

lab: setup
	$(BIN)/jupyter lab --ServerApp.ip=127.0.0.1 $(ROOT_FLAG) notebooks/00-welcome.ipynb

test: setup
	$(BIN)/ruff check .
	$(BIN)/python tools/make_exercises.py --check
	$(BIN)/python -m pytest tests notebooks solutions $(PYTEST_NOTEBOOKS)

unit: setup
	$(BIN)/python -m pytest tests

notebooks: setup
	$(BIN)/python -m pytest notebooks solutions $(PYTEST_NOTEBOOKS)

exercises: setup
	$(BIN)/python tools/make_exercises.py

run: setup
	$(BIN)/jupyter nbconvert --to html --execute --ExecutePreprocessor.timeout=180 \
		--output-dir build/html notebooks/*.ipynb
	@echo "open build/html/ in a browser"

bench: setup
	$(BIN)/python tools/bench.py --out build/bench.json

clean:
	rm -rf build
