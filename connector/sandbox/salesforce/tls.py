"""Throwaway TLS material for the Salesforce emulator.

Why: simple-salesforce always builds ``https://<instance>`` URLs, so the emulator must speak
TLS.  ``trustme`` makes a private CA and a leaf certificate for 127.0.0.1/localhost in a temp
directory (removed on stop).  Clients trust it with ``requests.Session()`` + ``verify=<ca>`` +
``trust_env=False`` — without ``trust_env=False`` an exported ``REQUESTS_CA_BUNDLE`` /
``CURL_CA_BUNDLE`` silently overrides ``verify``.  Tools that build their own session can use
``REQUESTS_CA_BUNDLE=<bundle>``, the bundle being the system CAs plus the sandbox CA.
"""

from __future__ import annotations

import os
import shutil
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

import trustme

__all__ = ["TlsMaterial", "make_tls"]

_SYSTEM_BUNDLES = ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt")


@dataclass(frozen=True)
class TlsMaterial:
    directory: str
    ca_path: str
    bundle_path: str
    context: ssl.SSLContext

    def remove(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


def _system_cas() -> bytes:
    try:
        import certifi

        return Path(certifi.where()).read_bytes()
    except (ImportError, OSError):
        for candidate in _SYSTEM_BUNDLES:
            if os.path.exists(candidate):
                return Path(candidate).read_bytes()
    return b""


def make_tls(hosts: tuple[str, ...] = ("127.0.0.1", "localhost")) -> TlsMaterial:
    """Create CA, server certificate, CA file and bundle file; return a server SSL context."""
    ca = trustme.CA(organization_name="mqlsync sandbox CA")
    cert = ca.issue_cert(*hosts)
    directory = tempfile.mkdtemp(prefix="mqlsync-sf-tls-")
    ca_path = os.path.join(directory, "sandbox-ca.pem")
    bundle_path = os.path.join(directory, "bundle.pem")
    ca_pem = ca.cert_pem.bytes()
    Path(ca_path).write_bytes(ca_pem)
    system = _system_cas()
    if system and not system.endswith(b"\n"):
        system += b"\n"
    Path(bundle_path).write_bytes(system + ca_pem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    cert.configure_cert(context)
    return TlsMaterial(directory, ca_path, bundle_path, context)
