#!/usr/bin/env bash
# Benchmarks `kubectl gitops bootstrap git` (phase by phase) against `flux bootstrap git` on a
# fresh local control plane and loopback Git server per run (release build).
# Usage: tests/bench_bootstrap.sh   (BENCH_RUNS=5 runs of each)
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(tests/env/prepare.sh)"
cargo build --release --quiet --bin kubectl-gitops
cargo run --release --quiet --example bench_bootstrap
