#!/usr/bin/env bash
# Runs every test: unit tests of each crate and the end-to-end tests that start real servers and
# drive them with the real kubectl and the official Python client (a venv in .venv or $MINATO_PYTHON).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --workspace --bins
# Component tests start the server binary this build just made.
target="${CARGO_TARGET_DIR:-$PWD/target}"
export MINATO_BIN="${MINATO_BIN:-$target/debug/minato}"
exec cargo test --workspace --no-fail-fast -- --test-threads="${TEST_THREADS:-2}"
