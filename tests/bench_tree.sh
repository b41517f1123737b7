#!/usr/bin/env bash
# Benchmarks `kubectl gitops tree` against kubectl on the local control plane (release build):
# a Kustomization whose inventory lists 5,000 objects in 50 namespaces.
# Usage: tests/bench_tree.sh   (BENCH_RUNS=5 runs per command)
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(tests/env/prepare.sh)"
cargo build --release --quiet --bin kubectl-gitops
cargo run --release --quiet --example bench -- tree
