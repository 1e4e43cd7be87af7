#!/usr/bin/env bash
# Runs every test: unit tests of each crate and the end-to-end tests that start real servers and
# drive them with the real kubectl (and the Python client when it is installed).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --workspace --bins
exec cargo test --workspace --no-fail-fast -- --test-threads="${TEST_THREADS:-2}"
