"""Whom the MAX session trusts: the usual public roots plus the Russian Trusted Root CA.

platform-api2.max.ru presents a certificate issued under the Russian Trusted Root CA of the Ministry
of Digital Development (Минцифры России). certifi's bundle (what aiogram's session trusts) does not
hold it, and adding it to the operating system would not help either, because aiogram builds its SSL
context from certifi alone. So the MAX session gets its own context: certifi's roots plus the root
shipped in content/certs (its source and fingerprint in content/certs/README.md, the fingerprint
pinned by tests/test_max_tls.py). ``MAX_CA_FILE`` points to another PEM file instead of the shipped
one (a renewed root, or a test root); the public roots stay trusted either way.
"""

from __future__ import annotations

import hashlib
import ssl
from pathlib import Path

import certifi

from bot.paths import CONTENT_DIR

RUSSIAN_TRUSTED_ROOT = CONTENT_DIR / "certs" / "russian_trusted_root_ca.pem"
# SHA-256 of the certificate's DER bytes, as `openssl x509 -noout -fingerprint -sha256` prints it.
RUSSIAN_TRUSTED_ROOT_SHA256 = "d26d2d0231b7c39f92cc738512ba54103519e4405d68b5bd703e9788ca8ecf31"


def certificate_sha256(pem_file: Path) -> str:
    """The SHA-256 fingerprint (lowercase hex) of the first certificate in ``pem_file``."""
    der = ssl.PEM_cert_to_DER_cert(pem_file.read_text(encoding="ascii"))
    return hashlib.sha256(der).hexdigest()


def max_ssl_context(ca_file: Path | None = None) -> ssl.SSLContext:
    """Verifying client context for MAX: certifi's roots plus ``ca_file`` (default: the Russian root)."""
    context = ssl.create_default_context(cafile=certifi.where())
    context.load_verify_locations(cafile=str(ca_file or RUSSIAN_TRUSTED_ROOT))
    return context
