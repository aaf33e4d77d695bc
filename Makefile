# The README's two commands are `make up` and `make test`; each installs what it
# needs on first run (a Python virtualenv in .venv, the server binaries in
# ~/.cache/thumbnailer via hack/provision.sh).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | md5sum | cut -c1-12)

.PHONY: help install binaries docker-engine test up down status bench fuzz e2e images lint clean debug-bundle

help:
	@echo "make up      start the local stack (control plane, S3, dev node, operator, uploader)"
	@echo "make up NODE=real  the same through the chart on a real node (containerd, kubelet; root)"
	@echo "make down    stop it"
	@echo "make test    run the whole test suite (unit + integration on the local control plane)"
	@echo "make bench   run the benchmarks (NODE=real: the load benchmark on the real node)"
	@echo "make fuzz    fuzz the resizer's core with atheris (FUZZ_SECONDS=300)"
	@echo "make e2e     run the kind suite (needs Docker and kind; E2E_ARGS=--keep-cluster keeps the cluster)"
	@echo "make debug-bundle NAMESPACE=ns [RELEASE=name] [OUTPUT=file.tar.gz]  one tarball for a bug report"
	@echo "make images  build thumbnailer:$(VERSION) and thumbnailer-resizer:$(VERSION) (needs Docker)"
	@echo "make lint    ruff over the Python code, hadolint over both Dockerfiles"

$(STAMP):
	@echo "==> creating $(VENV) and installing the project with its dev dependencies"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --progress-bar off -e '.[dev]'
	@rm -f $(VENV)/.installed-*; touch $@

install: $(STAMP)

binaries:
	@echo "==> server binaries (built once from the Go module proxy, then cached)"
	@bash hack/provision.sh >/dev/null

test: install binaries docker-engine
	$(VENV)/bin/pytest

# The image tests build and run the images: Debian's docker.io, started if nothing answers.
docker-engine:
	@bash hack/docker-engine.sh

# NODE=real: the chart on a real node (containerd, kubelet, CNI, kube-proxy, CoreDNS; needs root).
up: install binaries $(if $(filter real,$(NODE)),docker-engine)
	$(PY) -m devcluster up --node $(or $(NODE),dev) $(if $(filter real,$(NODE)),--timeout 900)

down:
	@if [ -x $(PY) ]; then $(PY) -m devcluster down; else echo "not running"; fi

status:
	$(PY) -m devcluster status

bench: install binaries $(if $(filter real,$(NODE)),docker-engine)
	@command -v wrk >/dev/null || { echo "==> apt-get install wrk (the load benchmark's HTTP load tool)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk >/dev/null; }
	$(PY) benchmarks/run.py
	$(PY) benchmarks/upload.py
	$(PY) benchmarks/hostile.py
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(PY) benchmarks/load.py --node $(or $(NODE),dev)

# Coverage-guided fuzzing of make_thumbnail, seeded with every case; a crash-*/timeout-*/oom-*
# file in the working directory is the input that found a bug (fuzz/thumbnail_fuzz.py).
fuzz: install
	$(PY) fuzz/thumbnail_fuzz.py --seconds $(or $(FUZZ_SECONDS),300)

# Exits 1 with the reason where the suite cannot run (a skip is not a pass); the
# check looks for `kind` on PATH, so a --kind-bin in E2E_ARGS needs KIND_BIN=... too.
e2e: install binaries
	@$(PY) -c 'import sys; sys.path.insert(0, "tests"); import kindsuite; \
	  why = kindsuite.skip_reason(sys.argv[1] or None); why and sys.exit("make e2e cannot run here: " + why)' "$(KIND_BIN)"
	$(VENV)/bin/pytest tests/e2e -m kind -rs $(if $(KIND_BIN),--kind-bin $(KIND_BIN)) $(E2E_ARGS)

# The two images, tagged as helm/thumbnailer/values.yaml expects (image, resizerImage).
# No Docker engine: one line saying so, before any docker command runs.
DOCKER ?= docker
VERSION := $(shell sed -n 's/^version = "\(.*\)"$$/\1/p' pyproject.toml)
REVISION = $(shell git rev-parse HEAD 2>/dev/null || echo unknown)$(if $(shell git status --porcelain --untracked-files=no 2>/dev/null),-dirty)
SOURCE = $(or $(shell git config --get remote.origin.url 2>/dev/null),unknown)
BUILD_ARGS = --build-arg VERSION=$(VERSION) --build-arg REVISION=$(REVISION) --build-arg SOURCE=$(SOURCE)

# hack/images.sh installs and starts Docker where it can (root, Debian), picks BuildKit where it
# exists (BUILDER=legacy for the classic builder) and, where python:*-slim cannot be pulled,
# builds on a base made from Debian packages (PYTHON_IMAGE=... chooses another).
images:
	@bash hack/images.sh --builder $(or $(BUILDER),auto)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/hadolint --config .hadolint.yaml Dockerfile.operator Dockerfile.resizer
	@echo "hadolint: Dockerfile.operator and Dockerfile.resizer are clean"

clean: down
	rm -rf $(VENV) .local .pytest_cache

# One tarball for a bug report (secrets redacted): kubeconfig as kubectl resolves it
# ($$KUBECONFIG, else ~/.kube/config); helm from PATH, else the pinned one if built.
debug-bundle: install
	@test -n "$(NAMESPACE)" || { echo "usage: make debug-bundle NAMESPACE=<namespace> [RELEASE=<release>] [OUTPUT=<file.tar.gz>]" >&2; exit 2; }
	@PATH="$$PATH:$$(bash hack/provision.sh --print 2>/dev/null)" $(PY) -m debugbundle \
		--namespace "$(NAMESPACE)" $(if $(RELEASE),--release "$(RELEASE)") $(if $(OUTPUT),--output "$(OUTPUT)") \
		$(if $(KUBECONFIG),,$(if $(wildcard .local/stack.json),--kubeconfig .local/kubeconfig))
