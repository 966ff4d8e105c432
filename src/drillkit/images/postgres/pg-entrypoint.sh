#!/bin/bash
# Start a drillkit PostgreSQL node as a primary (fresh initdb) or a streaming replica
# (pg_basebackup from DK_PRIMARY_HOST). Passwords arrive in the environment and are never echoed.
set -euo pipefail
: "${DK_ROLE:?DK_ROLE must be primary or replica}"
: "${DK_SUPERUSER_PASSWORD:?}" "${DK_REPLICATION_PASSWORD:?}"
NODE="${DK_NODE_NAME:-$(hostname)}"

configure_primary() {
  pwfile=$(mktemp)
  printf '%s\n' "$DK_SUPERUSER_PASSWORD" > "$pwfile"
  initdb -D "$PGDATA" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
    --pwfile="$pwfile" --encoding=UTF8 --no-instructions >/dev/null
  rm -f "$pwfile"
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
${DK_EXTRA_CONF:-}
CONF
  cat > "$PGDATA/pg_hba.conf" <<HBA
local all all trust
host replication replicator all scram-sha-256
host all all all scram-sha-256
HBA
  # Single-user mode: create the replication role before the server accepts any connection.
  # Dollar quoting keeps the password out of any log line.
  postgres --single -D "$PGDATA" postgres >/dev/null <<SQL
CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD \$dkpw\$${DK_REPLICATION_PASSWORD}\$dkpw\$;
SQL
}

configure_replica() {
  : "${DK_PRIMARY_HOST:?a replica needs DK_PRIMARY_HOST}"
  for _ in $(seq 1 300); do
    pg_isready -q -h "$DK_PRIMARY_HOST" -p 5432 && break
    sleep 0.1
  done
  slot="${NODE//-/_}"
  PGPASSWORD="$DK_REPLICATION_PASSWORD" pg_basebackup -h "$DK_PRIMARY_HOST" -p 5432 \
    -U replicator -D "$PGDATA" -X stream -R -C -S "$slot" --checkpoint=fast --no-password
  chmod 700 "$PGDATA"
}

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  case "$DK_ROLE" in
    primary) configure_primary ;;
    replica) configure_replica ;;
    *) echo "unknown DK_ROLE=$DK_ROLE (expected primary or replica)" >&2; exit 2 ;;
  esac
fi
exec postgres -D "$PGDATA"
