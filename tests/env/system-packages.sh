# shellcheck shell=bash
# Sourced by tests/run.sh and tests/demo.sh: installs the Debian packages the tests and the
# demo need when they are missing (as root, with apt-get), or stops and says what to install.
# Expects `say` and `die` from the caller.
packages=()
command -v git >/dev/null 2>&1 || packages+=(git)
command -v python3 >/dev/null 2>&1 || packages+=(python3 python3-pip)
# The loopback Git servers: smart HTTPS (lighttpd + git http-backend) and SSH (sshd).
[[ -x /usr/sbin/lighttpd ]] || packages+=(lighttpd)
[[ -e /usr/lib/lighttpd/mod_openssl.so ]] || packages+=(lighttpd-mod-openssl)
[[ -x /usr/sbin/sshd ]] || packages+=(openssh-server)
command -v ssh-keygen >/dev/null 2>&1 || packages+=(openssh-client)
# Signed commits: gpg signs and verifies OpenPGP signatures (ssh-keygen does SSH ones).
command -v gpg >/dev/null 2>&1 || packages+=(gnupg)
# The cross-platform check (tests/env/cross-check.sh), when the caller asks for it: Debian's
# Rust builds other targets' standard library; MinGW and clang compile ring's C.
if [[ ${WANT_CROSS_CHECK:-} == 1 ]]; then
  [[ -x /usr/bin/rustc ]] || packages+=(rustc-web)
  [[ -x /usr/bin/cargo ]] || packages+=(cargo-web)
  [[ -d /usr/lib/rustlib/src/rust/library ]] || packages+=(rust-web-src)
  command -v x86_64-w64-mingw32-gcc >/dev/null 2>&1 || packages+=(gcc-mingw-w64-x86-64 binutils-mingw-w64-x86-64)
  command -v clang >/dev/null 2>&1 || packages+=(clang)
fi
# npm fetches GitHub's OpenAPI description (@octokit/openapi) for the forge stand-in.
command -v npm >/dev/null 2>&1 || packages+=(npm)
if ((${#packages[@]})); then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    say "installing Debian packages: ${packages[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}" >&2
  else
    die "missing ${packages[*]}: install them (apt-get install ${packages[*]}) and run again"
  fi
fi
