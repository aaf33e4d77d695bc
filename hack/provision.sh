#!/usr/bin/env bash
# Build the pinned server binaries (hack/versions.env) from the Go module proxy
# into a cache outside the clone, so every clone on this machine reuses them.
#
#   hack/provision.sh            build whatever is missing, print the bin dir
#   hack/provision.sh --print    only print the bin dir (exit 1 if incomplete)
#
# Cache: ${THUMBNAILER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/thumbnailer}/bin/<tool>-<version>/
# k8s.io/kubernetes cannot be `go install`ed (its go.mod replaces its staging
# modules with local paths), and neither can go.etcd.io/etcd/server/v3, so each
# is built inside a throwaway wrapper module whose replace directives are derived
# from that version's own go.mod.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"
cache=${THUMBNAILER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/thumbnailer}
export GOFLAGS=-buildvcs=false GOTOOLCHAIN=local
log() { printf '[provision] %s\n' "$*" >&2; }

# -n3: kubelet, kube-proxy and kube-scheduler (the real node) joined the build.
k8s_dir=$cache/bin/kubernetes-$KUBERNETES_VERSION-n3
etcd_dir=$cache/bin/etcd-$ETCD_VERSION
s3_dir=$cache/bin/versitygw-$VERSITYGW_VERSION
# -b2: the build recipe changed (Kubernetes version ldflags), so older cached builds are not reused.
helm_dir=$cache/bin/helm-$HELM_VERSION-b2
compose_dir=$cache/bin/compose-$COMPOSE_VERSION
coredns_dir=$cache/bin/coredns-$COREDNS_VERSION
crictl_dir=$cache/bin/crictl-$CRICTL_VERSION
all_dirs=("$k8s_dir" "$etcd_dir" "$s3_dir" "$helm_dir" "$compose_dir" "$coredns_dir" "$crictl_dir")

# Print one PATH-style list of every tool directory.
print_path() { local IFS=:; echo "${all_dirs[*]}"; }

if [[ ${1-} == --print ]]; then
  for d in "${all_dirs[@]}"; do [[ -f $d/.complete ]] || exit 1; done
  print_path; exit 0
fi

# One build at a time per cache: a second `make test` or `make up` waits for the first.
mkdir -p "$cache"
exec 9>"$cache/.provision.lock"
flock 9

command -v go >/dev/null || { log "go is required (https://go.dev/dl); not found on PATH"; exit 1; }

# wrapper_module DIR MODULE VERSION STAGING_VERSION
# Create a module in DIR that requires MODULE@VERSION and replaces every module
# that MODULE's go.mod replaces with a local path by the same module at
# STAGING_VERSION (from the proxy).
wrapper_module() {
  local dir=$1 mod=$2 ver=$3 staging=$4 gomod
  rm -rf "$dir"; mkdir -p "$dir"
  gomod=$(go mod download -json "$mod@$ver" | sed -n 's/.*"GoMod": "\(.*\)",/\1/p')
  ( cd "$dir"
    go mod init wrapper.local/build >/dev/null 2>&1
    go mod edit -go="$(sed -n 's/^go \([0-9.]*\).*/\1/p' "$gomod")"
    # Lines like `k8s.io/api => ./staging/src/k8s.io/api` (in or out of a block).
    sed -n 's#^[[:space:]]*\(replace[[:space:]]\+\)\?\([^[:space:]]\+\)[[:space:]]\+=>[[:space:]]\+\.\{1,2\}/.*#\2#p' "$gomod" \
      | while read -r m; do
          # Skip modules that only exist to forbid an import (etcd's FORBIDDEN_DEPENDENCY).
          go mod download "$m@$staging" >/dev/null 2>&1 || { log "  (no $m@$staging on the proxy; skipped)"; continue; }
          go mod edit -replace "$m=$m@$staging"
        done
    go mod edit -require "$mod@$ver" )
}

timed() { local name=$1; shift; local t0=$SECONDS; "$@"; log "built $name in $((SECONDS - t0)) s"; }

