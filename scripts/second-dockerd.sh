#!/usr/bin/env bash
# A second Docker daemon on this machine, standing in for a remote Docker host:
# DOCKER_HOST=tcp://127.0.0.1:$PORT (and a unix socket). It shares nothing with the main daemon
# (/var/run/docker.sock): its own data root, exec root (and so its own containerd), pid file,
# containerd namespace, no default bridge and no iptables management. Not its own engine ID:
# Engine 20.10 derives it from /etc/docker/key.json, shared by both daemons on one machine (its
# --deprecated-key-path is not in Debian's build), so the evidence also names the root dir. Its user-defined networks
# take addresses from $POOL only.
#
#   scripts/second-dockerd.sh start [IMAGE...]   start it; copy IMAGEs from the main daemon
#                                                (docker save | docker load) if it lacks them
#   scripts/second-dockerd.sh load IMAGE...      copy images from the main daemon
#   scripts/second-dockerd.sh env                print the DOCKER_HOST to export
#   scripts/second-dockerd.sh stop               stop it, remove its containers' firewall rule
#   scripts/second-dockerd.sh purge              stop it and delete its data root
#
# Why no iptables: a daemon that manages iptables removes and recreates the DOCKER* chains when
# it starts, which would wipe the main daemon's rules. Without them two things are needed:
# published ports go through docker-proxy (the userland proxy: fine for 127.0.0.1), and
# containers on one of its bridges can talk to each other only if the FORWARD chain (policy DROP
# under the main daemon, with bridge-nf-call-iptables=1) lets them: this script inserts one rule
# into DOCKER-USER (the chain Docker leaves to its users) accepting traffic inside $POOL, and
# removes exactly that rule on stop.
#
# Plain TCP without TLS on 127.0.0.1 only: anyone on this machine who can connect to the port
# is root on it, as with the unix socket. Never bind it to another address; for a real remote
# host use ssh:// or TLS (docs/external.md, "A remote Docker host").
set -euo pipefail

PORT="${DRILLKIT_DOCKERD2_PORT:-23750}"
NAME="${DRILLKIT_DOCKERD2_NAME:-drillkit-docker2}"
DATA="${DRILLKIT_DOCKERD2_DATA:-/var/lib/$NAME}"
EXEC="/var/run/$NAME"
PIDFILE="/var/run/$NAME.pid"
SOCK="/var/run/$NAME.sock"
LOG="/var/log/$NAME.log"
POOL="${DRILLKIT_DOCKERD2_POOL:-10.213.0.0/16}"
HOST="tcp://127.0.0.1:$PORT"
RULE=(DOCKER-USER -s "$POOL" -d "$POOL" -m comment --comment "$NAME" -j ACCEPT)

die() { echo "second-dockerd: $*" >&2; exit 1; }

running() { [[ -f $PIDFILE ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

second() { DOCKER_HOST="$HOST" docker "$@"; }

load() {
  local missing=()
  for image in "$@"; do
    second image inspect "$image" >/dev/null 2>&1 || missing+=("$image")
  done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  echo "copying ${missing[*]} from the main daemon" >&2
  DOCKER_HOST=unix:///var/run/docker.sock docker save "${missing[@]}" | second load >&2
}

start() {
  [[ $(id -u) -eq 0 ]] || die "needs root (dockerd)"
  command -v dockerd >/dev/null || die "no dockerd (apt-get install docker.io)"
  if running; then
    echo "already running (pid $(cat "$PIDFILE"))" >&2
  else
    mkdir -p "$DATA" "$EXEC"
    # an empty config file: never the main daemon's /etc/docker/daemon.json (hosts, data-root)
    echo '{}' >"$EXEC.json"
    (
      # Close every inherited descriptor above 2: under `flock LOCK scripts/second-dockerd.sh
      # start` one of them is the lock, and a daemon that inherited it would hold the shared
      # drills lock for as long as it runs (it did, once: ~15 minutes).
      for fd in /proc/$BASHPID/fd/*; do
        fd=${fd##*/}
        if [[ $fd -gt 2 ]]; then eval "exec $fd>&-" 2>/dev/null || true; fi
      done
      exec setsid nohup dockerd \
        --config-file "$EXEC.json" \
        --data-root "$DATA" \
        --exec-root "$EXEC" \
        --pidfile "$PIDFILE" \
        -H "unix://$SOCK" -H "$HOST" \
        --containerd-namespace "$NAME" \
        --containerd-plugins-namespace "$NAME-plugins" \
        --bridge none --iptables=false --ip-masq=false --ip-forward=false \
        --default-address-pool "base=$POOL,size=24" \
        --storage-driver overlay2 \
        >"$LOG" 2>&1 </dev/null
    ) &
    local pid=$!  # the pid file appears only once it is initialized
    for _ in $(seq 1 60); do
      second version >/dev/null 2>&1 && break
      kill -0 "$pid" 2>/dev/null || { tail -20 "$LOG" >&2; die "dockerd exited; see $LOG"; }
      sleep 0.5
    done
    second version >/dev/null 2>&1 || die "no answer on $HOST after 30 s; see $LOG"
  fi
  if iptables -nL DOCKER-USER >/dev/null 2>&1 && ! iptables -C "${RULE[@]}" 2>/dev/null; then
    iptables -I "${RULE[@]}"
  fi
  if [[ $# -gt 0 ]]; then load "$@"; fi
  echo "export DOCKER_HOST=$HOST"
}

stop() {
  if running; then
    local pid
    pid="$(cat "$PIDFILE")"
    # its containers first, so no shim outlives the daemon
    second ps -q | xargs -r env DOCKER_HOST="$HOST" docker kill >/dev/null 2>&1 || true
    kill "$pid"
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$pid" 2>/dev/null && die "dockerd $pid did not stop"
  fi
  while iptables -C "${RULE[@]}" 2>/dev/null; do iptables -D "${RULE[@]}"; done
  echo "stopped" >&2
}

case "${1:-}" in
  start) shift; start "$@" ;;
  load) shift; load "$@" ;;
  env) echo "export DOCKER_HOST=$HOST" ;;
  stop) stop ;;
  purge) stop; rm -rf "$DATA" "$EXEC" "$EXEC.json" ;;
  *) die "usage: $0 start [IMAGE...] | load IMAGE... | env | stop | purge" ;;
esac
