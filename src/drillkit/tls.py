"""TLS for one run: a CA made for the run, a certificate per node, the client's trust anchor.

A drill with ``topology.tls: true`` gets a certificate authority created at the start of the run
(an ECDSA P-256 key that exists only in memory and in the run's 0700 temporary directory; it
signs nothing else and expires two days later). Each node gets a certificate whose subject
alternative names are its container name (its DNS name on the run's network), any network
aliases, ``localhost`` and ``127.0.0.1`` (where the harness reaches the published port), so
both peers on the run's network and drillkit's own clients can verify the hostname
(``sslmode=verify-full``, ``ssl_check_hostname``).

Keys and certificates reach a container as 0600 files in its secrets directory (the same
``put_archive`` path as the passwords, :func:`drillkit.backend.docker.put_secrets`), never
through its environment or command line. The CA certificate for drillkit's clients is written
to the run's temporary directory (0700, files 0600), which :meth:`RunTls.close` removes.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "CA_FILE",
    "CERT_FILE",
    "KEY_FILE",
    "VALIDITY",
    "NodeCert",
    "RunTls",
    "issue",
    "make_ca",
]

# File names in a node's secrets directory (/run/drillkit).
CA_FILE = "tls-ca.crt"
CERT_FILE = "tls-node.crt"
KEY_FILE = "tls-node.key"
VALIDITY = datetime.timedelta(days=2)  # a run lasts minutes; a kept topology a day or so
_BACKDATE = datetime.timedelta(minutes=5)  # tolerate a container clock a little behind


@dataclass(frozen=True)
class NodeCert:
    """A PEM certificate (signed by the run's CA) and its unencrypted PEM private key."""

    cert_pem: str
    key_pem: str

    def files(self, ca_pem: str) -> dict[str, str]:
        """The secrets-directory files of a node: CA, certificate, key."""
        return {CA_FILE: ca_pem, CERT_FILE: self.cert_pem, KEY_FILE: self.key_pem}


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def make_ca(
    run_id: str, *, now: datetime.datetime | None = None
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A self-signed CA certificate for ``run_id`` (path length 0: it signs only leaves)."""
    now = now or _now()
    key = _key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"drillkit run CA {run_id}"[:64])])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def issue(
    ca: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    common_name: str,
    dns_names: Iterable[str],
    ips: Iterable[str] = ("127.0.0.1",),
    *,
    now: datetime.datetime | None = None,
) -> NodeCert:
    """A certificate for ``common_name`` valid for ``dns_names`` and ``ips``, usable by a
    server and as a client (replication, Sentinel to Redis, etcd peers)."""
    now = now or _now()
    key = _key()
    sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dict.fromkeys(dns_names)]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in dict.fromkeys(ips)]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64])]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(min(now + VALIDITY, ca.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return NodeCert(cert.public_bytes(serialization.Encoding.PEM).decode(), _key_pem(key))


class RunTls:
    """The run's CA, node certificates on demand, and the client files in a private temporary
    directory (removed by :meth:`close`)."""

    def __init__(self, run_id: str, *, now: datetime.datetime | None = None) -> None:
        self.run_id = run_id
        self._ca, self._ca_key = make_ca(run_id, now=now)
        self.ca_pem = self._ca.public_bytes(serialization.Encoding.PEM).decode()
        self._now = now
        self._dir: Path | None = None
        self._client: NodeCert | None = None

    def node_files(self, container_name: str, aliases: Iterable[str] = ()) -> dict[str, str]:
        """The files (CA, certificate, key) a node's secrets directory gets."""
        names = [container_name, *aliases, "localhost"]
        return issue(self._ca, self._ca_key, container_name, names, now=self._now).files(
            self.ca_pem
        )

    @property
    def directory(self) -> Path:
        """The run's private directory for client TLS material (created on first use)."""
        if self._dir is None:
            self._dir = Path(tempfile.mkdtemp(prefix="drillkit-tls-"))  # mode 0700
        return self._dir

    def _write(self, name: str, text: str) -> Path:
        path = self.directory / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        return path

    @property
    def ca_file(self) -> Path:
        """The CA certificate drillkit's clients verify servers with."""
        path = self.directory / CA_FILE
        return path if path.exists() else self._write(CA_FILE, self.ca_pem)

    def client_files(self) -> tuple[Path, Path]:
        """A client certificate and key (CN ``drillkit``) for servers that ask for one (Redis
        authenticates TLS clients by default)."""
        cert, key = self.directory / CERT_FILE, self.directory / KEY_FILE
        if not cert.exists():
            self._client = issue(self._ca, self._ca_key, "drillkit", ["drillkit"], now=self._now)
            self._write(CERT_FILE, self._client.cert_pem)
            self._write(KEY_FILE, self._client.key_pem)
        return cert, key

    def close(self) -> None:
        """Remove the client directory (idempotent)."""
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
