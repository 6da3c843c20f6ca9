"""One TLS context for the process's HTTP clients.

httpx builds a fresh SSLContext for every Client (and every `httpx.get`), loading the CA
bundle each time: 30-50 ms here, several times a run (bench/README.md). The context is the
one httpx would build (`httpx.create_ssl_context()`: certifi's bundle, SSL_CERT_FILE or
SSL_CERT_DIR when set), made once and shared; an SSLContext may serve many connections.

A client whose base URL is plain `http://` (the simulator on loopback) never uses TLS:
`for_url` gives it a context that verifies everything and trusts no one, made without
reading the bundle, so a stray `https://` request from it fails verification rather than
skipping it.
"""

from __future__ import annotations

import functools
import ssl


@functools.cache
def context() -> ssl.SSLContext:
    import httpx

    return httpx.create_ssl_context()


@functools.cache
def _trusts_no_one() -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED and check_hostname
    return ctx


def for_url(url: str) -> ssl.SSLContext:
    """The context a client of `url` needs: the shared one for https, none trusted else."""
    if url.strip().lower().startswith("https:"):
        return context()
    return _trusts_no_one()
