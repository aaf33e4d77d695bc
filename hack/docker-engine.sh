#!/usr/bin/env bash
# Make sure a Docker engine answers: install Debian's docker.io (dockerd,
# containerd, runc) and mmdebstrap when they are missing, with what the real
# node needs beside them (the CNI plugins, conntrack, catatonit for its pause
# image), and start dockerd in the background when nothing answers `docker
# info`. Idempotent; used by `make images`, `make test`, `make up NODE=real` and
# CI. Prints nothing on success but progress.
#
#   hack/docker-engine.sh           ensure the engine, exit 0 when it answers
#
# dockerd's log: ${THUMBNAILER_CACHE:-~/.cache/thumbnailer}/dockerd.log
set -euo pipefail

cache=${THUMBNAILER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/thumbnailer}
log() { printf '[docker-engine] %s\n' "$*" >&2; }

answers() { docker info --format '{{.ServerVersion}}' >/dev/null 2>&1; }

need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
[[ -x /usr/lib/cni/bridge && -x /usr/lib/cni/firewall ]] || need+=(containernetworking-plugins)
command -v conntrack >/dev/null || need+=(conntrack)
[[ -x /usr/bin/catatonit ]] || need+=(catatonit)
if ((${#need[@]} == 0)) && answers; then exit 0; fi
# The Docker CLI: Debian's docker.io brings /usr/bin/docker; keep a newer one already on PATH.
if ((${#need[@]})); then
  [[ $(id -u) == 0 ]] || { log "need root to apt-get install ${need[*]}"; exit 1; }
  log "apt-get install ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if ! pgrep -x dockerd >/dev/null; then
  [[ $(id -u) == 0 ]] || { log "dockerd is not running and only root can start it here"; exit 1; }
  mkdir -p "$cache"
  log "starting dockerd (log $cache/dockerd.log)"
  # setsid: the daemon outlives this script and the make/pytest run that started it.
  setsid dockerd >>"$cache/dockerd.log" 2>&1 < /dev/null &
fi
for _ in $(seq 60); do
  answers && { log "dockerd $(docker info --format '{{.ServerVersion}}') answers"; exit 0; }
  sleep 1
done
log "dockerd did not answer within 60 s; last lines of $cache/dockerd.log:"
tail -n 20 "$cache/dockerd.log" >&2 || true
exit 1
