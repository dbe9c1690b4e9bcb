"""Certificates for TLS tests, made with ``cryptography``: a CA, a server certificate for 127.0.0.1 and a
client certificate, laid out as docker's "protect the daemon socket" guide names them."""

from __future__ import annotations

import datetime
import ipaddress
import os
from typing import Any


def make_certs(folder: str) -> None:
    """``ca.pem``; ``server-cert.pem``/``server-key.pem`` for 127.0.0.1; ``cert.pem``/``key.pem`` (client),
    as docker's "protect the daemon socket" guide lays them out; ``other-ca.pem``, a CA nobody used."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def write(path: str, data: bytes) -> None:
        with open(os.path.join(folder, path), "wb") as f:
            f.write(data)

    def key_pem(key: Any) -> bytes:
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,  # type: ignore[no-any-return]
                                 serialization.NoEncryption())

    def ca(cn: str) -> tuple[Any, Any]:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (x509.CertificateBuilder().subject_name(name(cn)).issuer_name(name(cn))
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                             data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                             crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
                .sign(key, hashes.SHA256()))
        return key, cert

    ca_key, ca_cert = ca("portside test CA")
    write("ca.pem", ca_cert.public_bytes(serialization.Encoding.PEM))
    _, other = ca("another CA")
    write("other-ca.pem", other.public_bytes(serialization.Encoding.PEM))

    def leaf(cn: str, usage: Any, san: list[x509.GeneralName] | None) -> tuple[bytes, bytes]:
        key = ec.generate_private_key(ec.SECP256R1())
        b = (x509.CertificateBuilder().subject_name(name(cn)).issuer_name(ca_cert.subject)
             .public_key(key.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=1))
             .add_extension(x509.ExtendedKeyUsage([usage]), critical=False))
        if san:
            b = b.add_extension(x509.SubjectAlternativeName(san), critical=False)
        cert = b.sign(ca_key, hashes.SHA256())
        return cert.public_bytes(serialization.Encoding.PEM), key_pem(key)

    cert, key = leaf("127.0.0.1", ExtendedKeyUsageOID.SERVER_AUTH,
                     [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")])
    write("server-cert.pem", cert)
    write("server-key.pem", key)
    cert, key = leaf("client", ExtendedKeyUsageOID.CLIENT_AUTH, None)
    write("cert.pem", cert)
    write("key.pem", key)
