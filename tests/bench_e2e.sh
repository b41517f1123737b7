#!/usr/bin/env bash
# Benchmarks on the real Flux controllers (release build): `kubectl gitops bootstrap git` into
# an empty repository, then `kubectl gitops reconcile ks flux-system --with-source` after a
# pushed commit next to the real `flux reconcile ks flux-system --with-source`, alternating.
# Usage: tests/bench_e2e.sh   (BENCH_RUNS=10 runs of each)
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(tests/env/prepare.sh)"
cargo build --release --quiet --bin kubectl-gitops
cargo run --release --quiet --example bench_e2e
