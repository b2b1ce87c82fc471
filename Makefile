# kuberay-py: `make demo` runs the main job on the embedded sandbox, `make test` passes the tests.
# Both install what they need (a .venv made by `make setup`).

SHELL := bash
.SHELLFLAGS := -o pipefail -c

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup lint test unit e2e-sandbox e2e demo bench manifests clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

setup: $(STAMP)

lint: setup
	$(VENV)/bin/ruff check kuberay_py unit_tests e2e bench examples conftest.py
	$(VENV)/bin/ruff format --check kuberay_py unit_tests e2e bench examples conftest.py
	$(VENV)/bin/mypy --strict kuberay_py
	$(VENV)/bin/lint-imports

unit: setup
	$(VENV)/bin/pytest -q unit_tests

e2e-sandbox: setup
	$(VENV)/bin/pytest -q e2e

# lint + unit + e2e on the sandbox, in one pytest run so one summary line closes it.
test: lint
	$(VENV)/bin/pytest -q -p no:cacheprovider unit_tests e2e

# The e2e suite on kind (needs Docker): pytest-kind creates the cluster.
e2e: setup
	$(PY) -m pip install --quiet -e '.[kind]'
	$(VENV)/bin/pytest -q e2e --backend=kind

demo: setup
	$(PY) -m kuberay_py demo

bench: setup
	@mkdir -p bench/results
	$(PY) bench/sandbox_throughput.py | tee bench/results/sandbox_throughput.json
	$(PY) bench/bench_workqueue.py | tee bench/results/workqueue.json
	$(PY) bench/bench_informer_sync.py | tee bench/results/informer_sync.json
	$(PY) bench/bench_idle_manager.py | tee bench/results/idle_manager.json
	$(PY) bench/raycluster_convergence.py | tee bench/results/raycluster_convergence.json

# The CRDs generated from the api models (a unit test fails while these are stale).
manifests: setup
	@mkdir -p manifests/crd
	$(PY) -m kuberay_py.api.crd > manifests/crd/ray.io_rayclusters.yaml.tmp
	mv manifests/crd/ray.io_rayclusters.yaml.tmp manifests/crd/ray.io_rayclusters.yaml

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
