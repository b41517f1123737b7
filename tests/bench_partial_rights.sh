#!/usr/bin/env bash
# Benchmarks `status -A` on a large cluster for a user who may read only some namespaces
# (listed namespace by namespace) against the admin (release build).
# Usage: tests/bench_partial_rights.sh [objects, default 10000]   (BENCH_RUNS=5 runs per user)
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(tests/env/prepare.sh)"
export BENCH_OBJECTS="${1:-${BENCH_OBJECTS:-10000}}"
cargo build --release --quiet --bin kubectl-gitops
cargo run --release --quiet --example bench_partial_rights
