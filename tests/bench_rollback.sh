#!/usr/bin/env bash
# Benchmark on the real Flux controllers (issue 16): a failed Kustomization back to Ready with
# `kubectl gitops rollback ks apps --yes` next to the same recovery by hand (git checkout of
# the last good folder, commit, push, `flux reconcile ks apps --with-source`), alternating.
# Usage: tests/bench_rollback.sh   (BENCH_RUNS=5 runs of each)
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(tests/env/prepare.sh)"
cargo build --release --quiet --bin kubectl-gitops
cargo run --release --quiet --example bench_rollback
