# Shortcuts; each target is one of the README's commands.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: install train test summary sweep clean

$(PY):
	python3 -m venv $(VENV)

install: $(PY)
	$(VENV)/bin/pip install -r requirements.txt -e .

train: install
	$(PY) -m lenet_jax.main --config=configs/lenet5.py

test: install
	$(PY) -m pytest -q tests

summary: install
	$(PY) -m lenet_jax.summary --config=configs/lenet5_1998.py

sweep: install
	$(PY) -m lenet_jax.sweep --config=configs/lenet5.py --sweep=ablations --seeds=5 --workdir=runs/ablations

clean:
	rm -rf runs .pytest_cache
