#!/usr/bin/env bash
# Proves that the library and every executable compile for each platform of the krew manifest
# (krew-manifest/release.sh's PLATFORMS), with `cargo check` (no linking), from this Linux
# machine. How it works and what it cannot prove: docs/cross-platform.md.
#
#   tests/env/cross-check.sh [OS/ARCH ...]     (default: every platform of the manifest)
#
# The rustup toolchain ships only the host's standard library, so this uses Debian's Rust
# packages (rustc-web, cargo-web, rust-web-src), which build the target's standard library
# from source (-Zbuild-std). Crates with C parts (ring) compile it in their build scripts:
# MinGW's gcc for Windows, clang with a few stub headers for macOS and Linux on arm64.
# The build is cached outside the clone (CROSS_TARGET_DIR, default
# ~/.cache/kubectl-gitops/cross-target) so a clean clone does not start cold.
set -euo pipefail
cd "$(dirname "$0")/../.."

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

# The platforms the manifest promises, read from the script that writes it.
manifest_platforms() {
  sed -n 's/^PLATFORMS="\(.*\)"$/\1/p' krew-manifest/release.sh
}

# The Rust target checked for a krew platform. The release builds Linux with musl and Windows
# with MSVC; their cfg(unix)/cfg(windows) code is the same as the GNU targets checked here,
# which Debian can serve (there is no MSVC here, and the host's GNU target is the one tested).
target_of() {
  case $1 in
    linux/amd64) echo x86_64-unknown-linux-gnu ;;
    linux/arm64) echo aarch64-unknown-linux-gnu ;;
    darwin/amd64) echo x86_64-apple-darwin ;;
    darwin/arm64) echo aarch64-apple-darwin ;;
    windows/amd64) echo x86_64-pc-windows-gnu ;;
    *) die "no Rust target known for the krew platform $1: add it to target_of in $0" ;;
  esac
}

platforms=("$@")
if ((${#platforms[@]} == 0)); then
  read -r -a platforms <<<"$(manifest_platforms)"
  ((${#platforms[@]})) || die "found no PLATFORMS line in krew-manifest/release.sh"
fi

for tool in /usr/bin/rustc /usr/bin/cargo; do
  [[ -x $tool ]] || die "$tool is missing: apt-get install rustc-web cargo-web rust-web-src (tests/env/system-packages.sh does it as root)"
done
[[ -d $(/usr/bin/rustc --print sysroot)/lib/rustlib/src/rust/library ]] \
  || die "the standard library's source is missing: apt-get install rust-web-src"

target_dir=${CROSS_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kubectl-gitops/cross-target}
mkdir -p "$target_dir"
host=$(rustc -vV | sed -n 's/^host: //p')

# Stub C headers for ring's C on targets without a C library here (macOS has no SDK on Linux;
# Linux on arm64 has no cross libc installed). ring's C needs only these few declarations;
# good for compiling, never for linking or a release build.
stubs=$(mktemp -d)
trap 'rm -rf "$stubs"' EXIT
cat >"$stubs/TargetConditionals.h" <<'EOF'
#pragma once
#define TARGET_OS_MAC 1
#define TARGET_OS_OSX 1
#define TARGET_OS_IPHONE 0
#define TARGET_OS_IOS 0
#define TARGET_OS_WATCH 0
#define TARGET_OS_TV 0
#define TARGET_OS_SIMULATOR 0
EOF
printf '#pragma once\n#define assert(x) ((void)0)\n' >"$stubs/assert.h"
cat >"$stubs/string.h" <<'EOF'
#pragma once
#include <stddef.h>
void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
EOF
printf '#pragma once\nvoid abort(void);\n' >"$stubs/stdlib.h"

failed=()
for platform in "${platforms[@]}"; do
  target=$(target_of "$platform")
  if [[ $target == "$host" ]]; then
    say "cross check: $platform ($target) is this machine: compiled by the clippy and test steps"
    continue
  fi
  env=(RUSTC_BOOTSTRAP=1 RUSTC=/usr/bin/rustc CARGO_TARGET_DIR="$target_dir")
  case $target in
    *-windows-gnu)
      command -v x86_64-w64-mingw32-gcc >/dev/null 2>&1 \
        || die "x86_64-w64-mingw32-gcc is missing: apt-get install gcc-mingw-w64-x86-64 binutils-mingw-w64-x86-64"
      ;;
    *-apple-darwin | aarch64-unknown-linux-gnu)
      command -v clang >/dev/null 2>&1 || die "clang is missing: apt-get install clang"
      var=${target//-/_}
      env+=("CC_$var=clang" "AR_$var=ar"
        "CFLAGS_$var=-ffreestanding -nostdinc -isystem $(clang -print-resource-dir)/include -I$stubs")
      ;;
  esac
  say "cross check: $platform ($target)"
  started=$SECONDS
  if env "${env[@]}" /usr/bin/cargo check --locked --quiet -Zbuild-std=std,panic_abort \
    --target "$target" --lib --bins; then
    say "cross check: $platform ($target) compiles ($((SECONDS - started))s)"
  else
    failed+=("$platform ($target)")
  fi
done
((${#failed[@]} == 0)) || die "does not compile for: ${failed[*]}"
