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

# The measurement scripts that run on their defaults; the long research runs (learning_curve,
# evopose_transfer, posefix_by_error, rmpe_ablation SUBCOMMAND, video, ilp --roundtrip) are run
# one by one, as their docstrings and the docs pages say.
BENCH_SCRIPTS := coco_eval pipeline predict train_step complexity_a complexity_b complexity_bottomup \
	grouping ilp bottomup_vs_topdown backends peer levers

bench: $(VENV)/.installed
	$(PIP) install -q -e '.[test,bench]'
	for s in $(BENCH_SCRIPTS); do echo "== benchmarks/$$s.py"; $(PY) benchmarks/$$s.py || exit 1; done
	$(VENV)/bin/posekit bench --all

clean:
	rm -rf $(VENV) out
