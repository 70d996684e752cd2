# Two commands do all the set-up on a fresh machine:
#   make demo   - create .venv, fetch a real pretrained model, predict poses on a real photo
#   make test   - create .venv and run the test suite
# torch==2.13.0 is installed first: a plain `torch` would pull a multi-GB CUDA build.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
OUT    ?= out/demo

.PHONY: demo test venv bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[test]'
	touch $@

venv: $(VENV)/.installed

demo: $(VENV)/.installed
	photo="$$($(PY) -m posekit.demo)" && $(VENV)/bin/posekit predict "$$photo" --out $(OUT)

test: $(VENV)/.installed
	$(PY) -m pytest -q -n 2 --dist loadfile

bench: $(VENV)/.installed
	$(PIP) install -q -e '.[test,bench]'
	for s in benchmarks/*.py; do echo "== $$s"; $(PY) $$s || exit 1; done

clean:
	rm -rf $(VENV) out
