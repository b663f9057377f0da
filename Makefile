# polite — the commands the README names. Everything installs what it needs itself.
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: help demo test lint fmt-check clippy cfn-lint unit bench zones

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

demo: ## Run polite's story end to end (domain rules today; the local stack with issue 8)
	$(CARGO) run --quiet -p polite-domain --example story

test: fmt-check clippy cfn-lint unit ## Everything CI checks: formatting, clippy -D warnings, cfn-lint, all tests

lint: fmt-check clippy cfn-lint ## Formatting, clippy and cfn-lint only

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

cfn-lint:
	@command -v cfn-lint >/dev/null || python3 -m pip install --quiet 'cfn-lint>=1.20'
	cfn-lint template.yaml

# Doc tests, then every other target; the last line totals every "test result" line so the
# run ends with one summary ("N passed, N failed") rather than the last binary's count.
unit:
	@mkdir -p target
	set -o pipefail; { $(CARGO) test --workspace --doc --locked && $(CARGO) test --workspace --all-targets --locked; } 2>&1 | tee target/test.log
	@awk '/^test result:/ {p += $$4; f += $$6} END {printf "%d passed, %d failed\n", p, f; exit (p == 0 || f > 0)}' target/test.log

bench: ## Criterion benchmarks (webhook verify+parse vs its floor, intake events/s, gate decisions/s)
	$(CARGO) bench -p polite-domain --bench domain --locked
	$(CARGO) bench -p webhook-intake --bench intake --locked
	@python3 shared/domain/tools/bench_summary.py

zones: ## Regenerate the phone-prefix → time zone table from libphonenumber
	python3 -m pip install --quiet 'phonenumbers==9.0.33'
	python3 shared/domain/tools/gen_zone_table.py
