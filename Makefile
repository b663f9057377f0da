# polite — the commands the README names. Everything installs what it needs itself.
SHELL := /bin/bash
CARGO ?= cargo
# Tools installed for this checkout only (cargo-lambda and its zig), never system-wide; the
# dev stack installs them (infra/devstack/src/tools.rs holds the pinned version).
TOOLS := $(CURDIR)/.tools
CARGO_LAMBDA := $(TOOLS)/bin/cargo-lambda
# AWS SAM CLI in the same venv as cargo-lambda (sam build's rust-cargolambda method needs it
# and its zig there); newer cfn-lint than a machine's global Python may have comes with it.
SAM := $(TOOLS)/bin/sam
SAM_VERSION := 1.170.0
export SAM_CLI_TELEMETRY := 0
# The functions for package-lambda, read from template.yaml's BuildProperties.Binary so the list
# cannot fall behind the template (it had: template-registry and event-publisher were missing).
FUNCTIONS := $(shell sed -n 's/^ *Binary: *//p' template.yaml)
ARM64_TARGET := aarch64-unknown-linux-gnu
FUZZ_SECONDS ?= 300
F ?= text
FN ?= webhook-intake
# A function's crate is named like it and holds its events in fixtures/.
FIXTURES = functions/$(FN)/fixtures

.PHONY: help demo dev test check lint fmt-check clippy cfn-lint bins unit parked replay-parked bench campaign-10k fault-campaign fuzz zones invoke build deploy package-lambda delete

help: ## List the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

demo: bins ## The story end to end on the local stack (opt-ins, a campaign across time zones, STOP, 131050, statuses out of order), then stop
	$(CARGO) run --quiet --locked -p polite-devstack -- demo

dev: bins ## The local stack until Ctrl-C: API on 127.0.0.1:3000, simulator :4590, moto :4566, cargo lambda watch :9000
	$(CARGO) run --quiet --locked -p polite-devstack -- up

# Every function binary, built before the stack starts them (cargo lambda watch would otherwise
# compile each on its first invocation).
bins:
	$(CARGO) build --workspace --bins --locked

test: fmt-check clippy cfn-lint unit ## Everything CI checks: formatting, clippy -D warnings, cfn-lint, all tests

lint: fmt-check clippy cfn-lint ## Formatting, clippy and cfn-lint only

check: fmt-check clippy ## Fast feedback while coding: formatting, clippy, the domain's tests and the use cases on in-memory fakes (no moto, no stack)
	$(CARGO) test --quiet --locked -p polite-domain -p polite-app

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

# cfn-lint (with the cfn-lint-serverless rules) and sam validate --lint must both be clean;
# every suppression is in template.yaml next to its reason.
cfn-lint: $(SAM)
	@python3 -c 'import cfnlint, cfn_lint_serverless' 2>/dev/null || python3 -m pip install --quiet 'cfn-lint>=1.20' 'cfn-lint-serverless>=0.3.6'
	cfn-lint template.yaml
	cfn-lint template.yaml -a cfn_lint_serverless.rules
	$(SAM) validate --lint

# Doc tests, then every other target (the end-to-end tests in infra/devstack/tests start the
# whole stack on free ports, so the function binaries are built first); the last line totals
# every "test result" line so the run ends with one summary ("N passed, N failed").
unit: bins
	@mkdir -p target
	set -o pipefail; { $(CARGO) test --workspace --doc --locked && $(CARGO) test --workspace --all-targets --locked; } 2>&1 | tee target/test.log
	@awk '/^test result:/ {p += $$4; f += $$6} END {printf "%d passed, %d failed\n", p, f; exit (p == 0 || f > 0)}' target/test.log

campaign-10k: bins ## The local-time campaign end to end on the dev stack with 10,000 customers (make test runs it with 350; ~20 min: moto's one Python thread is the limit)
	POLITE_E2E_PEOPLE=10000 $(CARGO) test --locked -p polite-devstack --test local_time_campaign -- --nocapture

fault-campaign: ## The fault campaign alone (part of make test): three seeds of 2,000 people side by side, each on its own moto (POLITE_FAULT_PEOPLE=300 for a quick look)
	$(CARGO) test --locked -p polite-tests --test fault_campaign

