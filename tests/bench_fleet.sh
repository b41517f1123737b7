#!/usr/bin/env bash
# Benchmarks fleet mode: N control planes with M Flux objects each (release build).
# Usage: tests/bench_fleet.sh [clusters, default 20] [objects per cluster, default 500]
#        (BENCH_RUNS=5 runs per command)
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(tests/env/prepare.sh)"
export BENCH_FLEET_CLUSTERS="${1:-${BENCH_FLEET_CLUSTERS:-20}}"
export BENCH_FLEET_OBJECTS="${2:-${BENCH_FLEET_OBJECTS:-500}}"
cargo build --release --quiet --bin kubectl-gitops
cargo run --release --quiet --example bench_fleet
