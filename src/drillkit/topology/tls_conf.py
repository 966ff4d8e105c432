"""The server settings ``topology.tls: true`` adds, one block per engine (pure functions).

Kept apart from every other generated setting so that what TLS changes is in one place: the
files named here are the 0600 files every node's secrets directory gets when TLS is on
(:meth:`drillkit.tls.RunTls.node_files`).
"""

from __future__ import annotations

from drillkit.backend.docker import SECRETS_DIR
from drillkit.tls import CA_FILE, CERT_FILE, KEY_FILE

__all__ = [
    "NODE_CA",
    "NODE_CERT",
    "NODE_KEY",
    "PG_SSL_CONNINFO",
    "pg_ssl_conf",
    "redis_tls_conf",
    "sentinel_tls_conf",
    "tls_conninfo_env",
]

NODE_CA = f"{SECRETS_DIR}/{CA_FILE}"
NODE_CERT = f"{SECRETS_DIR}/{CERT_FILE}"
NODE_KEY = f"{SECRETS_DIR}/{KEY_FILE}"
# What a node's own libpq connections (replication, pg_rewind) add: verify the peer's name.
PG_SSL_CONNINFO = f"sslmode=verify-full sslrootcert={NODE_CA}"


def pg_ssl_conf() -> list[str]:
    """postgresql.conf lines: serve TLS with the node's certificate (PostgreSQL's default
    protocol floor, TLSv1.2, and cipher list stay; the report reads back what was negotiated)."""
    return [
        "# drillkit TLS (topology.tls)",
        "ssl = on",
        f"ssl_cert_file = '{NODE_CERT}'",
        f"ssl_key_file = '{NODE_KEY}'",
        f"ssl_ca_file = '{NODE_CA}'",
    ]


def _redis_common(port: int) -> list[str]:
    return [
        "# drillkit TLS (topology.tls): the plain port is off",
        "port 0",
        f"tls-port {port}",
        f"tls-cert-file {NODE_CERT}",
        f"tls-key-file {NODE_KEY}",
        f"tls-ca-cert-file {NODE_CA}",
        "tls-replication yes",
    ]


def redis_tls_conf(port: int) -> str:
    """Lines appended to a data node's ``redis.conf``: TLS only on ``port``, replication over
    TLS; clients must present a certificate of the run's CA (``tls-auth-clients``, the default)."""
    return "\n".join([*_redis_common(port), "tls-auth-clients yes"]) + "\n"


def sentinel_tls_conf(port: int) -> str:
    """Lines appended to ``sentinel.conf``: TLS on ``port`` and to masters, replicas and other
    Sentinels (``tls-replication``)."""
    return "\n".join([*_redis_common(port), "tls-auth-clients yes"]) + "\n"


def tls_conninfo_env() -> dict[str, str]:
    """The variable a node's entrypoint (or the pg_rewind helper) appends to its own libpq
    connection strings."""
    return {"DK_TLS_CONNINFO": PG_SSL_CONNINFO}