parked: ## List the parked webhooks (of `make dev`'s stack; of a deployed one with WEBHOOK_PARKING_QUEUE_URL set)
	$(CARGO) run --quiet --locked -p polite-devstack -- parked

replay-parked: ## Replay the parked webhooks to the webhook, deleting what it takes (deployed: also POLITE_WEBHOOK_URL, WHATSAPP_APP_SECRET)
	$(CARGO) run --quiet --locked -p polite-devstack -- replay-parked

bench: ## Benchmarks: webhook verify+parse vs its floor, intake events/s, gate decisions/s, sender throughput and AWS requests per message, a campaign's fan-out from an S3 file
	$(CARGO) bench -p polite-domain --bench domain --locked
	$(CARGO) bench -p webhook-intake --bench intake --locked
	@python3 shared/domain/tools/bench_summary.py
	$(CARGO) bench -p message-sender --bench throughput --locked
	$(CARGO) bench -p scheduler-tick --bench fanout --locked

zones: ## Regenerate the phone-prefix → time zone table from libphonenumber
	python3 -m pip install --quiet 'phonenumbers==9.0.33'
	python3 shared/domain/tools/gen_zone_table.py

fuzz: ## Fuzz webhook parse+route+encode for FUZZ_SECONDS (default 300) with cargo-fuzz on nightly
	@command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	@rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
	python3 functions/webhook-intake/fixtures/generate.py --corpus functions/webhook-intake/fuzz/corpus/route
	cd functions/webhook-intake && $(CARGO) +nightly fuzz run route -- -max_total_time=$(FUZZ_SECONDS)

$(CARGO_LAMBDA):
	$(CARGO) run --quiet --locked -p polite-devstack -- install-tools

$(SAM): | $(CARGO_LAMBDA)
	$(TOOLS)/bin/pip install --quiet 'aws-sam-cli==$(SAM_VERSION)'

build: $(SAM) ## sam build: every function with cargo-lambda for the template's Architecture (ARCH=x86_64 to override)
	PATH="$(TOOLS)/bin:$$PATH" $(SAM) build $(if $(ARCH),--parameter-overrides Architecture=$(ARCH))

deploy: build ## sam deploy: guided the first time (writes samconfig.toml's [default]), then with the saved answers
	@if grep -q 'WhatsAppPhoneNumberId' samconfig.toml; then PATH="$(TOOLS)/bin:$$PATH" $(SAM) deploy; \
	  else PATH="$(TOOLS)/bin:$$PATH" $(SAM) deploy --guided; fi

delete: $(SAM) ## sam delete: remove the stack (tables and queues with their data; the SSM parameters stay)
	PATH="$(TOOLS)/bin:$$PATH" $(SAM) delete

package-lambda: $(CARGO_LAMBDA) ## cargo lambda build --release: one zip per function in target/lambda/<function>/ (arm64; x86-64 when its target is missing)
	@if rustup target list --installed 2>/dev/null | grep -qx '$(ARM64_TARGET)'; then arch=--arm64; else \
	  echo "package-lambda: the $(ARM64_TARGET) standard library is not installed (rustup target add $(ARM64_TARGET)); building x86-64 instead: deploy with Architecture=x86_64"; arch=--x86-64; fi; \
	PATH="$(TOOLS)/bin:$$PATH" $(CARGO) lambda build --release --locked $$arch --output-format zip $(addprefix --bin ,$(FUNCTIONS))
	@ls -l target/lambda/*/bootstrap.zip 2>/dev/null | awk '{printf "  %-48s %6.2f MB\n", $$NF, $$5 / 1048576}'

invoke: $(CARGO_LAMBDA) ## Send a fixture to a function of the running `make dev`: make invoke [FN=webhook-intake] F=status_failed
	@test -f $(FIXTURES)/$(F).json || { echo "no fixture $(FIXTURES)/$(F).json; there are:"; ls $(FIXTURES) | sed -n 's/\.json$$//p' | tr '\n' ' '; echo; exit 2; }
	PATH="$(TOOLS)/bin:$$PATH" $(CARGO) lambda invoke $(FN) --data-file $(FIXTURES)/$(F).json
