#!/bin/bash
# Start one service of a drillkit Patroni topology: an etcd member, a Patroni-managed PostgreSQL
# member, or HAProxy routing to the Patroni leader. Configuration comes from DK_* variables;
# passwords come as 0600 files in $DK_SECRETS (never the environment), are copied only into
# Patroni's 0600 configuration outside the data directory, and never echoed.
set -euo pipefail
: "${DK_SERVICE:?DK_SERVICE must be etcd, patroni or haproxy}"
NODE="${DK_NODE_NAME:-$(hostname)}"
DK_SECRETS=/run/drillkit
umask 077

start_etcd() {
  : "${DK_ADVERTISE:?}" "${DK_ETCD_INITIAL_CLUSTER:?}" "${DK_ETCD_TOKEN:?}"
  exec etcd --name "$NODE" --data-dir /var/lib/postgresql/etcd \
    --listen-client-urls http://0.0.0.0:2379 --advertise-client-urls "http://$DK_ADVERTISE:2379" \
    --listen-peer-urls http://0.0.0.0:2380 --initial-advertise-peer-urls "http://$DK_ADVERTISE:2380" \
    --initial-cluster "$DK_ETCD_INITIAL_CLUSTER" --initial-cluster-state new \
    --initial-cluster-token "$DK_ETCD_TOKEN" --heartbeat-interval 100 --election-timeout 1000
}

start_patroni() {
  : "${DK_ADVERTISE:?}" "${DK_ETCD_HOSTS:?}"
  superuser_password=$(cat "$DK_SECRETS/postgres")
  replication_password=$(cat "$DK_SECRETS/replicator")
  rest_password=$(cat "$DK_SECRETS/patroni-rest")
  config=/var/lib/postgresql/patroni.yml
  # Passwords are YAML single-quoted scalars: generated ones never contain a quote. The REST API
  # asks for them on every unsafe request (POST /switchover, PATCH /config, ...); GETs (the
  # HAProxy health check, /cluster) stay open.
  cat > "$config" <<YAML
scope: drillkit
name: ${NODE}
restapi:
  listen: 0.0.0.0:8008
  connect_address: ${DK_ADVERTISE}:8008
  authentication:
    username: drillkit
    password: '${rest_password}'
etcd3:
  hosts: ${DK_ETCD_HOSTS}
watchdog:
  mode: "off"
bootstrap:
  # Patroni's dynamic configuration (ttl, loop_wait, ..., postgresql.parameters) as JSON, which
  # is YAML: written by drillkit from the drill file into the secrets directory.
  dcs: $(cat "$DK_SECRETS/patroni-dcs.json")
  initdb:
    - encoding: UTF8
    - data-checksums
postgresql:
  listen: 0.0.0.0:5432
  connect_address: ${DK_ADVERTISE}:5432
  data_dir: /var/lib/postgresql/data
  bin_dir: /usr/lib/postgresql/${PG_MAJOR:-15}/bin
  pgpass: /var/lib/postgresql/patroni.pgpass
  authentication:
    superuser:
      username: postgres
      password: '${superuser_password}'
    replication:
      username: replicator
      password: '${replication_password}'
  parameters:
    unix_socket_directories: /var/run/postgresql
    log_line_prefix: '%m [%p] '
  pg_hba:
    - local all all trust
    - host replication replicator all scram-sha-256
    - host all all all scram-sha-256
tags: {}
YAML
  exec patroni "$config"
}

start_haproxy() {
  : "${DK_PATRONI_MEMBERS:?DK_PATRONI_MEMBERS lists name=host pairs}"
  config=/var/lib/postgresql/haproxy.cfg
  cat > "$config" <<CFG
global
  maxconn 1000
resolvers docker
  nameserver dns 127.0.0.11:53
  hold valid 1s
  hold other 1s
  hold nx 1s
defaults
  mode tcp
  timeout connect 2s
  timeout client 30m
  timeout server 30m
  default-server init-addr last,libc,none resolvers docker
listen primary
  bind *:5000
  option httpchk GET /primary
  http-check expect status 200
  default-server inter 500ms fall 2 rise 1 on-marked-down shutdown-sessions
CFG
  for member in $DK_PATRONI_MEMBERS; do
    echo "  server ${member%%=*} ${member#*=}:5432 check port 8008" >> "$config"
  done
  exec haproxy -db -f "$config"
}

case "$DK_SERVICE" in
  etcd) start_etcd ;;
  patroni) start_patroni ;;
  haproxy) start_haproxy ;;
  *) echo "unknown DK_SERVICE=$DK_SERVICE (expected etcd, patroni or haproxy)" >&2; exit 2 ;;
esac
