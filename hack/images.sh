#!/usr/bin/env bash
# Build the project's images with Docker (`make images`):
#   thumbnailer:VERSION          operator and uploader (Dockerfile.operator)
#   thumbnailer-resizer:VERSION  the resizer (Dockerfile.resizer)
#
#   hack/images.sh [--builder auto|buildkit|legacy] [--version V] [--base-only]
#
# The Dockerfiles' base is ARG PYTHON_IMAGE (python:3.11.x-slim-bookworm). Where
# that image is neither present nor pullable (an air-gapped machine, or one with
# no registry at all), the base is made here from Debian packages with
# mmdebstrap and imported as thumbnailer-base:bookworm-<recipe hash>; set
# PYTHON_IMAGE to choose another base. The host's CA bundle goes into that base
# so that pip inside the build trusts what the host trusts.
#
# --builder: buildkit uses `docker buildx` where the plugin exists, else the
# BuildKit built into an engine of Docker 18.09-22 through a client that still
# has DOCKER_BUILDKIT (Debian's /usr/bin/docker); legacy is the classic builder;
# auto (the default) is buildkit where either way exists, else legacy.
# Prints one line per image: name, size in bytes (as `docker image inspect` gives it).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
builder=auto version= base_only=0
while (($#)); do
  case $1 in
    --builder) builder=$2; shift 2 ;;
    --version) version=$2; shift 2 ;;
    --base-only) base_only=1; shift ;;
    *) echo "usage: $0 [--builder auto|buildkit|legacy] [--version V] [--base-only]" >&2; exit 2 ;;
  esac
done
version=${version:-$(sed -n 's/^version = "\(.*\)"$/\1/p' "$repo/pyproject.toml")}
log() { printf '[images] %s\n' "$*" >&2; }

bash "$here/docker-engine.sh"

# --- the base --------------------------------------------------------------------
upstream=$(sed -n 's/^ARG PYTHON_IMAGE=//p' "$repo/Dockerfile.resizer")
# What the locally made base holds: Debian's Python with venv (the build stage runs
# `python -m venv`) and CA certificates; no documentation, manual pages or locales.
debian_suite=bookworm
debian_packages=python3,python3-venv,python-is-python3,ca-certificates
recipe_hash=$(printf '%s\n' "$debian_suite" "$debian_packages" "$(sha256sum /etc/ssl/certs/ca-certificates.crt 2>/dev/null)" \
  "$(sed -n '/^make_base()/,/^}/p' "$0")" | sha256sum | cut -c1-12)
local_base=thumbnailer-base:$debian_suite-$recipe_hash

make_base() {
  local tar
  tar=$(mktemp --suffix=.tar)
  log "making $local_base from Debian packages with mmdebstrap (about a minute, once)"
  # merged-usr: the /usr merge made by mmdebstrap's hook, not by the usrmerge package (which drags in perl, 46 MB).
  mmdebstrap --quiet --variant=minbase --include="$debian_packages" --aptopt='APT::Install-Recommends "false"' \
    --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias' \
    --customize-hook='if [ -f /etc/ssl/certs/ca-certificates.crt ]; then cp /etc/ssl/certs/ca-certificates.crt "$1/etc/ssl/certs/ca-certificates.crt"; fi' \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/* "$1"/var/cache/debconf/*-old "$1"/var/log/*' \
    "$debian_suite" "$tar"
  docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8' \
    --change 'CMD ["python3"]' \
    "$tar" "$local_base" >/dev/null
  rm -f "$tar"
}

if [[ -n ${PYTHON_IMAGE-} ]]; then
  base=$PYTHON_IMAGE
elif docker image inspect "$upstream" >/dev/null 2>&1 || docker pull -q "$upstream" >/dev/null 2>&1; then
  base=$upstream
else
  docker image inspect "$local_base" >/dev/null 2>&1 || make_base
  base=$local_base
fi
log "base: $base"
if ((base_only)); then echo "$base"; exit 0; fi

# --- the builder -----------------------------------------------------------------
build() { # DOCKERFILE TAG
  local revision source
  revision=$(git -C "$repo" rev-parse HEAD 2>/dev/null || echo unknown)
  [[ -z $(git -C "$repo" status --porcelain --untracked-files=no 2>/dev/null) ]] || revision+=-dirty
  source=$(git -C "$repo" config --get remote.origin.url 2>/dev/null || echo unknown)
  local args=(-f "$repo/$1" -t "$2" --build-arg "PYTHON_IMAGE=$base" --build-arg "VERSION=$version"
              --build-arg "REVISION=$revision" --build-arg "SOURCE=$source" "$repo")
  case $builder in
    buildx) docker buildx build --load --progress=plain "${args[@]}" ;;
    debian-buildkit) DOCKER_BUILDKIT=1 /usr/bin/docker build --progress=plain "${args[@]}" ;;
    legacy) DOCKER_BUILDKIT=0 docker build "${args[@]}" ;;
  esac
}
if [[ $builder == auto || $builder == buildkit ]]; then
  if docker buildx version >/dev/null 2>&1; then builder=buildx
  elif [[ -x /usr/bin/docker ]] && /usr/bin/docker version --format '{{.Client.Version}}' 2>/dev/null | grep -qE '^(1[89]|2[0-2])\.'; then
    builder=debian-buildkit
  elif [[ $builder == buildkit ]]; then
    log "no BuildKit client here: neither the buildx plugin nor a docker client with DOCKER_BUILDKIT"; exit 1
  else builder=legacy
  fi
fi
log "builder: $builder"

for pair in "Dockerfile.resizer:thumbnailer-resizer:$version" "Dockerfile.operator:thumbnailer:$version"; do
  file=${pair%%:*} tag=${pair#*:}
  t0=$SECONDS
  build "$file" "$tag" >&2
  log "built $tag in $((SECONDS - t0)) s"
done
for tag in "thumbnailer-resizer:$version" "thumbnailer:$version"; do
  echo "$tag $(docker image inspect --format '{{.Size}}' "$tag")"
done
