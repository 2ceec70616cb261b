# City syndication: the two commands are `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STACK := $(PYTHON) deploy/local/stack.py
STATE := $(or $(CITYFEEDS_STATE),var)
SAMPLE_PUBLISHERS := mashhad tehran gorgan
SAMPLE_PARTNERS := istanbul kazan
# make run CLUSTER=3: Kafka as a cluster of three brokers on this machine, topics replicated three
# times with min.insync.replicas=2 (deploy/local/stack.py); one broker by default.
CLUSTER ?= 1
export CITYFEEDS_KAFKA_NODES := $(CLUSTER)
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help run stop status logs i18n test test-unit test-integration test-faults test-cluster test-e2e screenshots chromium axe promtool lint venv provision clean bench-ingest bench-translate bench-feeds bench-e2e bench-scaling bench-attacks bench-checks bench-zwnj bench-import bench-database bench-fediverse

help:
	@echo "make run     provision what is missing, start Kafka, FerretDB and the services, load samples"
	@echo "            (translate serves the best installed model unless TRANSLATE_ENGINE is set)"
	@echo "            make run CLUSTER=3: Kafka as three brokers (replication 3, min.insync.replicas 2)"
	@echo "make stop    stop everything 'make run' started"
	@echo "make status  what is running;  make logs [NAME=ingest|translate|feeds|kafka|ferretdb]"
	@echo "make test    lint, type-check and the full test suite on its own Kafka and database"
	@echo "make i18n    after changing a page's text: the desk's and portal's catalogues brought up to"
	@echo "            date (python -m tools.i18n update; check: python -m tools.i18n check)"
	@echo "make test-cluster  three Kafka brokers and two replicas of each service: brokers killed,"
	@echo "            restarted in turn, fewer than min.insync.replicas up, services rolled out and"
	@echo "            mixed with the previous release; three runs, figures in var/cluster-runs.jsonl"
	@echo "make test-e2e  the editor desk and the partner portal in headless Chromium (tests/e2e);"
	@echo "            make screenshots  the same, writing docs/screenshots/"
	@echo "make test-faults  the fault suite (services, broker and database killed while articles"
	@echo "            flow) three times in a row; figures in var/faults-runs.jsonl"
	@echo "make bench-ingest  ingest throughput vs raw insert_many (writes docs/benchmarks.md)"
	@echo "make bench-translate  translate service vs raw CTranslate2, OPUS-MT and M2M100 sizes (same page)"
	@echo "make bench-feeds  feeds service req/s vs nginx on the same bytes, render time (same page;"
	@echo "            installs Debian's nginx and wrk when missing)"
	@echo "make bench-e2e  submission-to-feed latency (p50/p95/p99 per language) and throughput,"
	@echo "            whole pipeline with the pseudo engine (same page)"
	@echo "make bench-scaling  translate with 1 and 3 replicas (a waiting and a CPU-bound engine), feeds"
	@echo "            with 1 and 2 replicas (same page)"
	@echo "make bench-attacks  the review's attacks measured: crafted pages (extraction time, /healthz"
	@echo "            meanwhile) and WebSub floods (a partner's verification and delivery meanwhile);"
	@echo "            writes docs/reliability.md"
	@echo "make bench-checks  the automatic translation checks' CPU per article against an M2M100-size"
	@echo "            model translating the same articles (same page)"
	@echo "make bench-zwnj  ZWNJ restoration: precision and recall on the labelled word list, and its cost"
	@echo "make bench-fediverse  inbox signature checks and delivery signatures per second, against"
	@echo "            bare RSA-2048 and bovine's check in the same run (writes docs/benchmarks.md)"
	@echo "make bench-database  FerretDB on SQLite vs on PostgreSQL (Debian's, installed when missing):"
	@echo "            ops/s and CPU per op of the platform's reads and writes (writes docs/database.md)"
	@echo "make bench-import  archive import: 10,000 articles through tools.import_archive to every feed"
	@echo "            (articles/s, stages, CPU, database commands per article; BASELINE=FILE: a run"
	@echo "            saved with --save, beside it; same page)"

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed (set PYTHON=python3.11)")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[all,dev]'
	@touch $@

