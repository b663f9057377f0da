# polite — the commands the README names. Everything installs what it needs itself.
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: help demo test lint fmt-check clippy unit bench zones

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

demo: ## Run polite's story end to end (domain rules today; the local stack with issue 8)
	$(CARGO) run --quiet -p polite-domain --example story

test: fmt-check clippy unit ## Everything CI checks: formatting, clippy -D warnings, all tests

lint: fmt-check clippy ## Formatting and clippy only

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

unit:
	$(CARGO) test --workspace --all-targets --locked
	$(CARGO) test --workspace --doc --locked

bench: ## Criterion benchmarks (webhook verify+parse vs its floor, gate decisions/s)
	$(CARGO) bench -p polite-domain --bench domain --locked
	@python3 shared/domain/tools/bench_summary.py

zones: ## Regenerate the phone-prefix → time zone table from libphonenumber
	python3 -m pip install --quiet 'phonenumbers==9.0.33'
	python3 shared/domain/tools/gen_zone_table.py
