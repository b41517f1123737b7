#!/usr/bin/env bash
# Runs every test of kubectl-gitops: format and lint checks, unit tests, and the integration
# tests against a real kube-apiserver, etcd and kubectl (provided by tests/env/prepare.sh,
# built from their Go modules and cached outside the clone on first use).
# Installs what is missing; fails loudly, never skips, except the opt-in live tests against
# github.com and gitlab.com (tests/e2e/live_forges.rs), which its last line counts as skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

# Debian packages the tests need (git, python3, lighttpd, sshd, and the cross check's Rust,
# MinGW and clang): installed when missing.
WANT_CROSS_CHECK=1
source tests/env/system-packages.sh
command -v cargo >/dev/null 2>&1 || die "cargo is not installed: install Rust (https://rustup.rs) and run again"
command -v go >/dev/null 2>&1 || [[ -n ${KUBEBUILDER_ASSETS:-} ]] \
  || die "go is not installed: it builds kube-apiserver and etcd for the tests (or set KUBEBUILDER_ASSETS)"

say "providing the test control plane (tests/env/prepare.sh)"
started=$SECONDS
eval "$(tests/env/prepare.sh)"
say "test environment ready in $((SECONDS - started))s"

say "cargo fmt --check"
cargo fmt --all -- --check
say "cargo clippy"
cargo clippy --locked --all-targets -- -D warnings
say "cargo check for every platform of the krew manifest (tests/env/cross-check.sh)"
tests/env/cross-check.sh
say "cargo test"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --locked 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One closing line for the whole run, summed over every test binary. The opt-in live forge
# tests (tests/e2e/live_forges.rs) return early without their variables and print a SKIPPED
# line: libtest counts them as passed, so they are moved to a count of their own here.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed;?$/) p += $(i-1); if ($(i) ~ /^failed;?$/) f += $(i-1) } }
     /SKIPPED [^ ]+ \(live forge test\)/ { s++ }
     END { printf "%d passed, %d failed, %d skipped", p - s, f, s
           if (s > 0) printf " (live forge tests: set KUBECTL_GITOPS_TEST_GITHUB_TOKEN and _OWNER, KUBECTL_GITOPS_TEST_GITLAB_TOKEN and _OWNER)"
           printf "\n" }' "$log"
exit "$status"
