# Everything a fresh machine needs: `make demo`, `make test`.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
# durable-rules builds only for CPython 3.11/3.12: take the first interpreter that runs and is one.
PYTHON ?= $(shell for p in python3.11 python3.12 python3; do \
  $$p -c 'import sys; sys.exit(sys.version_info[:2] not in ((3, 11), (3, 12)))' 2>/dev/null \
  && { echo $$p; break; }; done)
PROTOS := $(wildcard protos/fengqiao/v1/*.proto)
VERSION := $(shell sed -n 's/^version = "\(.*\)"$$/\1/p' pyproject.toml)
# The one name of the image: compose and deploy/kustomization.yaml use it too.
IMAGE := fengqiao:$(VERSION)
# Where `make image-test` keeps the Debian base's root filesystem between runs.
IMAGE_CACHE ?= /var/cache/fengqiao

.PHONY: install demo up test lint typecheck unit protos lock image-test bench bench-scale chaos vendor clean

$(BIN)/fengqiao: pyproject.toml
	@test -n "$(PYTHON)" || { echo "fengqiao needs python3.11 or python3.12 on PATH" >&2; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/fengqiao

demo: install
	$(BIN)/fengqiao demo

up: install
	$(BIN)/fengqiao up

protos: install
	$(BIN)/python -m grpc_tools.protoc -Iprotos \
	  --python_out=services --grpc_python_out=services \
	  --plugin=protoc-gen-mypy=$(BIN)/protoc-gen-mypy --mypy_out=services \
	  --plugin=protoc-gen-mypy_grpc=$(BIN)/protoc-gen-mypy_grpc --mypy_grpc_out=services \
	  $(PROTOS)

lint: install
	$(BIN)/ruff check services tests
	$(BIN)/ruff format --check services tests

typecheck: install
	$(BIN)/mypy

unit: install
	$(BIN)/pytest -q

test: lint typecheck
	$(BIN)/fengqiao rules check --strict rules/triage.yaml
	$(BIN)/fengqiao rules test rules/triage.yaml
	timeout 1200 $(BIN)/pytest -q

# The image's lock file: every runtime dependency, direct or not, with its hashes. Run it
# after changing the dependencies in pyproject.toml (a test fails until then).
lock: install
	$(BIN)/uv pip compile pyproject.toml --universal --python-version 3.11 --generate-hashes \
	  --custom-compile-command "make lock" --quiet -o deploy/image/requirements.lock

# Builds deploy/Dockerfile with podman, lints it, and runs the image (deploy/image/test.sh;
# as root, with podman and debootstrap: see .ci/run).
image-test: install
	timeout --foreground -k 30 1200 deploy/image/test.sh $(IMAGE) $(IMAGE_CACHE)

# `make bench BENCH_ARGS="--source /tmp/fq-baseline"` measures another checkout's services.
# The run bounds each of its own waits; the outer timeout (SIGINT, so it still stops every
# process it started) is for a run that hangs anyway.
bench: install
	timeout --foreground -s INT -k 30 1200 $(BIN)/python -m tests.bench.run $(BENCH_ARGS)

# The read model with a large store (README, "The read model"): BENCH_SCALE_COUNT disputes
# (default 1,000,000) written straight to the bucket, then SQLite and PostgreSQL measured.
bench-scale: install
	$(BIN)/python -m tests.bench_scale.run

# Faults under load, counted from the buckets (README, "Faults and guarantees"): every
# scenario, ~5,000 disputes each. The short form runs in `make test`
# (tests/chaos/test_chaos_short.py). CHAOS_ARGS="--scenario single -n 1000" for one.
chaos: install
	timeout --foreground -s INT -k 30 3600 $(BIN)/python -m tests.chaos.run $(CHAOS_ARGS)

# The console's browser files (services/fengqiao/console/static/vendor/: htmx, the CodeMirror
# editor bundle, their licences) are built files, committed: Node and npm are needed only to
# rebuild them here, after changing frontend/package.json or editor.mjs, never at run time.
# No package needs its install script (esbuild's only checks its binary), so none is run.
vendor:
	cd services/fengqiao/console/frontend && npm ci --no-audit --no-fund --ignore-scripts && ./build.sh

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
