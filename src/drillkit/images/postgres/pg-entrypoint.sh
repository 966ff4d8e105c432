#!/bin/bash
# Start a drillkit PostgreSQL node as a primary (fresh initdb) or a streaming replica
# (pg_basebackup from DK_PRIMARY_HOST). Passwords arrive as 0600 files in $DK_SECRETS (never in
# the environment, which `docker inspect` shows) and are never echoed nor written to PGDATA:
# replication connects with passfile=$DK_SECRETS/pgpass.
set -euo pipefail
# A node of a Patroni topology (etcd, a Patroni member, HAProxy) has its own entrypoint.
if [ -n "${DK_SERVICE:-}" ]; then exec /usr/local/bin/drillkit-patroni-entrypoint; fi
: "${DK_ROLE:?DK_ROLE must be primary or replica}"
DK_SECRETS=/run/drillkit
PASSFILE="$DK_SECRETS/pgpass"
NODE="${DK_NODE_NAME:-$(hostname)}"
# topology.tls: DK_TLS=on; DK_TLS_CONF holds the ssl settings, DK_TLS_CONNINFO what this node's
# own libpq connections (replication) add (sslmode=verify-full and the run's CA).
HBA_HOST=host
if [ "${DK_TLS:-}" = on ]; then HBA_HOST=hostssl; fi

configure_primary() {
  # Data checksums: a flipped bit in a data file is reported on read instead of returned as
  # data (the corrupt fault relies on it), and pg_rewind works without wal_log_hints.
  # The image's template was made by initdb at build time (UTF8, checksums); copying it is
  # the same cluster a fresh initdb makes, minus ~0.8 s. Its pg_hba.conf is replaced below and
  # the superuser's password set in single-user mode.
  cp -a /usr/local/share/drillkit/pgdata-template/. "$PGDATA"/
  # Durable before the server starts, as initdb leaves it: otherwise the kernel writes the copy
  # back later, in the middle of a drill, and a commit's WAL flush can queue behind it (a 0.5 s
  # write stall was measured that way). The same fsync of every file, 8 at a time: ~0.08 s
  # instead of ~0.19 s one after another (only these files, unlike a syncfs of the whole disk).
  find "$PGDATA" -type f -print0 | xargs -0 -n 100 -P 8 sync --
  sync -- "$PGDATA"
  cat >> "$PGDATA/postgresql.conf" <<CONF
listen_addresses = '*'
wal_level = replica
max_wal_senders = 10
max_replication_slots = 10
hot_standby = on
wal_log_hints = on
password_encryption = 'scram-sha-256'
max_connections = 200
shared_buffers = 128MB
log_line_prefix = '%m [%p] '
cluster_name = '${NODE}'
# wal_keep_size keeps segments for replicas that take their base backups at the same time.
# Timeouts stay at PostgreSQL's defaults unless the drill sets them (topology.postgresql).
wal_keep_size = '256MB'
${DK_EXTRA_CONF:-}
${DK_TLS_CONF:-}
# The drill's own settings (topology.postgresql / postgresql_conf_file), written by drillkit
# into the secrets directory before the container started; last, so they win.
include_if_exists = '$DK_SECRETS/drillkit-user.conf'
CONF
  cat > "$PGDATA/pg_hba.conf" <<HBA
local all all trust
$HBA_HOST replication replicator all scram-sha-256
$HBA_HOST all all all scram-sha-256
HBA
  # Single-user mode: the passwords and the replication role before the server accepts any
  # connection.
  # Dollar quoting keeps the password out of any log line.
  postgres --single -D "$PGDATA" postgres >/dev/null <<SQL
ALTER ROLE postgres WITH PASSWORD \$dkpw\$$(cat "$DK_SECRETS/postgres")\$dkpw\$;
CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD \$dkpw\$$(cat "$DK_SECRETS/replicator")\$dkpw\$;
SQL
}

configure_replica() {
  : "${DK_PRIMARY_HOST:?a replica needs DK_PRIMARY_HOST}"
  # Every 20 ms (the primary's start takes ~0.4-0.9 s): a 0.1 s interval cost ~50 ms on average.
  for _ in $(seq 1 1500); do
    pg_isready -q -h "$DK_PRIMARY_HOST" -p 5432 && break
    sleep 0.02
  done
  slot="${NODE//-/_}"
  conninfo="host=$DK_PRIMARY_HOST port=5432 user=replicator passfile=$PASSFILE connect_timeout=2${DK_TLS_CONNINFO:+ $DK_TLS_CONNINFO}"
  # Not -R: it would write the password it used into primary_conninfo (postgresql.auto.conf).
  # With its fsync (~0.2 s): a copy left to the kernel's writeback would be flushed in the middle
  # of the drill and could stall the primary's commits behind it.
  pg_basebackup -d "$conninfo" -D "$PGDATA" -X stream -C -S "$slot" --checkpoint=fast \
    --no-password
  touch "$PGDATA/standby.signal"
  cat >> "$PGDATA/postgresql.auto.conf" <<CONF
primary_conninfo = '$conninfo'
primary_slot_name = '$slot'
CONF
  chmod 700 "$PGDATA"
  # The copied postgresql.conf names the primary; the walreceiver reports cluster_name as its
  # application_name, which synchronous_standby_names refers to. A later line wins.
  echo "cluster_name = '${NODE}'" >> "$PGDATA/postgresql.conf"
}

configure_restore() {
  # Restore the newest suitable backup from the pgBackRest repository (PGBACKREST_* settings in
  # the environment), then let PostgreSQL replay archived WAL: to DK_RESTORE_TARGET and promote
  # (type time), or to the end of the archive (type default).
  args=(--type="${DK_RESTORE_TYPE:-default}")
  if [ "${DK_RESTORE_TYPE:-default}" = time ]; then
    args+=(--target="${DK_RESTORE_TARGET:?a time restore needs DK_RESTORE_TARGET}")
    args+=(--target-action=promote)
  fi
  started=$(date +%s.%N)
  pgbackrest restore --log-level-console=info "${args[@]}"
  echo "drillkit: pgbackrest restore took $(awk "BEGIN { printf \"%.3f\", $(date +%s.%N) - $started }")s"
  chmod 700 "$PGDATA"
  echo "cluster_name = '${NODE}'" >> "$PGDATA/postgresql.conf"
}

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  case "$DK_ROLE" in
    primary) configure_primary ;;
    replica) configure_replica ;;
    restore) configure_restore ;;
    *) echo "unknown DK_ROLE=$DK_ROLE (expected primary, replica or restore)" >&2; exit 2 ;;
  esac
fi
exec postgres -D "$PGDATA"
