#!/usr/bin/env bash
# Builds the release archives of kubectl-gitops and writes the krew plugin manifest.
#
#   krew-manifest/release.sh [options] <version>
#
# Each archive, kubectl-gitops_<version>_<os>_<arch>.tar.gz, holds the umbrella executable
# `kubectl-gitops` (`kubectl-gitops.exe` on Windows: krew links exactly one binary, and the
# umbrella carries every command), LICENSE and README.md. The manifest lists five platforms:
# linux/amd64, linux/arm64, darwin/amd64, darwin/arm64, windows/amd64, each with the GitHub
# release download URL and the sha256 of the archive in the dist folder.
#
# Only the machine's own platform can be built here (normally linux/amd64); the release
# workflow (.github/workflows/release.yml) builds the others and packs them with --binary.
# Without every archive in the dist folder the manifest is refused, unless --local-only asks
# for a manifest of just the archives present (for trying an install locally and for the tests;
# never publish it).
#
# Options:
#   --local-only         write a manifest of only the platforms whose archives are present
#   --pack-only          pack the archive, write no manifest (one CI job per platform)
#   --manifest-only      build nothing, write the manifest from the archives in the dist folder
#   --binary PATH        pack this executable instead of building one (needs --platform)
#   --platform OS/ARCH   the platform of --binary (default: this machine's)
#   --target TRIPLE      build with `cargo build --target TRIPLE` (default: the host)
#   --dist DIR           archives and checksums go here (default: target/dist)
#   --manifest FILE      the manifest to write (default: krew-manifest/gitops.yaml)
#   --repo OWNER/NAME    the GitHub repository (default: $GITHUB_REPOSITORY, else the GitHub
#                        URL of the `origin` remote)
#   --base-url URL       where the archives are downloaded from (default:
#                        https://github.com/OWNER/NAME/releases/download/v<version>)
#   --max-size-mb N      refuse archives larger than N MB (default 12)
#   --write-template     write the krew-release-bot template (krew-manifest/.krew.yaml, or
#                        --manifest) from the same text as the manifest, and nothing else
#
# Prints the paths it wrote on stdout; progress goes to stderr.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
NAME=kubectl-gitops
PLUGIN=gitops
# os/arch, in the order of the manifest.
PLATFORMS="linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64"

say() { printf '[release] %s\n' "$*" >&2; }
die() { printf '[release] ERROR: %s\n' "$*" >&2; exit 1; }
usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' >&2; exit 2; }

manifest_set=false local_only=false pack_only=false manifest_only=false write_template=false
binary="" platform="" target="" dist="$ROOT/target/dist" manifest="$ROOT/krew-manifest/gitops.yaml"
repo=${GITHUB_REPOSITORY:-} base_url="" max_size_mb=12 version=""
while (($#)); do
  case $1 in
    --local-only) local_only=true ;;
    --pack-only) pack_only=true ;;
    --manifest-only) manifest_only=true ;;
    --write-template) write_template=true ;;
    --binary) binary=${2:?--binary needs a path}; shift ;;
    --platform) platform=${2:?--platform needs OS/ARCH}; shift ;;
    --target) target=${2:?--target needs a Rust target triple}; shift ;;
    --dist) dist=${2:?--dist needs a folder}; shift ;;
    --manifest) manifest=${2:?--manifest needs a file}; manifest_set=true; shift ;;
    --repo) repo=${2:?--repo needs OWNER/NAME}; shift ;;
    --base-url) base_url=${2:?--base-url needs a URL}; shift ;;
    --max-size-mb) max_size_mb=${2:?--max-size-mb needs a number}; shift ;;
    -h | --help) usage ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) [[ -z $version ]] || die "one version only, got '$version' and '$1'"; version=$1 ;;
  esac
  shift
done

# The krew-release-bot template: the manifest below with the bot's template expressions in
# place of the version, homepage, URLs and checksums.
if $write_template; then
  [[ -z $version ]] || die "--write-template takes no version"
