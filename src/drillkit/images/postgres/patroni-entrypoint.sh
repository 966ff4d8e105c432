#!/bin/bash
# Start one service of a drillkit Patroni topology: an etcd member, a Patroni-managed PostgreSQL
# member, or HAProxy routing to the Patroni leader. Configuration comes from DK_* variables;
# passwords come as 0600 files in $DK_SECRETS (never the environment), are copied only into
# Patroni's 0600 configuration outside the data directory, and never echoed.
set -euo pipefail
# Patroni's custom bootstrap (bootstrap.method: pgbackrest, below) calls this script with
# "restore": restore the data directory from the pgBackRest repository (PGBACKREST_* settings in
# the environment) with the recovery settings pgBackRest writes (keep_existing_recovery_conf):
# to DK_RESTORE_TARGET, then promote (type time), or to the end of the archive (type default).
if [ "${1:-}" = restore ]; then
  args=(--type="${DK_RESTORE_TYPE:-default}")
  if [ "${DK_RESTORE_TYPE:-default}" = time ]; then
    args+=(--target="${DK_RESTORE_TARGET:?a time restore needs DK_RESTORE_TARGET}")
    args+=(--target-action=promote)
  fi
  started=$(date +%s.%N)
  pgbackrest restore --log-level-console=info "${args[@]}"
  echo "drillkit: pgbackrest restore took $(awk "BEGIN { printf \"%.3f\", $(date +%s.%N) - $started }")s"
  chmod 700 "$PGDATA"
  exit 0
fi
: "${DK_SERVICE:?DK_SERVICE must be etcd, patroni or haproxy}"
NODE="${DK_NODE_NAME:-$(hostname)}"
DK_SECRETS=/run/drillkit
umask 077
# topology.tls (DK_TLS=on): the node's certificate, key and the run's CA are 0600 files in
# $DK_SECRETS. etcd (client and peer, both ways verified), Patroni's REST API, PostgreSQL and
# HAProxy's health checks then speak TLS only; every connection verifies the peer's name.
SCHEME=http
TLS_CA="$DK_SECRETS/tls-ca.crt" TLS_CERT="$DK_SECRETS/tls-node.crt" TLS_KEY="$DK_SECRETS/tls-node.key"
if [ "${DK_TLS:-}" = on ]; then SCHEME=https; fi

start_etcd() {
  : "${DK_ADVERTISE:?}" "${DK_ETCD_INITIAL_CLUSTER:?}" "${DK_ETCD_TOKEN:?}"
  tls=()
  if [ "$SCHEME" = https ]; then
    tls=(--cert-file "$TLS_CERT" --key-file "$TLS_KEY" --trusted-ca-file "$TLS_CA"
      --client-cert-auth --peer-cert-file "$TLS_CERT" --peer-key-file "$TLS_KEY"
      --peer-trusted-ca-file "$TLS_CA" --peer-client-cert-auth)
  fi
  exec etcd --name "$NODE" --data-dir /var/lib/postgresql/etcd "${tls[@]}" \
    --listen-client-urls $SCHEME://0.0.0.0:2379 --advertise-client-urls "$SCHEME://$DK_ADVERTISE:2379" \
    --listen-peer-urls $SCHEME://0.0.0.0:2380 --initial-advertise-peer-urls "$SCHEME://$DK_ADVERTISE:2380" \
    --initial-cluster "$DK_ETCD_INITIAL_CLUSTER" --initial-cluster-state new \
    --initial-cluster-token "$DK_ETCD_TOKEN" --heartbeat-interval 100 --election-timeout 1000
}

