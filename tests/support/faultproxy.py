"""A seeded fault-injecting TCP proxy on loopback, between a terminal and the ledger.

Each connection carries one request: the proxy closes it once the response has been relayed (no
more bytes for 50 ms), so a kept-alive HTTP client meets a fresh fate for every request.

Each accepted connection draws one fate: pass through, delay, drop before forwarding, forward the
request but lose the whole response (the ledger committed, the client never hears), cut the
response part-way, or answer 502/503 itself (or 429, only when a script names it; each with
``retry_after`` as its ``Retry-After`` when set), or hold the response back ``slow_s`` seconds
(``slow_response``, only when a script names it). ``offline`` refuses everything (a dead network);
``faults = False`` passes everything through (the network is back). All traffic stays on
127.0.0.1; every loop is bounded by socket timeouts and stops with the proxy.
"""

from __future__ import annotations

import random
import socket
import threading
import time
from collections import Counter
from typing import Any, Self

FATES = ("pass", "delay", "drop", "lose_response", "cut_response", "502", "503")


class LoopbackProxy:
    """A listener on 127.0.0.1 in front of ``upstream_port``: each connection it accepts is
    served on a thread of its own (``_serve``, with what ``_draw`` chose for it) until the
    proxy stops."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream = ("127.0.0.1", upstream_port)
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._listener.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            args = (client, *self._draw())
            threading.Thread(target=self._serve, args=args, daemon=True).start()

    def _draw(self) -> tuple[Any, ...]:
        """What the next connection gets besides its socket (drawn on the accepting thread)."""
        return ()

    def _serve(self, client: socket.socket, *drawn: Any) -> None:
        raise NotImplementedError


class FaultProxy(LoopbackProxy):
    def __init__(
        self,
        upstream_port: int,
        seed: int,
        weights: dict[str, float] | None = None,
        max_delay: float = 0.3,
        script: list[str] | None = None,
    ) -> None:
        super().__init__(upstream_port)
        self.rng = random.Random(seed)
        self.weights = weights or {
            "pass": 0.55,
            "delay": 0.1,
            "drop": 0.08,
            "lose_response": 0.08,
            "cut_response": 0.07,
            "502": 0.06,
            "503": 0.06,
        }
        self.max_delay = max_delay
        #: fates for the next connections, in order, before the random ones
        self.script = list(script or [])
        self.faults = True
        self.offline = False
        #: the ``Retry-After`` header of the proxy's own 429, 502 and 503 answers, if any
        self.retry_after: str | None = None
        #: how long a ``slow_response`` holds the ledger's answer back (a ledger that works
        #: on a request longer than the till waits for its answer)
        self.slow_s = 3.0
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def _fate(self) -> str:
        if self.offline:
            return "offline"
        if not self.faults and not self.script:
            return "pass"
        with self._lock:
            if self.script:
                return self.script.pop(0)
            fates = list(self.weights)
            return self.rng.choices(fates, [self.weights[f] for f in fates])[0]

    def _draw(self) -> tuple[str, float, int]:
        fate = self._fate()
        with self._lock:
            self.counts[fate] += 1
            return fate, self.rng.uniform(0, self.max_delay), self.rng.randint(1, 120)

    def _serve(self, client: socket.socket, *drawn: Any) -> None:
        fate, delay, cut = drawn
        client.settimeout(10)
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            if fate in ("offline", "drop"):
                return
            if fate in ("429", "502", "503"):
                client.recv(65536)
                reason = {"429": "Too Many Requests", "502": "Bad Gateway"}.get(
                    fate, "Service Unavailable"
                )
                wait = f"Retry-After: {self.retry_after}\r\n" if self.retry_after else ""
                client.sendall(
                    f"HTTP/1.1 {fate} {reason}\r\nContent-Length: 0\r\n{wait}"
                    "Connection: close\r\n\r\n".encode()
                )
                return
            if fate == "delay":
                time.sleep(delay)
            upstream = socket.create_connection(self.upstream, timeout=10)
            upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                self._pipe(client, upstream, fate, cut)
            finally:
                _hang_up(upstream)
        except OSError:
            pass
        finally:
            _hang_up(client)

    def _pipe(self, client: socket.socket, upstream: socket.socket, fate: str, cut: int) -> None:
        """Relay one connection; for the response faults, the response is lost or cut."""
        done = threading.Event()

        def forward_requests() -> None:
            try:
                while not done.is_set():
                    data = client.recv(65536)
                    if not data:
                        break
                    upstream.sendall(data)
            except OSError:
                pass
            finally:
                done.set()

        threading.Thread(target=forward_requests, daemon=True).start()
        sent = 0
        try:
            while True:
                try:
                    data = upstream.recv(65536)
                except TimeoutError:
                    break  # the response is complete: one request per connection
                if not data:
                    break
                if fate == "lose_response":
                    break  # the ledger answered; the terminal never hears it
                if fate == "cut_response":
                    client.sendall(data[: max(cut - sent, 0)])
                    break
                if fate == "slow_response" and not sent:
                    self._stop.wait(self.slow_s)  # the ledger at work on it for this long
                client.sendall(data)
                sent += len(data)
                upstream.settimeout(0.05)
        except OSError:
            pass
        finally:
            done.set()


def _hang_up(sock: socket.socket) -> None:
    """Close for real: ``shutdown`` sends the FIN and wakes a recv blocked in another thread
    (``close`` alone would leave the peer waiting until that recv times out)."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


class TrickleProxy(LoopbackProxy):
    """A loopback TCP proxy that passes requests on at once and the ledger's answers back one
    byte every ``gap`` seconds: a network that stalls without ever going quiet long enough for
    a read to time out."""

    def __init__(self, upstream_port: int, gap: float) -> None:
        super().__init__(upstream_port)
        self.gap = gap

    def _serve(self, client: socket.socket, *drawn: Any) -> None:
        try:
            upstream = socket.create_connection(self.upstream, timeout=10)
        except OSError:
            _hang_up(client)
            return

        def forward_requests() -> None:
            try:
                while data := client.recv(65536):
                    upstream.sendall(data)
            except OSError:
                pass

        threading.Thread(target=forward_requests, daemon=True).start()
        try:
            while not self._stop.is_set() and (data := upstream.recv(65536)):
                for i in range(len(data)):
                    if self._stop.wait(self.gap):
                        return
                    client.sendall(data[i : i + 1])
        except OSError:
            pass  # the client gave up: the trickle ends with it
        finally:
            _hang_up(upstream)
            _hang_up(client)
