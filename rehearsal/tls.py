"""One TLS context for the process's HTTP clients.

httpx builds a fresh SSLContext for every Client (and every `httpx.get`), loading the CA
bundle each time: 30-50 ms here, several times a run (bench/README.md). The context is the
one httpx would build (`httpx.create_ssl_context()`: certifi's bundle, SSL_CERT_FILE or
SSL_CERT_DIR when set), made once and shared; an SSLContext may serve many connections.
"""

from __future__ import annotations

import functools
import ssl


@functools.cache
def context() -> ssl.SSLContext:
    import httpx

    return httpx.create_ssl_context()
