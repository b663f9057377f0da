# polite — the commands the README names. Everything installs what it needs itself.
SHELL := /bin/bash
CARGO ?= cargo
# Tools installed for this checkout only (cargo-lambda and its zig), never system-wide.
TOOLS := $(CURDIR)/.tools
CARGO_LAMBDA := $(TOOLS)/bin/cargo-lambda
MOTO_PORT ?= 4566
FUZZ_SECONDS ?= 300
F ?= text
FN ?= webhook-intake
# The crate whose fixtures/ holds a function's events (contacts-api is a bin of consent-updater).
CRATE_OF_contacts-api := consent-updater
FIXTURES = functions/$(or $(CRATE_OF_$(FN)),$(FN))/fixtures

.PHONY: help demo test lint fmt-check clippy cfn-lint unit bench fuzz zones local-aws local-stop watch invoke

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

bench: ## Benchmarks: webhook verify+parse vs its floor, intake events/s, gate decisions/s, sender throughput and AWS requests per message
	$(CARGO) bench -p polite-domain --bench domain --locked
	$(CARGO) bench -p webhook-intake --bench intake --locked
	@python3 shared/domain/tools/bench_summary.py
	$(CARGO) bench -p message-sender --bench throughput --locked

zones: ## Regenerate the phone-prefix → time zone table from libphonenumber
	python3 -m pip install --quiet 'phonenumbers==9.0.33'
	python3 shared/domain/tools/gen_zone_table.py

fuzz: ## Fuzz webhook parse+route+encode for FUZZ_SECONDS (default 300) with cargo-fuzz on nightly
	@command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	@rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
	python3 functions/webhook-intake/fixtures/generate.py --corpus functions/webhook-intake/fuzz/corpus/route
	cd functions/webhook-intake && $(CARGO) +nightly fuzz run route -- -max_total_time=$(FUZZ_SECONDS)

$(CARGO_LAMBDA):
	python3 -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet 'cargo-lambda==1.9.2'

local-aws: ## moto on 127.0.0.1:4566 with the template's tables and queues; env in .devstack/local.env
	@mkdir -p .devstack
	@python3 -c 'import moto.server, flask_cors' 2>/dev/null || python3 -m pip install --quiet 'moto[server]>=5.2.5,<6'
	@if ! curl -sf -o /dev/null http://127.0.0.1:$(MOTO_PORT)/moto-api/; then \
	  nohup python3 tests/moto_server.py -H 127.0.0.1 -p $(MOTO_PORT) >.devstack/moto.log 2>&1 & echo $$! >.devstack/moto.pid; \
	  for i in $$(seq 100); do curl -sf -o /dev/null http://127.0.0.1:$(MOTO_PORT)/moto-api/ && break; sleep 0.1; done; fi
	$(CARGO) run --quiet -p polite-tests --bin local-aws -- http://127.0.0.1:$(MOTO_PORT) >.devstack/local.env
	@echo "moto on 127.0.0.1:$(MOTO_PORT); tables and queues created; environment in .devstack/local.env"

local-stop: ## Stop the moto server local-aws started
	@if [ -f .devstack/moto.pid ]; then kill $$(cat .devstack/moto.pid) 2>/dev/null; rm -f .devstack/moto.pid; fi

watch: local-aws $(CARGO_LAMBDA) ## cargo lambda watch on 127.0.0.1:9000, the functions wired to local moto
	$(CARGO) build --workspace --bins
	PATH="$(TOOLS)/bin:$$PATH" $(CARGO) lambda watch --env-file .devstack/local.env

invoke: $(CARGO_LAMBDA) ## Send a fixture to the running watch: make invoke [FN=webhook-intake] F=status_failed
	@test -f $(FIXTURES)/$(F).json || { echo "no fixture $(FIXTURES)/$(F).json; there are:"; ls $(FIXTURES) | sed -n 's/\.json$$//p' | tr '\n' ' '; echo; exit 2; }
	PATH="$(TOOLS)/bin:$$PATH" $(CARGO) lambda invoke $(FN) --data-file $(FIXTURES)/$(F).json
