# chatgate: `make dev` serves the Worker locally; `make test` runs the whole suite.
# Both install what they need first (scripts/setup.sh), so they work on a fresh machine.
SHELL := /bin/bash
.PHONY: dev test setup test-setup build lint unit deploy-check integration python fuzz e2e bench clean

dev:
	bash scripts/dev.sh

test: test-setup lint unit build deploy-check integration python fuzz e2e

setup:
	bash scripts/setup.sh

test-setup:
	bash scripts/setup.sh --test

build: setup
	bash scripts/build.sh

lint: setup
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --quiet -- -D warnings

# Native unit tests: domain types, tokens, crypto, the provider layer, the mock upstream.
unit:
	cargo test --workspace --lib --bins --quiet
	cargo test -p chatgate-mock --quiet

# What a deploy would ship, checked without deploying (seconds; scripts/deploy_check.py):
# `wrangler deploy --dry-run` of production and staging on the finished build, the Worker's
# gzipped size against the plan's limit, every binding and var the code needs declared in
# each environment, the migrations applied to an empty database.
deploy-check: build
	python3 scripts/deploy_check.py

# Rust integration tests against the built Worker under wrangler dev (tests/api).
integration:
	cargo test --test api

# The official OpenAI, Anthropic and LiveKit Python clients against the running Worker (tests/python).
python:
	cargo build -p chatgate-mock --quiet
	.venv/bin/python -m pytest -q tests/python --ignore=tests/python/test_fuzz.py

# The OpenAPI document against the running Worker: schemathesis with a fixed seed and a few
# examples per operation, about a minute (tests/python/test_fuzz.py).
fuzz:
	cargo build -p chatgate-mock --quiet
	.venv/bin/python -m pytest -q tests/python/test_fuzz.py

# The web client in headless Chromium (tests/e2e).
e2e:
	node --test tests/e2e/

bench:
	bash bench/run.sh

clean:
	rm -rf build target .wrangler
