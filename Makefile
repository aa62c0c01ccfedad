# Velkommen: the two commands a new user needs are `make run` and `make test` (see README.md).
SHELL := /bin/bash
PY    ?= python3
VENV  := .venv
PIP   := $(VENV)/bin/pip
PYTHON := $(VENV)/bin/python

.PHONY: install run stop status test test-unit lint infra infra-stop clean-data bench faults

CATALOGS := $(patsubst %.po,%.mo,$(wildcard services/*/locales/*/LC_MESSAGES/messages.po))

KUSTOMIZE := .cache/bin/kustomize

## install: Python virtualenv with pinned dependencies, Apache Kafka jars (Maven Central), FerretDB and kustomize
## (Go module proxy), fonts, Pango and Chromium (Debian), compiled message catalogs
install: $(VENV)/.installed $(CATALOGS) $(KUSTOMIZE)
	@deploy/system-packages.sh
	@deploy/kafka.sh install
	@deploy/ferretdb.sh install
	@deploy/mailpit.sh install

# kustomize, to build and validate deploy/k8s in the tests (no cluster, no binary download here).
$(KUSTOMIZE): deploy/kustomize/main.go deploy/kustomize/go.mod deploy/kustomize/go.sum
	@mkdir -p $(dir $@)
	@cd deploy/kustomize && go build -trimpath -o ../../$@ .

# Translations (letters, mails): .po files are the source (committed); .mo files are built here.
%/messages.mo: %/messages.po $(VENV)/.installed
	@$(VENV)/bin/pybabel --quiet compile -i $< -o $@

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PY) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -c constraints.txt -e '.[test]'
	@touch $@

## run: install, start Kafka + FerretDB + the four services in the background, wait until all are ready
run: install infra
	@deploy/services.sh start
	@echo "Velkommen is up: registration :8001, welcome_pack :8002, school_intake :8003, job_match :8004; mail at http://127.0.0.1:8025. Stop with: make stop"

## stop: stop the services and the infrastructure
stop:
	@deploy/services.sh stop
	@deploy/kafka.sh stop
	@deploy/ferretdb.sh stop
	@deploy/mailpit.sh stop

status:
	@deploy/services.sh status || true
	@deploy/kafka.sh status || true
	@deploy/ferretdb.sh status || true
	@deploy/mailpit.sh status || true

infra: install
	@deploy/ferretdb.sh start
	@deploy/kafka.sh start
	@deploy/mailpit.sh start

infra-stop:
	@deploy/kafka.sh stop
	@deploy/ferretdb.sh stop
	@deploy/mailpit.sh stop

## test: install, then run every test; the fixtures start Kafka and FerretDB unless
## KAFKA_BOOTSTRAP_SERVERS / MONGODB_URI are given (or a Docker engine runs testcontainers)
test: install
	$(PYTHON) -m pytest -q $(PYTEST_ARGS)

## test-unit: only the pure-logic tests: no servers, no built tools (seconds)
test-unit: $(VENV)/.installed $(CATALOGS)
	$(PYTHON) -m pytest -q -m "not infra and not tools" $(PYTEST_ARGS)

## lint: ruff (rules in pyproject.toml) and mypy (shared/ and services/); CI runs it
lint: $(VENV)/.installed
	$(VENV)/bin/ruff check shared services tests bench
	$(VENV)/bin/mypy

## faults: the fault-injection suite at full size (1,000 registrations per scenario; `make test` runs 100)
faults: install
	FAULTS_REGISTRATIONS=$${FAULTS_REGISTRATIONS:-1000} FAULTS_FUZZ_EXAMPLES=$${FAULTS_FUZZ_EXAMPLES:-100} \
	  $(PYTHON) -m pytest -q -s tests/faults $(PYTEST_ARGS)

## clean-data: stop everything and delete local Kafka and database data (not the cached jars/binaries)
clean-data: stop
	rm -rf .data

## bench: benchmark scripts that print figures (not tests): letter rendering, job matching, mail, the flow,
## the documents' insert cost, data size
bench: install
	$(PYTHON) -m bench.letters
	$(PYTHON) -m bench.job_match
	$(PYTHON) -m bench.mail
	$(PYTHON) -m bench.flow
	$(PYTHON) -m bench.documents
	$(PYTHON) -m bench.size
