#!/usr/bin/env bash
# The local demo: builds kubectl-gitops, provides a real control plane (built and cached on
# first use, see tests/env/prepare.sh) and runs kubectl-gitops through the real kubectl.
# `tests/demo.sh --keep` leaves the cluster up until you press Enter.
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(tests/env/prepare.sh)"
cargo build --quiet --bins
cargo run --quiet --example demo -- "$@"
