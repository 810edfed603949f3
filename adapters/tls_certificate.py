"""A self-signed certificate for localhost, made once into the data directory and renewed."""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = timedelta(days=365)
RENEW_WITHIN = timedelta(days=7)
# Clients whose clock is a little behind ours must not see a certificate from the future.
BACKDATE = timedelta(minutes=5)
HOST_NAMES = ("localhost",)
HOST_ADDRESSES = ("127.0.0.1", "::1")


def ensure_certificate(data_dir: Path, now: datetime | None = None) -> tuple[Path, Path]:
    """(cert, key) under ``<data_dir>/tls``: kept while usable, else generated afresh.

    A new pair is made when either file is missing or unreadable, when they do not belong
    together, or when the certificate expires within seven days of ``now`` (timezone-aware,
    by default the current time).
    """
    now = datetime.now(UTC) if now is None else now
    tls_dir = data_dir / "tls"
    tls_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    cert_path, key_path = tls_dir / "cert.pem", tls_dir / "key.pem"
    # Two servers starting on one data directory must not each write half of a pair.
    with _exclusive_lock(tls_dir / ".lock"):
        if not _usable(cert_path, key_path, now):
            key = ec.generate_private_key(ec.SECP256R1())
            _write_atomically(key_path, _private_key_pem(key), mode=0o600)
            _write_atomically(cert_path, _self_signed(key, now), mode=0o644)
    return cert_path, key_path


def _usable(cert_path: Path, key_path: Path, now: datetime) -> bool:
    try:
        certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError):
        return False
    belongs = certificate.public_key() == key.public_key()
    return belongs and certificate.not_valid_after_utc - now > RENEW_WITHIN


def _self_signed(key: ec.EllipticCurvePrivateKey, now: datetime) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST_NAMES[0])])
    alternative_names: list[x509.GeneralName] = [x509.DNSName(host) for host in HOST_NAMES]
    alternative_names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in HOST_ADDRESSES]
    public_key = key.public_key()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.SubjectAlternativeName(alternative_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM)


def _private_key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write_atomically(path: Path, content: bytes, *, mode: int) -> None:
    """Readers see the old file or the new one, and the new one never has a wider mode."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.unlink(missing_ok=True)
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(descriptor, "wb") as file:
            os.fchmod(file.fileno(), mode)  # the umask may have narrowed it below what readers need
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def _exclusive_lock(path: Path) -> Iterator[None]:
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # closing releases the lock
