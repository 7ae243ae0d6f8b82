# Step2Motion for Blender. `make demo` and `make test` set everything up on a fresh machine.
# Targets: venv demo test test-fast bench extension venv-bpy42 test-bpy42 venv-bpy45 test-bpy45 test-blender ci clean
# (see docs/development.md).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
OUT ?= out

# Older Blender versions, each in .venv-bpyXY: the 4.2 LTS and 4.5 LTS bpy wheels (CPython 3.11,
# numpy 1.x). 4.5 is the last release before 5.0's API removals, with slotted actions (since 4.4).
BPY_42 ?= bpy==4.2.23
BPY_45 ?= bpy==4.5.15
# Blender tests + core tests, run again against each of them.
TESTS_OLD ?= $(wildcard tests/blender tests/core)

# A real Blender binary for `make test-blender BLENDER=/path/to/blender` (pytest-blender).
BLENDER ?=
VENV_HOST ?= .venv-pytest-blender

.PHONY: venv venv-bpy42 venv-bpy45 demo test test-fast test-bpy42 test-bpy45 test-blender bench extension ci clean

$(VENV)/.installed: requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed

# Same development requirements, with bpy swapped for an older wheel (% = 42, 45).
.venv-bpy%/.installed: requirements-dev.txt
	@test -n "$(BPY_$*)" || { echo "no bpy pin BPY_$* for .venv-bpy$*" >&2; exit 2; }
	$(PYTHON) -m venv .venv-bpy$*
	.venv-bpy$*/bin/python -m pip install -q --upgrade pip
	# bpy is swapped; the training-only packages are not needed for the Blender + core subset.
	grep -v -E '^(bpy|torch|onnx|ml_dtypes)([=<>!~ ]|$$)' requirements-dev.txt > .venv-bpy$*/requirements.txt
	.venv-bpy$*/bin/python -m pip install -q "$(BPY_$*)" "numpy<2" -r .venv-bpy$*/requirements.txt
	touch $@

venv-bpy42: .venv-bpy42/.installed
venv-bpy45: .venv-bpy45/.installed

# Main job on the embedded sample: full-body reconstruction baked on a character with the
# pressure insoles under its feet: a .blend, a BVH, a Workbench preview PNG and a JSON report.
demo: venv
	mkdir -p $(OUT)
	$(PY) -m step2motion_addon reconstruct step2motion_addon/samples/demo_walk.s2m --out $(OUT)/demo.blend \
	  --bvh $(OUT)/demo.bvh --png $(OUT)/demo.png --json $(OUT)/demo.json

test: venv
	$(PY) -m pytest -q

test-fast: venv
	$(PY) -m pytest -q -m "not slow and not blender"

# The Blender and core tests against bpy 4.2 / 4.5 LTS. Fails (does not skip) if bpy is another version.
test-bpy42 test-bpy45: test-bpy%: .venv-bpy%/.installed
	.venv-bpy$*/bin/python -c "import bpy, sys; v = '%d%d' % bpy.app.version[:2]; \
	  sys.exit(0 if v == '$*' else 'bpy $* expected, got %s' % (bpy.app.version,))"
	.venv-bpy$*/bin/python -m pytest -q $(TESTS_OLD)

# The Blender tests inside a real Blender binary (pytest-blender drives it; Blender's own
# Python runs pytest). pytest-blender lives in its own small venv because, once installed,
# it aborts every pytest run that has no Blender binary.
test-blender:
	@test -n "$(BLENDER)" || { echo "usage: make test-blender BLENDER=/path/to/blender" >&2; exit 2; }
	$(MAKE) extension
	test -x $(VENV_HOST)/bin/pytest-blender || { $(PYTHON) -m venv $(VENV_HOST) && \
	  $(VENV_HOST)/bin/python -m pip install -q pytest pytest-blender; }
	BLENDER_PY="$$($(VENV_HOST)/bin/pytest-blender --blender-executable "$(BLENDER)")" && \
	  "$$BLENDER_PY" -m ensurepip -q && "$$BLENDER_PY" -m pip install -q pytest
	$(VENV_HOST)/bin/python -m pytest -q --blender-executable "$(BLENDER)" tests/blender

bench: venv
	$(PY) -m bench

# Extension zips for linux-x64, windows-x64, macos-arm64 in dist/ (wheels cached in wheels/).
extension: venv
	$(PY) tools/build_extension.py

ci:
	.ci/run

clean:
	rm -rf build dist $(OUT) .pytest_cache
