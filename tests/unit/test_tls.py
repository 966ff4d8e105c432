"""The run's CA and node certificates (drillkit.tls) and the settings TLS adds (tls_conf)."""

from __future__ import annotations

import datetime
import io
import ipaddress
import ssl
import stat
import tarfile

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from drillkit.backend.docker.hardening import secrets_archive
from drillkit.endpoints import TlsClient
from drillkit.spec.postgres import PatroniTopology, PostgresTopology
from drillkit.spec.redis import RedisTopology
from drillkit.tls import CA_FILE, CERT_FILE, KEY_FILE, VALIDITY, RunTls
from drillkit.topology.tls_conf import (
    PG_SSL_CONNINFO,
    pg_ssl_conf,
    redis_tls_conf,
    sentinel_tls_conf,
)

NOW = datetime.datetime(2026, 12, 1, 3, 30, tzinfo=datetime.UTC)


@pytest.fixture
def run_tls() -> RunTls:
    tls = RunTls("failover-20261201T033000Z-abc123", now=NOW)
    yield tls
    tls.close()


def _cert(pem: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem.encode())


def test_node_certificate_names_the_container_its_alias_and_loopback(run_tls: RunTls) -> None:
    files = run_tls.node_files("dk-abc123-pg0", ["pg0"])
    cert = _cert(files[CERT_FILE])
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["dk-abc123-pg0", "pg0", "localhost"]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH} <= set(usage)
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_node_certificate_is_signed_by_the_run_ca_and_valid_for_the_run(run_tls: RunTls) -> None:
    files = run_tls.node_files("dk-abc123-r0")
    ca, cert = _cert(files[CA_FILE]), _cert(files[CERT_FILE])
    assert files[CA_FILE] == run_tls.ca_pem
    cert.verify_directly_issued_by(ca)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert cert.not_valid_before_utc <= NOW < cert.not_valid_after_utc
    assert cert.not_valid_after_utc - NOW == VALIDITY
    assert cert.not_valid_after_utc <= ca.not_valid_after_utc
    assert "PRIVATE KEY" in files[KEY_FILE]


def test_each_run_and_each_node_gets_its_own_keys() -> None:
    a, b = RunTls("run-a"), RunTls("run-b")
    assert a.ca_pem != b.ca_pem
    one, two = a.node_files("n1"), a.node_files("n2")
    assert one[KEY_FILE] != two[KEY_FILE]


def test_python_ssl_verifies_a_node_certificate_against_the_ca_file(run_tls: RunTls) -> None:
    """The client side of verify-full: the CA file the run writes loads as a trust anchor and
    the node certificate chains to it (hostname matching is the SAN test above)."""
    context = ssl.create_default_context(cafile=str(run_tls.ca_file))
    assert len(context.get_ca_certs()) == 1


def test_client_material_is_private_and_removed_with_the_run(run_tls: RunTls) -> None:
    ca = run_tls.ca_file
    cert, key = run_tls.client_files()
    directory = run_tls.directory
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    for path in (ca, cert, key):
        assert path.parent == directory
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert _cert(cert.read_text()).subject.rfc4514_string() == "CN=drillkit"
    run_tls.close()
    assert not directory.exists()
    run_tls.close()  # idempotent


def test_node_files_reach_the_container_as_0600_secrets(run_tls: RunTls) -> None:
    archive = secrets_archive(run_tls.node_files("dk-x-pg0"), uid=999, gid=999)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        members = {m.name: m for m in tar.getmembers()}
    for name in (CA_FILE, CERT_FILE, KEY_FILE):
        member = members[f"drillkit/{name}"]
        assert (member.mode, member.uid) == (0o600, 999)


def test_tls_is_off_unless_a_drill_asks() -> None:
    assert not PostgresTopology().tls
    assert not PatroniTopology(kind="patroni").tls
    assert not RedisTopology(kind="redis").tls
    assert PostgresTopology(tls=True).tls


