"""An HTTP transport whose requests end by a deadline, however the bytes trickle in.

httpx's timeouts bound each step (connect, one read, one write), not a whole request: a network
that passes a byte every few seconds (a failing link, a stalled proxy or middlebox) never lets a
read wait long enough to time out, and one answer then takes hours. A sync stuck so held the
nightly job (and its lock, so the next night's run refused to start) and the checkout app's sync
thread (no sync after it until the app restarted). Here every socket operation of a request
waits at most until the request's deadline, which the caller sets for its thread
(``deadline``); past it the request fails as a timeout does, and the sync says so.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import httpcore
import httpx

_local = threading.local()
#: Writes are cut into pieces of this size, so that a peer reading slowly meets the deadline
#: between them (one ``write`` waits up to its timeout for each ``send`` it makes).
_WRITE_PIECE = 64 * 1024


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Requests made by this thread inside the block end within ``seconds`` of its start."""
    before = getattr(_local, "at", None)
    _local.at = time.monotonic() + seconds
    try:
        yield
    finally:
        _local.at = before


def _left(timeout: float | None, late: type[Exception]) -> float | None:
    """``timeout`` cut to what is left of this thread's deadline; ``late`` once it has passed."""
    at: float | None = getattr(_local, "at", None)
    if at is None:
        return timeout
    left = at - time.monotonic()
    if left <= 0:
        raise late("the request's deadline passed")
    return left if timeout is None else min(timeout, left)


class _Stream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        for start in range(0, len(buffer), _WRITE_PIECE) if buffer else ():
            piece = buffer[start : start + _WRITE_PIECE]
            self._inner.write(piece, _left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: Any,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        wait = _left(timeout, httpcore.ConnectTimeout)
        return _Stream(self._inner.start_tls(ssl_context, server_hostname, wait))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        wait = _left(timeout, httpcore.ConnectTimeout)
        return _Stream(self._inner.connect_tcp(host, port, wait, local_address, socket_options))

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:  # pragma: no cover - the ledger is reached over TCP
        wait = _left(timeout, httpcore.ConnectTimeout)
        return _Stream(self._inner.connect_unix_socket(path, wait, socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def transport() -> httpx.HTTPTransport:
    """httpx's own transport (its TLS set-up, its mapping of errors), on sockets that keep the
    deadline. httpx takes no network backend as an argument: its connection pool is built again
    as httpx builds it, with ours."""
    made = httpx.HTTPTransport()
    if not isinstance(getattr(made, "_pool", None), httpcore.ConnectionPool):
        # An httpx that keeps its pool elsewhere: stop here, never sync without the deadline.
        raise RuntimeError(f"httpx {httpx.__version__} has no _pool to give the sync's deadline")
    made._pool = httpcore.ConnectionPool(
        ssl_context=httpx.create_ssl_context(),
        max_connections=100,
        max_keepalive_connections=20,
        keepalive_expiry=5.0,
        network_backend=_Backend(),
    )
    return made
