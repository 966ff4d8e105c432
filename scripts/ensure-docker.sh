#!/usr/bin/env bash
# Make sure a Docker engine answers on this host; install and start one if not.
# Debian/Ubuntu: installs docker.io (and debootstrap, used to bootstrap the base image
# without a registry) from the OS packages. Elsewhere: says what to install and exits 3.
set -euo pipefail

log() { printf '[ensure-docker] %s\n' "$*" >&2; }

engine_answers() { docker info >/dev/null 2>&1; }

if engine_answers && command -v debootstrap >/dev/null 2>&1; then
  log "Docker engine answers; debootstrap present."
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  if engine_answers; then exit 0; fi
  log "No Docker engine answers and this is not a Debian/Ubuntu host."
  log "Install Docker Engine (https://docs.docker.com/engine/install/) and start it, then retry."
  exit 3
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
command -v iptables >/dev/null 2>&1 || need+=(iptables)
if [ ${#need[@]} -gt 0 ]; then
  log "Installing ${need[*]} from the OS packages..."
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if engine_answers; then exit 0; fi

log "Starting dockerd..."
if command -v systemctl >/dev/null 2>&1 && systemctl is-system-running >/dev/null 2>&1; then
  $SUDO systemctl start docker || true
fi
if ! engine_answers; then
  $SUDO mkdir -p /var/log
  # setsid: dockerd must outlive this script and its caller's process group.
  $SUDO setsid nohup dockerd >/var/log/dockerd.log 2>&1 < /dev/null &
fi
for _ in $(seq 1 60); do
  if engine_answers; then log "Docker engine is up."; exit 0; fi
  sleep 1
done
log "dockerd did not answer within 60 s; see /var/log/dockerd.log"
exit 3