build_kubernetes() {
  local ver=$KUBERNETES_VERSION minor major tmp
  major=${ver#v}; major=${major%%.*}
  minor=${ver#v*.}; minor=${minor%%.*}
  tmp=$scratch/kubernetes
  log "kubernetes $ver: kube-apiserver, kube-controller-manager, kubectl, kubelet, kube-proxy, kube-scheduler (cold: about 8 min on 2 cores, once)"
  wrapper_module "$tmp" k8s.io/kubernetes "$ver" "v0.${ver#v1.}"
  local ld="-s -w" key val
  for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
    for kv in "gitVersion=$ver" "gitMajor=$major" "gitMinor=$minor" "gitTreeState=clean" \
              "buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"; do
      ld+=" -X $pkg.$kv"
    done
  done
  ( cd "$tmp"
    go get k8s.io/kubernetes/cmd/kube-apiserver@"$ver" k8s.io/kubernetes/cmd/kube-controller-manager@"$ver" \
           k8s.io/kubernetes/cmd/kubectl@"$ver" k8s.io/kubernetes/cmd/kubelet@"$ver" k8s.io/kubernetes/cmd/kube-proxy@"$ver" \
           k8s.io/kubernetes/cmd/kube-scheduler@"$ver"
    mkdir -p "$k8s_dir"
    go build -trimpath -ldflags "$ld" -o "$k8s_dir/" \
      k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kubectl \
      k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy k8s.io/kubernetes/cmd/kube-scheduler )
  "$k8s_dir/kube-apiserver" --version
}

build_etcd() {
  local tmp=$scratch/etcd
  log "etcd $ETCD_VERSION"
  wrapper_module "$tmp" go.etcd.io/etcd/server/v3 "$ETCD_VERSION" "$ETCD_VERSION"
  ( cd "$tmp"
    go get go.etcd.io/etcd/server/v3@"$ETCD_VERSION"
    mkdir -p "$etcd_dir"
    go build -trimpath -ldflags "-s -w" -o "$etcd_dir/etcd" go.etcd.io/etcd/server/v3 )
  # sed, not head: head exits after one line, and etcd, writing the rest, then dies of SIGPIPE (a failed
  # build under pipefail; seen on a cold machine).
  "$etcd_dir/etcd" --version | sed -n 1p
}

build_gobin() { # DIR PACKAGE@VERSION
  mkdir -p "$1"
  GOBIN=$1 go install -trimpath -ldflags "-s -w" "$2"
}

build_versitygw() {
  log "versitygw $VERSITYGW_VERSION (S3 server, posix backend)"
  build_gobin "$s3_dir" "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION"
}

# Helm's own Makefile sets the Kubernetes version that `helm template` and
# `helm lint` assume (without it: v1.20, below the chart's kubeVersion) from the
# k8s.io/client-go it is built with (v0.37.x -> 1.37); so do we.
build_helm() {
  log "helm $HELM_VERSION"
  local v=$HELM_VERSION gomod kube major minor ld
  mkdir -p "$helm_dir"
  gomod=$(go mod download -json "helm.sh/helm/v3@$v" | sed -n 's/.*"GoMod": "\(.*\)",/\1/p')
  kube=$(sed -n 's#^[[:space:]]*k8s.io/client-go v0\.\([0-9]*\)\..*#\1#p' "$gomod")
  [[ -n $kube ]] || { log "no k8s.io/client-go in $gomod"; exit 1; }
  major=1 minor=$kube
  ld="-s -w -X helm.sh/helm/v3/internal/version.version=$v"
  for pkg in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
    ld+=" -X $pkg.k8sVersionMajor=$major -X $pkg.k8sVersionMinor=$minor"
  done
  GOBIN=$helm_dir go install -trimpath -ldflags "$ld" "helm.sh/helm/v3/cmd/helm@$v"
  "$helm_dir/helm" version --short
}

# Static (CGO off): the CoreDNS image is that one file on an empty base.
build_coredns() {
  log "coredns $COREDNS_VERSION"
  CGO_ENABLED=0 build_gobin "$coredns_dir" "github.com/coredns/coredns@$COREDNS_VERSION"
}

build_crictl() {
  log "crictl $CRICTL_VERSION"
  CGO_ENABLED=0 build_gobin "$crictl_dir" "sigs.k8s.io/cri-tools/cmd/crictl@$CRICTL_VERSION"
}

# `go install github.com/docker/compose/v2/cmd@v` is refused (its go.mod has exclude
# directives), so the module's own source is built in place, with its go.sum.
build_compose() {
  log "docker compose $COMPOSE_VERSION (from the module's source)"
  local dir src=$scratch/compose
  dir=$(go mod download -json "github.com/docker/compose/v2@$COMPOSE_VERSION" | sed -n 's/.*"Dir": "\(.*\)",/\1/p')
  cp -r "$dir" "$src" && chmod -R u+w "$src"
  mkdir -p "$compose_dir"
  ( cd "$src" && CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/docker/compose/v2/internal.Version=$COMPOSE_VERSION" \
      -o "$compose_dir/docker-compose" ./cmd )
  "$compose_dir/docker-compose" version
}

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
declare -A dir_of=([kubernetes]=$k8s_dir [etcd]=$etcd_dir [versitygw]=$s3_dir [helm]=$helm_dir
                   [compose]=$compose_dir [coredns]=$coredns_dir [crictl]=$crictl_dir)

# build_missing NAME...: build each tool not cached yet, one after the other.
build_missing() {
  local name dir
  for name in "$@"; do
    dir=${dir_of[$name]}
    if [[ -f $dir/.complete ]]; then
      log "cached: $name ($dir)"
    else
      timed "$name" "build_$name"
      touch "$dir/.complete"
    fi
  done
}

# Two lanes at once: Kubernetes alone (the longest build), everything else in the other.
# `go build` uses every core while it compiles, but a cold build also spends long
# stretches on one core (module downloads, linking); the second lane fills them.
# Measured cold on 2 cores: 1254 s in one lane (131% CPU).
total=$SECONDS
build_missing kubernetes & lane_k8s=$!
build_missing etcd versitygw helm compose coredns crictl & lane_rest=$!
failed=0
wait "$lane_k8s" || failed=1
wait "$lane_rest" || failed=1
((failed == 0)) || { log "a build failed (its output is above)"; exit 1; }
log "all server binaries ready in $((SECONDS - total)) s"
print_path
