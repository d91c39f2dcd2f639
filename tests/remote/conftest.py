"""Fixtures of the remote-file tests: real XRootD and nginx servers (see servers.py)."""

from servers import http_url, served, xrootd_url  # noqa: F401