# Start Patroni once etcd can answer, instead of at once: a Patroni that finds no etcd leader
# logs "waiting on etcd" and tries again only 5 s later (seen: a member started 1 s after etcd
# sat out 5 s, and the topology took 9.5 s instead of 6.5). Readiness by event: poll etcd's own
# health (a quorum read) every 50 ms. With DK_AWAIT_INITIALIZE (the members started after the
# first, at provisioning) also wait until a member has taken Patroni's initialize key, so the
# first member bootstraps the cluster as it did when it was started alone 0.4 s earlier. Both
# waits are bounded (60 s, 10 s); past them Patroni starts and copes by itself.
await_etcd() {
  local endpoints="" host tls=() deadline=$((SECONDS + 60))
  for host in ${DK_ETCD_HOSTS//,/ }; do endpoints="${endpoints:+$endpoints,}$SCHEME://$host"; done
  if [ "$SCHEME" = https ]; then tls=(--cacert "$TLS_CA" --cert "$TLS_CERT" --key "$TLS_KEY"); fi
  etcd_q() { ETCDCTL_API=3 etcdctl --endpoints="$endpoints" --dial-timeout=300ms \
    --command-timeout=500ms "${tls[@]}" "$@"; }
  # etcdctl 3.4 reports health on stderr: "URL is healthy: ..." or "URL is unhealthy: ..."
  until etcd_q endpoint health 2>&1 | grep -q " is healthy"; do
    if [ "$SECONDS" -ge "$deadline" ]; then return 0; fi
    sleep 0.05
  done
  if [ -n "${DK_AWAIT_INITIALIZE:-}" ]; then
    deadline=$((SECONDS + 10))
    until etcd_q get --prefix --keys-only /service/drillkit/initialize 2>/dev/null | grep -q .; do
      if [ "$SECONDS" -ge "$deadline" ]; then return 0; fi
      sleep 0.05
    done
  fi
}

start_patroni() {
  : "${DK_ADVERTISE:?}" "${DK_ETCD_HOSTS:?}"
  superuser_password=$(cat "$DK_SECRETS/postgres")
  replication_password=$(cat "$DK_SECRETS/replicator")
  rest_password=$(cat "$DK_SECRETS/patroni-rest")
  config=/var/lib/postgresql/patroni.yml
  hba_host=host tls_rest="" tls_etcd="" tls_pg="" tls_conn=""
  if [ "$SCHEME" = https ]; then
    hba_host=hostssl
    tls_rest="  certfile: $TLS_CERT
  keyfile: $TLS_KEY
  cafile: $TLS_CA"
    tls_etcd="  protocol: https
  cacert: $TLS_CA
  cert: $TLS_CERT
  key: $TLS_KEY"
    tls_pg="    ssl: 'on'
    ssl_cert_file: $TLS_CERT
    ssl_key_file: $TLS_KEY
    ssl_ca_file: $TLS_CA"
    tls_conn="      sslmode: verify-full
      sslrootcert: $TLS_CA"
  fi
  # Passwords are YAML single-quoted scalars: generated ones never contain a quote. The REST API
  # asks for them on every unsafe request (POST /switchover, PATCH /config, ...); GETs (the
  # HAProxy health check, /cluster) stay open.
  # A restore step leaves its request here (the operator's edit of bootstrap.method) while
  # the member is stopped; empty: none.
  if [ -s "$DK_SECRETS/restore-request" ]; then . "$DK_SECRETS/restore-request"; fi
  # DK_RESTORE_TYPE: this member bootstraps the cluster from the repository (Patroni's custom
  # bootstrap; it runs only on the member that takes the initialize key, i.e. once the cluster
  # was removed from the DCS) instead of initdb.
  bootstrap_method=""
  if [ -n "${DK_RESTORE_TYPE:-}" ]; then
    bootstrap_method="  method: pgbackrest
  pgbackrest:
    command: /usr/local/bin/drillkit-patroni-entrypoint restore
    no_params: true
    keep_existing_recovery_conf: true"
  fi
  cat > "$config" <<YAML
scope: drillkit
name: ${NODE}
restapi:
  listen: 0.0.0.0:8008
  connect_address: ${DK_ADVERTISE}:8008
  authentication:
    username: drillkit
    password: '${rest_password}'
${tls_rest}
etcd3:
  hosts: ${DK_ETCD_HOSTS}
${tls_etcd}
watchdog:
  mode: "off"
bootstrap:
${bootstrap_method}
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
${tls_conn}
    replication:
      username: replicator
      password: '${replication_password}'
${tls_conn}
  parameters:
    unix_socket_directories: /var/run/postgresql
    log_line_prefix: '%m [%p] '
${tls_pg}
  pg_hba:
    - local all all trust
    - ${hba_host} replication replicator all scram-sha-256
    - ${hba_host} all all all scram-sha-256
tags: {}
YAML
  await_etcd
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
    check="check port 8008"
    if [ "$SCHEME" = https ]; then check="$check check-ssl verify required ca-file $TLS_CA"; fi
    echo "  server ${member%%=*} ${member#*=}:5432 $check" >> "$config"
  done
  exec haproxy -db -f "$config"
}

case "$DK_SERVICE" in
  etcd) start_etcd ;;
  patroni) start_patroni ;;
  haproxy) start_haproxy ;;
  *) echo "unknown DK_SERVICE=$DK_SERVICE (expected etcd, patroni or haproxy)" >&2; exit 2 ;;
esac
