# Step2Motion for Blender. `make demo` and `make test` set everything up on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
OUT ?= out

.PHONY: venv demo test test-fast bench extension test-blender clean

$(VENV)/.installed: requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed

# Main job on the embedded sample: a .blend with the animated insoles and a PNG preview.
demo: venv
	mkdir -p $(OUT)
	$(PY) -m step2motion_addon import step2motion_addon/samples/demo_walk.s2m --blend $(OUT)/demo.blend --png $(OUT)/demo.png

test: venv
	$(PY) -m pytest -q

test-fast: venv
	$(PY) -m pytest -q -m "not slow and not blender"

bench: venv
	$(PY) -m bench

clean:
	rm -rf build dist $(OUT) .pytest_cache
