# The README's commands. Each bootstraps uv (into .tools/) and syncs the locked environment.
SHELL := /bin/bash
PYTHON ?= python3
UV := .tools/bin/uv
RUN := $(UV) run --frozen --no-sync
export DAGSTER_HOME ?= $(CURDIR)/lake/.dagster

.PHONY: setup browser screenshots demo run test lint golden dev bench synth lambda-layer

$(UV):
	@echo "bootstrapping uv into .tools/ ..."
	@$(PYTHON) -m venv .tools && .tools/bin/pip install --quiet --disable-pip-version-check "uv==0.13.9"

# --compile-bytecode: every process (the demo, each CLI call of the tests, Dagit) would otherwise
# compile Dagster, polars and the rest from source where no __pycache__ can be written
# (PYTHONDONTWRITEBYTECODE=1): about 7 s of each `egress` process.
.venv/.synced: $(UV) uv.lock pyproject.toml
	@$(UV) sync --frozen --quiet --compile-bytecode
	@touch $@

setup: .venv/.synced

demo: setup ## simulate an account and ingest every source through Dagster
	@mkdir -p $(DAGSTER_HOME)
	@$(RUN) egress demo

run: setup ## the pipeline over a landing zone: make run LANDING=path|s3://bucket/prefix [LAKE=dir|s3://...]
	@test -n "$(LANDING)" || { echo "usage: make run LANDING=path|s3://bucket/prefix [LAKE=...]"; exit 2; }
	@mkdir -p $(DAGSTER_HOME)
	@$(RUN) egress run --landing "$(LANDING)" $(if $(LAKE),--lake "$(LAKE)",)

browser: ## Debian's Chromium for the dashboard's browser test, installed (as root) when missing
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing Debian's chromium for the dashboard's browser test ..."; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; \
		else \
			echo "the dashboard's browser test needs Chromium: sudo apt-get install chromium (it will fail without it)"; \
		fi; }

test: setup browser ## the layer contracts (import-linter), then the whole test suite
	@$(RUN) lint-imports --no-cache --no-logo
	@$(RUN) pytest -q -p no:cacheprovider

lint: setup ## ruff, mypy and the layer contracts (import-linter)
	@$(RUN) ruff check .
	@$(RUN) ruff format --check .
	@$(RUN) mypy
	@$(RUN) lint-imports --no-cache --no-logo

golden: setup ## rewrite tests/golden/ (stored answers of the demo account) after a change meant to move them
	@EGRESS_GOLDEN_UPDATE=1 $(RUN) pytest -q -p no:cacheprovider tests/e2e/test_golden.py
	@git status --short tests/golden/

screenshots: setup browser ## after make demo: docs/screenshots/ of the dashboard and of Dagit's egress_flows_hourly page
	@$(RUN) python docs/screenshots.py

dev: setup ## Dagit on the local lake
	@mkdir -p $(DAGSTER_HOME)
	@$(RUN) egress dev -w workspace.yaml --parent-pid $$PPID

bench: setup ## throughput benchmark: bench/results/latest.json (generates ~20 GB under bench/data)
	@$(RUN) python bench/flows_bench.py run

synth: setup ## synthesize the CDK app (cdk-nag AwsSolutions checks included) into cdk.out/
	@$(RUN) python -m infra_cdk.app
	@echo "templates written to cdk.out/"

lambda-layer: setup ## the response Lambdas' packages (polars, jsonschema, pydantic-settings; Linux wheels) as build/lambda-layer.zip
	@rm -rf build/lambda-layer && mkdir -p build/lambda-layer/python
	@$(UV) export --frozen --no-dev --no-hashes --no-emit-project | grep -E '^(polars|polars-runtime-[0-9]+|jsonschema|jsonschema-specifications|referencing|rpds-py|attrs|pydantic|pydantic-core|pydantic-settings|annotated-types|typing-extensions|typing-inspection|python-dotenv)==' > build/lambda-layer/requirements.txt
	@$(UV) pip install --quiet --python-platform x86_64-manylinux2014 --python-version 3.14 \
		--target build/lambda-layer/python -r build/lambda-layer/requirements.txt
	@cd build/lambda-layer && $(PYTHON) -m zipfile -c ../lambda-layer.zip python
	@echo "publish: aws lambda publish-layer-version --layer-name egress-deps --zip-file fileb://build/lambda-layer.zip"
