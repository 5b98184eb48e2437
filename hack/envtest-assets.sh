#!/usr/bin/env bash
# Builds kube-apiserver and etcd from Go module sources (release downloads are
# unreachable here; the Go module proxy is not) into a per-user cache keyed by
# version, and prints the directory holding them on its last line.
# Idempotent: a second run only checks that the binaries are there.
#
#   KUBEBUILDER_ASSETS=$(hack/envtest-assets.sh | tail -1) go test ./...
#
# Set WITH_CONTROLLERS=1 to also build kube-controller-manager and
# kube-scheduler (for a local cluster whose CronJob and Deployment controllers
# are the real ones: hack/cluster.sh does, and also builds kubelet and kubectl).
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-1.37.2}"
ETCD_VERSION="${ETCD_VERSION:-3.6.16}"
CACHE_ROOT="${SISPORTA_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sisporta}"
ASSETS="$CACHE_ROOT/envtest/k8s-$K8S_VERSION-etcd-$ETCD_VERSION"
STAGING_VERSION="0.${K8S_VERSION#1.}"   # k8s.io/kubernetes v1.37.2 -> staging v0.37.2

log() { echo "envtest-assets: $*" >&2; }

mkdir -p "$ASSETS"
export GOFLAGS="${GOFLAGS:-} -mod=mod"
export CGO_ENABLED=0

kube_module() {
  # A throwaway module that requires k8s.io/kubernetes and replaces each staging
  # module (relative paths inside the kubernetes repo) by its published version.
  local dir="$CACHE_ROOT/build/kubernetes-$K8S_VERSION"
  if [[ ! -f "$dir/.ready" ]]; then
    log "preparing build module for k8s.io/kubernetes v$K8S_VERSION (first time: several minutes)"
    rm -rf "$dir"; mkdir -p "$dir"
    local gomod
    gomod=$(cd "$dir" && GOFLAGS= go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
    [[ -f "$gomod" ]] || { log "could not download k8s.io/kubernetes v$K8S_VERSION go.mod"; exit 1; }
    {
      echo "module sisporta.local/kubebuild"
      echo
      echo "go 1.26"
      echo
      echo "require k8s.io/kubernetes v$K8S_VERSION"
      echo
      echo "replace ("
      grep -E '^[[:space:]]*k8s\.io/[a-z0-9-]+ => \./staging/' "$gomod" |
        awk -v v="v$STAGING_VERSION" '{print "\t" $1 " => " $1 " " v}'
      echo ")"
    } >"$dir/go.mod"
    cat >"$dir/tools.go" <<'GO'
//go:build tools

package kubebuild

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
)
GO
    (cd "$dir" && GOFLAGS=-mod=mod go mod tidy -e >&2) || true
    touch "$dir/.ready"
  fi
  echo "$dir"
}

build_kube() {
  local bin="$1" dir
  [[ -x "$ASSETS/$bin" ]] && return 0
  dir=$(kube_module)
  log "building $bin v$K8S_VERSION"
  local minor="${K8S_VERSION#1.}"; minor="${minor%%.*}"
  (cd "$dir" && go build -trimpath -o "$ASSETS/$bin.tmp" \
    -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=v$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor" \
    "k8s.io/kubernetes/cmd/$bin")
  mv "$ASSETS/$bin.tmp" "$ASSETS/$bin"
}

build_etcd() {
  [[ -x "$ASSETS/etcd" ]] && return 0
  local dir="$CACHE_ROOT/build/etcd-$ETCD_VERSION"
  log "building etcd v$ETCD_VERSION"
  rm -rf "$dir"; mkdir -p "$dir"
  cat >"$dir/go.mod" <<MOD
module sisporta.local/etcdbuild

go 1.26

require go.etcd.io/etcd/server/v3 v$ETCD_VERSION
MOD
  cat >"$dir/main.go" <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  (cd "$dir" && go mod tidy >&2 && go build -trimpath -ldflags "-s -w" -o "$ASSETS/etcd.tmp" .)
  mv "$ASSETS/etcd.tmp" "$ASSETS/etcd"
}

build_etcd
build_kube kube-apiserver
if [[ "${WITH_CONTROLLERS:-0}" == 1 ]]; then
  build_kube kube-controller-manager
  build_kube kube-scheduler
fi
"$ASSETS/kube-apiserver" --version >&2
echo "$ASSETS"