venv: $(VENV)/.installed

provision: venv
	$(STACK) provision

run: provision
	$(STACK) up --infra-only
	$(PY) -m tools.registry load deploy/local/registry.yaml
	$(PY) -m tools.glossary load deploy/local/glossary.yaml
	@for p in $(SAMPLE_PUBLISHERS); do \
	  $(PY) -m tools.registry keys create $$p --name local-editor --out $(STATE)/keys/$$p.key || exit 1; done
	@for p in $(SAMPLE_PARTNERS); do \
	  $(PY) -m tools.registry partner-token create $$p --out $(STATE)/keys/partner-$$p.token || exit 1; done
	@# No model installed: fetch the catalogue's default when the hub answers (TRANSLATE_AUTO_FETCH=0
	@# opts out, TRANSLATE_DEFAULT_MODEL names another); without a hub, one line, and on as before.
	@$(PY) -m services.translate.model_cli ensure
	@# Without TRANSLATE_ENGINE, serve the best verified model installed (services/translate/model_pick.py).
	@$(PY) -m services.translate.model_cli pick --registry deploy/local/registry.yaml \
	  $(addprefix --publisher ,$(SAMPLE_PUBLISHERS)) --env-file $(STATE)/translate.env > $(STATE)/translate.txt
	$(STACK) up --python $(PY) --env-file $(STATE)/translate.env
	$(PY) -m services.feeds.cli backfill
	@for p in $(SAMPLE_PUBLISHERS); do \
	  echo "Submitting $$p's sample pages (editor key $(STATE)/keys/$$p.key):"; \
	  $(PY) -m services.ingest.cli submit deploy/local/samples/$$p --key-file $(STATE)/keys/$$p.key || exit 1; done
	$(PY) -m tools.registry urls --feeds http://127.0.0.1:8080 --tokens $(STATE)/keys
	@echo; echo "Editor desk:    http://127.0.0.1:8000/desk  (sign in with the key in $(STATE)/keys/mashhad.key)"
	@echo "Partner portal: http://127.0.0.1:8080/feeds (previews, OPML; private feeds with $(STATE)/keys/partner-*.token)"
	@echo; cat $(STATE)/translate.txt
	@echo; echo "Publish with any Kafka client, for example:"
	@echo "  echo 'mashhad/hello-1|{\"publisher\":\"mashhad\",\"external_id\":\"hello-1\",\"headline\":\"سلام\",\"body_text\":\"متن\"}' | kcat -P -K'|' -b 127.0.0.1:9092 -t articles.submitted"
	@echo "  (one key per article, the same for its corrections: they stay in order)"
	@echo "Stop everything with: make stop"

stop:
	$(STACK) down

status:
	$(STACK) status

logs:
	$(STACK) logs $(NAME)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

# The interface's gettext catalogues (docs/i18n.md): new messages added, gone ones dropped.
i18n: venv
	$(PY) -m tools.i18n update
	$(PY) -m tools.i18n check || true

test-unit: venv
	$(VENV)/bin/pytest tests/unit

test-integration: provision
	$(VENV)/bin/pytest tests/integration

# The fault suite (also part of `make test`) three times in a row, each run's figures appended
# to var/faults-runs.jsonl (docs/reliability.md).
FAULT_RUNS ?= 3
test-faults: provision
	@mkdir -p var && rm -f var/faults-runs.jsonl
	@for i in $$(seq $(FAULT_RUNS)); do \
		echo "fault suite, run $$i of $(FAULT_RUNS)"; \
		FAULTS_REPORT=var/faults-runs.jsonl $(VENV)/bin/pytest -m faults tests/integration || exit 1; \
	done
	@echo "figures of each run: var/faults-runs.jsonl"

