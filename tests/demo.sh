#!/usr/bin/env bash
# The local demo, the whole story: builds kubectl-gitops, provides a real control plane, a
# loopback HTTPS Git server and the real Flux controllers (built and cached on first use by
# tests/env/prepare.sh --demo: only what the demo runs, not the flux CLI and krew the tests
# also need), bootstraps a demo repository with `kubectl gitops bootstrap git`, pushes a change
# and reconciles it, all through the real kubectl.
# `tests/demo.sh --keep` leaves everything up until you press Enter.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }
source tests/env/system-packages.sh
eval "$(tests/env/prepare.sh --demo)"
cargo build --quiet --bins
cargo run --quiet --example demo -- "$@"