else
  [[ -n $version ]] || die "give the version to release, e.g. $0 0.1.0 (see --help)"
  version=${version#v}
  [[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]] \
    || die "version '$version' is not semver (MAJOR.MINOR.PATCH)"
  cargo_version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$ROOT/Cargo.toml" | head -n1)
  [[ $version == "$cargo_version" ]] \
    || die "version $version differs from Cargo.toml's $cargo_version: the binary would report $cargo_version; bump Cargo.toml first"
fi

sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1" | cut -d' ' -f1
  else shasum -a 256 "$1" | cut -d' ' -f1; fi
}
archive_name() { # os/arch
  local os=${1%/*} arch=${1#*/}
  printf '%s_%s_%s_%s.tar.gz' "$NAME" "$version" "$os" "$arch"
}
bin_name() { # os/arch
  if [[ ${1%/*} == windows ]]; then printf '%s.exe' "$NAME"; else printf '%s' "$NAME"; fi
}
host_platform() {
  local os arch
  case $(uname -s) in
    Linux) os=linux ;; Darwin) os=darwin ;; MINGW* | MSYS* | CYGWIN*) os=windows ;;
    *) die "cannot tell the platform of $(uname -s); pass --platform" ;;
  esac
  case $(uname -m) in
    x86_64 | amd64) arch=amd64 ;; aarch64 | arm64) arch=arm64 ;;
    *) die "cannot tell the architecture of $(uname -m); pass --platform" ;;
  esac
  printf '%s/%s' "$os" "$arch"
}
platform_of_target() { # triple
  local os arch
  case $1 in
    *-linux-*) os=linux ;; *-apple-darwin) os=darwin ;; *-windows-*) os=windows ;;
    *) die "no krew platform for the target $1" ;;
  esac
  case $1 in
    x86_64-*) arch=amd64 ;; aarch64-*) arch=arm64 ;;
    *) die "no krew platform for the target $1" ;;
  esac
  printf '%s/%s' "$os" "$arch"
}
known_platform() {
  local p
  for p in $PLATFORMS; do [[ $p == "$1" ]] && return 0; done
  return 1
}

# The manifest, with `uri` and `sha256` lines from platform_source (a function name).
manifest_text() { # version-expression homepage platform_source platforms...
  local version_expr=$1 homepage=$2 source=$3 p
  shift 3
  printf '%s\n' \
    "apiVersion: krew.googlecontainertools.github.com/v1alpha2" \
    "kind: Plugin" \
    "metadata:" \
    "  name: $PLUGIN" \
    "spec:" \
    "  version: $version_expr" \
    "  homepage: $homepage"
  # Quoted: the text below is literal.
  cat <<'EOF'
  shortDescription: Flux CD GitOps from kubectl
  description: |
    Bootstrap Flux CD into a cluster and its Git repository, see what every Flux
    object (Kustomizations, HelmReleases, sources, notifications, image
    automation) is doing, and ask Flux to reconcile, suspend or resume them,
    waiting for the result. Works with kubectl's connection flags and
    kubeconfig, and interoperates with the flux CLI (same repository layout,
    annotations and Secrets), so you can switch in both directions.
  caveats: |
    `kubectl gitops bootstrap` pushes to your Git repository: it needs `git`
    on your PATH and credentials for the repository.

    Shell completion of `kubectl gitops <TAB>` needs kubectl 1.26 or newer and
    an executable `kubectl_complete-gitops` on your PATH that runs
    `kubectl-gitops __complete`. krew installs one executable only, so
    create it once:
      printf '#!/bin/sh\nexec kubectl-gitops __complete "$@"\n' \
        > "${KREW_ROOT:-$HOME/.krew}/bin/kubectl_complete-gitops"
      chmod +x "${KREW_ROOT:-$HOME/.krew}/bin/kubectl_complete-gitops"
    For the plugin run directly: `kubectl gitops completion --help`.
  platforms:
EOF
  for p in "$@"; do
    local os=${p%/*} arch=${p#*/} bin
    bin=$(bin_name "$p")
    cat <<EOF
  - selector:
      matchLabels:
        os: $os
        arch: $arch
$("$source" "$p")
    bin: $bin
    files:
    - from: $bin
      to: .
    - from: LICENSE
      to: .
EOF
  done
}

template_source() { # os/arch: krew-release-bot fills uri and sha256 from the release asset
  local os=${1%/*} arch=${1#*/}
  printf '    {{ addURIAndSha (printf "https://github.com/%%s/%%s/releases/download/{{ .TagName }}/%s_{{ .Version }}_%s_%s.tar.gz" .PluginOwner .PluginRepo) .TagName }}' \
    "$NAME" "$os" "$arch"
}

release_source() { # os/arch
  local file
  file=$(archive_name "$1")
  printf '    uri: %s/%s\n    sha256: %s' "${base_url%/}" "$file" "$(sha256_of "$dist/$file")"
}

if $write_template; then
  out=$ROOT/krew-manifest/.krew.yaml
  if $manifest_set; then out=$manifest; fi
  {
    echo "# krew-release-bot template (https://github.com/rajatjindal/krew-release-bot), rendered"
    echo "# by the release workflow into the krew-index pull request. Generated by"
    echo "# \`krew-manifest/release.sh --write-template\` from the same text as gitops.yaml: edit"
    echo "# the script, not this file."
    # shellcheck disable=SC2086
    manifest_text '{{ .TagName }}' 'https://github.com/{{ .PluginOwner }}/{{ .PluginRepo }}' \
      template_source $PLATFORMS
  } > "$out"
  echo "$out"
  exit 0
fi

mkdir -p "$dist"
dist=$(cd "$dist" && pwd)
cleanup=()
remove_staging() {
  local d
  for d in ${cleanup[@]+"${cleanup[@]}"}; do rm -rf "$d"; done
}
trap remove_staging EXIT

pack() { # os/arch executable
  local p=$1 exe=$2 file staging bytes limit
  file=$(archive_name "$p")
  [[ -f $exe ]] || die "no executable at $exe"
  staging=$(mktemp -d)
  cleanup+=("$staging")
  cp "$exe" "$staging/$(bin_name "$p")"
  chmod 0755 "$staging/$(bin_name "$p")"
  cp "$ROOT/LICENSE" "$ROOT/README.md" "$staging/"
  # Reproducible: sorted names, no owners, a fixed time, no gzip timestamp.
  local mtime=${SOURCE_DATE_EPOCH:-$(git -C "$ROOT" log -1 --format=%ct 2>/dev/null || echo 0)}
  (cd "$staging" && tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$mtime" \
    -cf - "$(bin_name "$p")" LICENSE README.md) | gzip -9n > "$dist/$file.tmp"
  mv "$dist/$file.tmp" "$dist/$file"
  bytes=$(wc -c < "$dist/$file" | tr -d ' ')
  limit=$((max_size_mb * 1000 * 1000))
  ((bytes <= limit)) || die "$file is $bytes bytes, over the limit of $max_size_mb MB"
  (cd "$dist" && printf '%s  %s\n' "$(sha256_of "$file")" "$file" > "$file.sha256")
  say "packed $dist/$file ($bytes bytes)"
  echo "$dist/$file"
}

if ! $manifest_only; then
  if [[ -n $binary ]]; then
    [[ -n $platform ]] || die "--binary needs --platform OS/ARCH"
  else
    [[ -z $platform || -n $target ]] || die "--platform describes --binary; to build for a platform pass --target"
    build=(cargo build --release --locked --bin "$NAME")
    if [[ -n $target ]]; then
      build+=(--target "$target")
      platform=$(platform_of_target "$target")
    else
      platform=$(host_platform)
    fi
    say "building: ${build[*]}"
    (cd "$ROOT" && "${build[@]}" >&2) || die "the release build failed (see cargo's output above)"
    # cargo's target folder, wherever CARGO_TARGET_DIR or .cargo/config put it.
    dir=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps 2>/dev/null \
      | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
    binary=${dir:-$ROOT/target}/${target:+$target/}release/$(bin_name "$platform")
  fi
  known_platform "$platform" || die "platform $platform is not one of: $PLATFORMS"
  pack "$platform" "$binary"
fi
$pack_only && exit 0

if [[ -z $base_url ]]; then
  if [[ -z $repo ]]; then
    remote=$(git -C "$ROOT" remote get-url origin 2>/dev/null || true)
    if [[ $remote =~ github\.com[:/]([^/]+/[^/]+)$ ]]; then repo=${BASH_REMATCH[1]%.git}; fi
  fi
  [[ -n $repo ]] || die "cannot tell the GitHub repository the archives are released in: pass --repo OWNER/NAME (or --base-url)"
  base_url=https://github.com/$repo/releases/download/v$version
fi
[[ -n $repo ]] || repo=${GITHUB_REPOSITORY:-}
homepage=${repo:+https://github.com/$repo}
[[ -n $homepage ]] || die "pass --repo OWNER/NAME: the manifest's homepage is the GitHub repository"

present=() missing=()
for p in $PLATFORMS; do
  if [[ -f $dist/$(archive_name "$p") ]]; then present+=("$p"); else missing+=("$p"); fi
done
((${#present[@]})) || die "no archive of version $version in $dist: build one first"
if ((${#missing[@]})) && ! $local_only; then
  die "no archive in $dist for ${missing[*]}: the release workflow (.github/workflows/release.yml) builds them; to try the platforms built here, pass --local-only (and never publish that manifest)"
fi
((${#missing[@]} == 0)) || say "--local-only: the manifest lists only ${present[*]}"

mkdir -p "$(dirname "$manifest")"
manifest_text "v$version" "$homepage" release_source "${present[@]}" > "$manifest.tmp"
mv "$manifest.tmp" "$manifest"
(cd "$dist" && for p in "${present[@]}"; do
  f=$(archive_name "$p"); printf '%s  %s\n' "$(sha256_of "$f")" "$f"
done) > "$dist/${NAME}_${version}_checksums.txt"
say "wrote $manifest and $dist/${NAME}_${version}_checksums.txt"
echo "$manifest"