def test_postgres_settings_serve_the_node_certificate() -> None:
    conf = "\n".join(pg_ssl_conf())
    assert "ssl = on" in conf
    assert "ssl_cert_file = '/run/drillkit/tls-node.crt'" in conf
    assert "ssl_key_file = '/run/drillkit/tls-node.key'" in conf
    assert PG_SSL_CONNINFO == "sslmode=verify-full sslrootcert=/run/drillkit/tls-ca.crt"


def test_redis_settings_turn_the_plain_port_off() -> None:
    for conf in (redis_tls_conf(6379), sentinel_tls_conf(26379)):
        lines = conf.splitlines()
        assert "port 0" in lines
        assert "tls-replication yes" in lines
        assert "tls-ca-cert-file /run/drillkit/tls-ca.crt" in lines
    assert "tls-port 6379" in redis_tls_conf(6379).splitlines()
    assert "tls-port 26379" in sentinel_tls_conf(26379).splitlines()


def test_redis_client_arguments_verify_ca_and_hostname() -> None:
    kwargs = TlsClient("/tmp/x/ca.crt", "/tmp/x/c.crt", "/tmp/x/c.key").redis_kwargs()
    assert kwargs["ssl_ca_certs"] == "/tmp/x/ca.crt"
    assert kwargs["ssl_check_hostname"] is True
    assert kwargs["ssl_cert_reqs"] == "required"


class _FakeNode:
    host = "127.0.0.1"

    def port(self, _port: int) -> int:
        return 54321


def test_every_postgres_conninfo_verifies_the_server_with_the_run_ca(run_tls: RunTls) -> None:
    from psycopg.conninfo import conninfo_to_dict

    from drillkit.secrets import Secrets
    from drillkit.topology.pg_admin import PgAdmin

    admin = PgAdmin()
    admin.secrets = Secrets.generate("postgres")
    plain = conninfo_to_dict(admin.conninfo([_FakeNode()]))  # type: ignore[list-item]
    assert "sslmode" not in plain
    admin.tls = run_tls
    params = conninfo_to_dict(admin.conninfo([_FakeNode()], connect_timeout=2))  # type: ignore[list-item]
    assert params["sslmode"] == "verify-full"
    assert params["sslrootcert"] == str(run_tls.ca_file)
    assert params["connect_timeout"] == "2"


def test_custom_steps_of_a_tls_topology_verify_with_the_run_ca(run_tls: RunTls) -> None:
    """A shell step gets PGSSLMODE=verify-full and the CA among its 0600 secret files; the
    step runner points PGSSLROOTCERT at it."""
    from drillkit.runbook.custom import Shell
    from drillkit.secrets import Secrets
    from drillkit.spec.steps import ShellStep as ShellStepSpec
    from drillkit.topology.pg_admin import PgAdmin

    class Topology(PgAdmin):
        def __init__(self) -> None:
            self.nodes: list[object] = []
            self.secrets = Secrets.generate("postgres")

        def resolve(self, target: str) -> list[object]:
            return []

        def shell_environment(self, *, inside: bool) -> dict[str, str]:
            return {"PGUSER": "postgres", **self.tls_step_env()}

        def secret_files(self, *, inside: bool) -> dict[str, str]:
            return {"pgpass": "", **self.tls_step_files()}

    plain, tls = Topology(), Topology()
    tls.tls = run_tls
    assert plain.tls_step_env() == {} and plain.tls_step_files() == {}
    assert tls.tls_step_env() == {"PGSSLMODE": "verify-full"}
    assert tls.tls_step_files() == {CA_FILE: run_tls.ca_pem}
    spec = ShellStepSpec(step="shell", run="true")
    env = Shell(spec, tls)._env(inside=False, secret_dir="/tmp/d")  # type: ignore[arg-type]
    assert env["PGSSLROOTCERT"] == f"/tmp/d/{CA_FILE}"
    env = Shell(spec, plain)._env(inside=False, secret_dir="/d")  # type: ignore[arg-type]
    assert "PGSSLROOTCERT" not in env
