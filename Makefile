# The two commands of the README: `make demo` and `make test`. Everything else helps them.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
MANAGE := $(BIN)/python manage.py
HOST ?= 127.0.0.1
PORT ?= 8000
DEMO_USER ?= demo
DEMO_PASSWORD ?= demo-password
# The demo runs with DEBUG on (development key, plain HTTP); production sets its own environment.
DEMO_ENV := DEBUG=true SECRET_KEY=demo-only-insecure-key

.PHONY: help venv demo demo-data serve test test-fast lint format migrations-check \
        assign-groups pull-sequences clone-sequences push-annotations export-alerts bench fuzz \
        clean

help:
	@echo "make demo   - set up a virtualenv, migrate SQLite, load demo data, serve on $(HOST):$(PORT)"
	@echo "make test   - run the whole test suite (PostgreSQL when DATABASE_URL is set)"
	@echo "make serve  - production: migrate, collectstatic, gunicorn on HOST:PORT (README, Deploying)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(BIN)/python requirements.txt requirements-dev.txt
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed

demo-data: venv
	$(DEMO_ENV) $(MANAGE) migrate --noinput
	$(DEMO_ENV) $(MANAGE) seed_demo
	$(DEMO_ENV) $(MANAGE) assign_groups
	$(DEMO_ENV) $(MANAGE) create_demo_user --username $(DEMO_USER) --password $(DEMO_PASSWORD)

demo: demo-data
	@echo ""
	@echo "  Demo site: http://$(HOST):$(PORT)/   login: $(DEMO_USER) / $(DEMO_PASSWORD)"
	@echo ""
	$(DEMO_ENV) $(MANAGE) runserver $(HOST):$(PORT)

# Production: migrations, static files, then gunicorn (annotation_site/gunicorn_config.py: HOST,
# PORT, WEB_CONCURRENCY) with the environment's settings, DEBUG off unless set; the variables of
# ENV_FILE, when it exists, are read first (README, "Deploying").
ENV_FILE ?= .env
serve: venv
	@set -a; if [ -f "$(ENV_FILE)" ]; then . "$(abspath $(ENV_FILE))"; fi; set +a; \
	$(MANAGE) migrate --noinput && \
	$(MANAGE) collectstatic --noinput -v 0 && \
	exec $(BIN)/gunicorn -c python:annotation_site.gunicorn_config annotation_site.wsgi

test: venv
	$(BIN)/pytest -n 2 --dist loadfile

test-fast: venv
	$(BIN)/pytest -n 2 --dist loadfile -m "not browser"

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	DEBUG=true $(MANAGE) makemigrations --check --dry-run

format: venv
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

assign-groups: venv
	$(MANAGE) assign_groups

pull-sequences: venv
	$(MANAGE) pull_sequences --date-from $(FROM) $(if $(TO),--date-to $(TO))

# The reference's check-out / check-in workflow against another annotation API (README, "Cloning
# from another annotation API"): SOURCE_ANNOTATION_LOGIN / _PASSWORD in the environment.
# make clone-sequences REMOTE_API=https://annotation.example.org [MAX_SEQUENCES=10] \
#      [CLONE_STAGE=ready_to_annotate] [MARK_STAGE=under_annotation]   (0 / empty: no cap / no mark)
REMOTE_API ?= https://annotationapi.pyronear.org
MAX_SEQUENCES ?= 10
CLONE_STAGE ?= ready_to_annotate
MARK_STAGE ?= under_annotation
clone-sequences: venv
	$(MANAGE) clone_sequences --source-url $(REMOTE_API) --stage $(CLONE_STAGE) \
		$(if $(filter-out 0,$(MAX_SEQUENCES)),--max-sequences $(MAX_SEQUENCES)) \
		$(if $(MARK_STAGE),--mark-source-stage $(MARK_STAGE))

# make push-annotations REMOTE_API=https://annotation.example.org [MAX_SEQUENCES=10]
push-annotations: venv
	$(MANAGE) push_annotations --remote-url $(REMOTE_API) \
		$(if $(filter-out 0,$(MAX_SEQUENCES)),--max-sequences $(MAX_SEQUENCES))

# make export-alerts [EXPORT_DIR=exports/alerts] [FORMAT=yolo] [SPLIT=val=0.2] [SINCE=<time>]
EXPORT_DIR ?= exports/alerts
export-alerts: venv
	$(MANAGE) export_alerts --out $(EXPORT_DIR) $(if $(FORMAT),--format $(FORMAT)) \
		$(if $(SPLIT),--split $(SPLIT)) $(if $(SINCE),--since $(SINCE))

bench: venv
	$(BIN)/python bench/assign_groups.py
	$(BIN)/python bench/propagation.py

fuzz: venv
	.ci/fuzz

clean:
	rm -rf $(VENV) db.sqlite3 media staticfiles .pytest_cache .ruff_cache
