"""The PBX's TLS certificate: a phone that trusts the CA accepts it for every name and address
it dials; a renewal keeps the CA the phones already trust; keys are the service's alone."""

from __future__ import annotations

import ipaddress
import stat
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from seats.certs import BAD_NAME, CertificateError, TlsFiles, make_certificates


def load(path: Path) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(path.read_bytes())


def test_the_server_certificate_is_issued_by_the_ca_for_every_name_phones_dial(tmp_path: Path) -> None:
    files = TlsFiles(tmp_path / "keys")
    make_certificates(files, ["pbx.hotline.example", "203.0.113.5"])
    [ca] = load(files.ca_cert)
    server, chained_ca = load(files.cert)
    server.verify_directly_issued_by(ca)
    assert chained_ca == ca  # the chain is served whole
    sans = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["pbx.hotline.example"]
    assert sans.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("203.0.113.5")]
    assert ExtendedKeyUsageOID.SERVER_AUTH in server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert not server.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    now = datetime.now(timezone.utc)
    assert server.not_valid_before_utc <= now < server.not_valid_after_utc <= now + timedelta(days=826)


def test_keys_are_readable_by_the_service_alone(tmp_path: Path) -> None:
    files = TlsFiles(tmp_path / "keys")
    make_certificates(files, ["127.0.0.1"])
    for key in (files.key, files.ca_key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(files.folder.stat().st_mode) == 0o700


def test_a_renewal_keeps_the_ca_phones_trust_and_issues_a_new_certificate(tmp_path: Path) -> None:
    files = TlsFiles(tmp_path / "keys")
    make_certificates(files, ["127.0.0.1"])
    ca_before, server_before = files.ca_cert.read_bytes(), load(files.cert)[0]
    written = make_certificates(files, ["127.0.0.1", "pbx.hotline.example"])
    assert files.ca_cert.read_bytes() == ca_before and str(files.ca_key) not in written
    server = load(files.cert)[0]
    assert server.serial_number != server_before.serial_number
    server.verify_directly_issued_by(load(files.ca_cert)[0])


@pytest.mark.parametrize("names", [[], ["pbx example"], ["sip:pbx.example"]])
def test_a_name_a_phone_could_not_dial_is_refused_before_anything_is_written(tmp_path: Path, names) -> None:  # type: ignore[no-untyped-def]
    files = TlsFiles(tmp_path / "keys")
    with pytest.raises(CertificateError) as caught:
        make_certificates(files, names)
    assert caught.value.code == BAD_NAME and not files.folder.exists()
