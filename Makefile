# Two commands do all set-up on a fresh machine with Python 3.11:
#   make demo   creates .venv, installs deeplab_tf, runs the quickstart (train, evaluate, export)
#   make test   creates .venv, installs deeplab_tf with its test extras, runs the test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# Parallel test workers; each TensorFlow process also uses the cores, so two is the sweet spot.
TEST_WORKERS ?= 2

.PHONY: demo test clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(VENV)/.installed: setup.py | $(VENV)/bin/python
	$(PY) -m pip install -q -e .
	touch $@

$(VENV)/.installed-test: setup.py | $(VENV)/bin/python
	$(PY) -m pip install -q -e ".[test]"
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	$(PY) -m deeplab_tf.train --flagfile=experiments/quickstart.flags

test: $(VENV)/.installed-test
	$(PY) -m pytest -n $(TEST_WORKERS) --durations=40 tests

clean:
	rm -rf $(VENV) runs