# The cluster suite (tests/cluster; `make test` runs only its quick test, the others being marked
# long: they would take it past its 20 minutes) three times in a row, with each run's figures.
CLUSTER_RUNS ?= 3
test-cluster: provision
	@mkdir -p var && rm -f var/cluster-runs.jsonl var/min-insync-runs.jsonl var/rollout-runs.jsonl
	@for i in $$(seq $(CLUSTER_RUNS)); do \
		echo "cluster suite, run $$i of $(CLUSTER_RUNS)"; \
		CLUSTER_REPORT=var/cluster-runs.jsonl INSYNC_REPORT=var/min-insync-runs.jsonl \
			ROLLOUT_REPORT=var/rollout-runs.jsonl $(VENV)/bin/pytest -m cluster tests/cluster || exit 1; \
	done
	@echo "figures of each run: var/cluster-runs.jsonl, var/min-insync-runs.jsonl, var/rollout-runs.jsonl"

# The browser tests (tests/e2e) drive Debian's Chromium through Playwright (which downloads no
# browser of its own): installed here once, when missing.
CHROMIUM ?= /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
chromium:
	@if [ ! -x "$(CHROMIUM)" ]; then \
		echo "installing Debian's chromium for the browser tests (tests/e2e)"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends chromium; \
	fi

# axe-core (npm, pinned in tests/e2e/axe/package-lock.json) checks each page's accessibility in
# the browser tests; npm (Debian's) is installed when missing, then axe-core once.
AXE := tests/e2e/axe/node_modules/axe-core/axe.min.js
axe:
	@if ! command -v npm >/dev/null; then \
		echo "installing Debian's npm for axe-core (tests/e2e/axe)"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends npm; \
	fi
	@if [ ! -f "$(AXE)" ]; then npm ci --prefix tests/e2e/axe --no-audit --no-fund; fi

test-e2e: provision chromium axe
	$(VENV)/bin/pytest tests/e2e

# The browser tests again, saving each page's screenshot to docs/screenshots/ (the README's).
screenshots: provision chromium axe
	UPDATE_SCREENSHOTS=1 $(VENV)/bin/pytest tests/e2e

# promtool checks deploy/monitoring/alerts.yaml in the suite (tests/unit/tools/test_monitoring.py):
# Debian's prometheus package, installed once when missing (no daemon is started).
promtool:
	@if ! command -v promtool >/dev/null; then \
		echo "installing Debian's prometheus for promtool (deploy/monitoring)"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends prometheus; \
	fi

test: provision lint chromium axe promtool
	$(VENV)/bin/pytest

clean: stop
	rm -rf var

bench-ingest: provision
	$(PY) -m bench.ingest --write docs/benchmarks.md --from-make

bench-translate: provision
	$(PY) -m bench.translate --write docs/benchmarks.md --from-make

# nginx and wrk (Debian's packages) are installed by the benchmark when missing.
bench-feeds: provision
	$(PY) -m bench.feeds --write docs/benchmarks.md --from-make

bench-e2e: provision
	$(PY) -m bench.e2e --write docs/benchmarks.md --from-make

bench-import: provision
	$(PY) -m bench.archive --write docs/benchmarks.md --from-make $(if $(BASELINE),--baseline $(BASELINE))

bench-scaling: provision
	$(PY) -m bench.scaling --write docs/benchmarks.md --from-make

# The denial-of-service findings of issue 18, measured (docs/reliability.md, docs/security.md).
bench-checks: venv
	$(PY) -m bench.checks --articles 5 --write docs/benchmarks.md

bench-zwnj: venv
	$(PY) -m bench.zwnj_accuracy

# The fediverse accounts' signatures: CPU per inbox request and per delivery (docs/benchmarks.md).
bench-fediverse: venv
	$(PY) -m bench.fediverse --write docs/benchmarks.md --from-make

# FerretDB on SQLite (the default) against FerretDB on PostgreSQL, each started fresh (docs/database.md).
bench-database: provision
	$(PY) -m bench.database --write docs/database.md --from-make

bench-attacks: provision
	$(PY) -m bench.crafted_page --write docs/reliability.md --from-make
	$(PY) -m bench.websub_flood --write docs/reliability.md --from-make
