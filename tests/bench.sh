#!/usr/bin/env bash
# Benchmarks kubectl-gitops against kubectl on the local control plane (release build).
# Usage: tests/bench.sh [number of objects, default 10000]   (BENCH_RUNS=5 runs per command)
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(tests/env/prepare.sh)"
cargo build --release --quiet --bin kubectl-gitops
cargo run --release --quiet --example bench -- "$@"
