# Real-time web, hands on. `make lab` to learn, `make test` to check everything.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
KERNEL := realtime-web
# Inside the venv, so it belongs to this checkout: the venv's JupyterLab finds it, nothing else does.
KERNEL_SPEC := $(VENV)/share/jupyter/kernels/$(KERNEL)/kernel.json
# `make user-kernel`, for a JupyterLab of your own: a user-wide name unique to this checkout.
USER_KERNEL := $(KERNEL)-$(shell printf %s "$(CURDIR)" | cksum | cut -d' ' -f1)
PYTEST_NOTEBOOKS := --nbval-lax --nbval-current-env --nbval-cell-timeout=180
# nbval's green runs go into the book's execution cache, so `make site` after them executes nothing.
KEEP_EXECUTED := -p keep_executed --keep-executed=build/site/cache

.PHONY: setup lab user-kernel test lint unit notebooks exercises site run bench clean

setup: $(STAMP) $(KERNEL_SPEC)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --editable '.[dev,site]'
	touch $(STAMP)

$(KERNEL_SPEC): $(STAMP)
	$(BIN)/python -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python (real-time web)"

ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

lab: setup
	$(BIN)/jupyter lab --ServerApp.ip=127.0.0.1 $(ROOT_FLAG) --ServerApp.root_dir=. \
		--LabApp.default_url=/lab/tree/notebooks/00-welcome.ipynb

user-kernel: setup
	@$(BIN)/jupyter kernelspec list | grep -w "^ *$(USER_KERNEL)" \
		&& echo "replacing the kernel above (this checkout's own, from an earlier make user-kernel)" || true
	$(BIN)/python -m ipykernel install --user --name $(USER_KERNEL) \
		--display-name "Python (real-time web, $(CURDIR))"

test: setup
	$(BIN)/ruff check .
	$(BIN)/python tools/make_exercises.py --check
	$(BIN)/python tools/navigation.py --check
	$(BIN)/python -m pytest tests notebooks solutions $(PYTEST_NOTEBOOKS) $(KEEP_EXECUTED)
	$(BIN)/python tools/make_site.py
	$(BIN)/python tools/check_site.py

unit: setup
	$(BIN)/python -m pytest tests

notebooks: setup
	$(BIN)/python -m pytest notebooks solutions $(PYTEST_NOTEBOOKS) $(KEEP_EXECUTED)

exercises: setup
	$(BIN)/python tools/make_exercises.py

navigation: setup
	$(BIN)/python tools/navigation.py
	$(BIN)/python tools/make_exercises.py

# The course as a book (build/site/html): every written lesson executed (cached: a rebuild runs
# only lessons whose code changed), with navigation, contents and search; then checked.
# SITE_FLAGS=--solutions publishes the worked solutions too.
site: setup
	$(BIN)/python tools/make_site.py $(SITE_FLAGS)
	$(BIN)/python tools/check_site.py $(filter --solutions,$(SITE_FLAGS))

# The old name: `make run` wrote loose HTML files; the book replaces them.
run: site

bench: setup
	$(BIN)/python tools/bench.py --out build/bench.json

clean:
	rm -rf build
