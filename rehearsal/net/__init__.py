"""Networking: the HTTP server thread, the loopback HTTP/1.1 client and the TLS context."""
