#!/usr/bin/env bash
# Benchmarks `kubectl gitops diff ks` against `flux diff kustomization` on the local control
# plane (release build): a folder of 1,000 objects (5% changed, 10 added, 10 removed) against a
# cluster holding them, applied as kustomize-controller would.
# Usage: tests/bench_diff.sh   (BENCH_RUNS=5 alternating runs per command)
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(tests/env/prepare.sh)"
cargo build --release --quiet --bin kubectl-gitops
cargo run --release --quiet --example bench -- diff
