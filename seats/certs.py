"""A certificate authority and the PBX's TLS certificate, for tests and small sites.

A home seat's softphone registers over TLS and checks the PBX's certificate against this CA
(install ca.crt in the softphone). A site with its own PKI puts its files under the same names
instead. Keys are ECDSA P-256 and written 0600; the CA's key never needs to leave this folder.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tickets.files import private_folder, replace_private

CA_DAYS = 3650
SERVER_DAYS = 825  # what browsers and most TLS stacks still accept for a leaf certificate
BAD_NAME = "bad-certificate-name"


class CertificateError(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """Where the TLS files of the PBX live (one folder): what Asterisk's transport names."""

    folder: Path

    @property
    def ca_cert(self) -> Path:
        return self.folder / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.folder / "ca.key"

    @property
    def cert(self) -> Path:
        return self.folder / "server.crt"

    @property
    def key(self) -> Path:
        return self.folder / "server.key"

    def complete(self) -> bool:
        return all(p.exists() for p in (self.ca_cert, self.cert, self.key))


def _key_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def _cert_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _names(names: list[str]) -> list[x509.GeneralName]:
    """Host names and addresses the softphones reach the PBX by (each becomes a SAN)."""
    found: list[x509.GeneralName] = []
    for name in names:
        try:
            found.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            if not name or any(c.isspace() or c in "/:@" for c in name):
                raise CertificateError(BAD_NAME, f"{name!r} is neither a host name nor an address") from None
            found.append(x509.DNSName(name))
    if not found:
        raise CertificateError(BAD_NAME, "give at least one host name or address the phones use")
    return found


def make_certificates(files: TlsFiles, names: list[str], *, site: str = "hotline-pbx",
                      owner: tuple[int, int] | None = None, now: datetime | None = None) -> list[str]:
    """Make the CA (unless one is there: phones already trust it) and a new server certificate
    for `names`, signed by it. `owner`: (uid, gid) the server key is given to (Asterisk must read
    it; nobody else may). Returns what was written, for the command to say."""
    sans = _names(names)
    now = now or datetime.now(timezone.utc)
    private_folder(files.folder, warn=False)
    written: list[str] = []
    if files.ca_key.exists() and files.ca_cert.exists():
        ca_key = serialization.load_pem_private_key(files.ca_key.read_bytes(), password=None)
        assert isinstance(ca_key, ec.EllipticCurvePrivateKey), "the CA key is not ECDSA"
        ca_cert = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    else:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, site),
                             x509.NameAttribute(NameOID.COMMON_NAME, f"{site} seats CA")])
        ca_cert = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
                   .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=CA_DAYS))
                   .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                   .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                                key_encipherment=False, data_encipherment=False,
                                                key_agreement=False, key_cert_sign=True, crl_sign=True,
                                                encipher_only=False, decipher_only=False), critical=True)
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
                   .sign(ca_key, hashes.SHA256()))
        replace_private(files.ca_key, _key_pem(ca_key))
        replace_private(files.ca_cert, _cert_pem(ca_cert), mode=0o644)
        written += [str(files.ca_cert), str(files.ca_key)]
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, site),
                         x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=SERVER_DAYS))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    replace_private(files.key, _key_pem(key))
    replace_private(files.cert, _cert_pem(cert) + _cert_pem(ca_cert), mode=0o644)  # the chain
    if owner is not None:  # Asterisk reads its key and may enter the folder; the CA's key stays ours
        os.chown(files.key, *owner)
        os.chown(files.folder, os.getuid(), owner[1])
        os.chmod(files.folder, 0o750)
    written += [str(files.cert), str(files.key)]
    return written
