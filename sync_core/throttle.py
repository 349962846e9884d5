"""A throttling TCP proxy on loopback: a 2G link for tests and benchmarks (no netem here).

    with ThrottleProxy(("127.0.0.1", server_port), bandwidth_bps=64_000, latency_s=0.2,
                       drop_every_s=30) as proxy:
        client talks to proxy.url ...

- bandwidth: a token bucket per direction, shared by all connections (one radio link);
- latency: added to every chunk in each direction (0.2 s each way = 400 ms round trip);
- drops: every `drop_every_s` seconds all open connections are reset, like a 2G link
  losing its cell; `cuts` resets the n-th connection (0-based) after a given number of
  bytes in one direction ("up" = client to server), for tests that cut at exact bytes.

Run it alone: `python -m sync_core.throttle --target 127.0.0.1:8000 --port 9000`.

It lives in the package (not in tests/ or benchmarks/) so that the tests and the benchmarks
both import it from here and never import each other. Nothing in the apps imports it.
"""

from __future__ import annotations

import argparse
import contextlib
import queue
import socket
import struct
import threading
import time
from dataclasses import dataclass, field

CHUNK = 1024


@dataclass
class ProxyStats:
    connections: int = 0
    drops: int = 0
    bytes_up: int = 0
    bytes_down: int = 0


class _Bucket:
    """Serialises chunks onto a link of `rate` bytes/s (None: unlimited)."""

    def __init__(self, rate: float | None):
        self.rate = rate
        self._free_at = 0.0
        self._lock = threading.Lock()

    def reserve(self, size: int) -> float:
        """When a chunk of `size` bytes has finished crossing the link."""
        if not self.rate:
            return time.monotonic()
        with self._lock:
            start = max(time.monotonic(), self._free_at)
            self._free_at = start + size / self.rate
            return self._free_at


@dataclass(eq=False)  # hashed by identity: kept in a set of open connections
class _Connection:
    index: int
    client: socket.socket
    upstream: socket.socket
    closed: threading.Event = field(default_factory=threading.Event)


class ThrottleProxy:
    def __init__(
        self,
        target: tuple[str, int],
        *,
        bandwidth_bps: float | None = None,
        latency_s: float = 0.0,
        drop_every_s: float | None = None,
        cuts: dict[int, tuple[str, int]] | None = None,
        listen_port: int = 0,
    ):
        self.target = target
        self.latency_s = latency_s
        self.drop_every_s = drop_every_s
        self.cuts = dict(cuts or {})
        self.stats = ProxyStats()
        self._buckets = {
            "up": _Bucket(bandwidth_bps / 8 if bandwidth_bps else None),
            "down": _Bucket(bandwidth_bps / 8 if bandwidth_bps else None),
        }
        self._listener = socket.create_server(("127.0.0.1", listen_port))
        self.port = self._listener.getsockname()[1]
        self._open: set[_Connection] = set()
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ThrottleProxy:
        self._spawn(self._accept_loop)
        if self.drop_every_s:
            self._spawn(self._drop_loop)
        return self

    def stop(self) -> None:
        self._stopped.set()
        self._listener.close()
        with self._lock:
            for conn in list(self._open):
                self._close(conn, count=False)

    def __enter__(self) -> ThrottleProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def drop_all(self) -> None:
        """Reset every open connection now."""
        with self._lock:
            for conn in list(self._open):
                self._close(conn)

    # --- internals -------------------------------------------------------------------

    def _spawn(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _accept_loop(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=10)
            except OSError:
                client.close()
                continue
            # The 10 s are for connecting only: a server busy validating a batch for longer
            # must not look like a dropped link (the client has its own read timeout).
            upstream.settimeout(None)
            with self._lock:
                conn = _Connection(self.stats.connections, client, upstream)
                self.stats.connections += 1
                self._open.add(conn)
            for sock in (client, upstream):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._pump(conn, "up", client, upstream)
            self._pump(conn, "down", upstream, client)

    def _drop_loop(self) -> None:
        while not self._stopped.wait(self.drop_every_s):
            self.drop_all()

    def _close(self, conn: _Connection, count: bool = True) -> None:
        if conn.closed.is_set():
            return
        conn.closed.set()
        if count:
            self.stats.drops += 1
        for sock in (conn.client, conn.upstream):
            with contextlib.suppress(OSError):
                # Linger 0: a reset (RST), as when the radio link goes, not a polite FIN.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            with contextlib.suppress(OSError):
                # Wakes our pump thread blocked in recv(); until it lets go of the socket,
                # close() can't reset it.
                sock.shutdown(socket.SHUT_RD)
            with contextlib.suppress(OSError):
                sock.close()
        self._open.discard(conn)

    def _pump(self, conn: _Connection, direction: str, src: socket.socket, dst: socket.socket):
        chunks: queue.Queue[tuple[float, bytes, bool] | None] = queue.Queue()
        cut = self.cuts.get(conn.index)
        cut_at = cut[1] if cut and cut[0] == direction else None

        def read() -> None:
            passed = 0
            while not conn.closed.is_set():
                try:
                    data = src.recv(CHUNK)
                except OSError:
                    break
                if not data:
                    break
                if cut_at is not None and passed + len(data) >= cut_at:
                    data = data[: cut_at - passed]
                    # The bytes before the cut still arrive, then the link goes.
                    chunks.put((time.monotonic() + self.latency_s, data, True))
                    return
                passed += len(data)
                chunks.put((time.monotonic() + self.latency_s, data, False))
            chunks.put(None)

        def write() -> None:
            while True:
                item = chunks.get()
                if item is None:
                    with contextlib.suppress(OSError):
                        dst.shutdown(socket.SHUT_WR)
                    return
                due, data, cut_here = item
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                done = self._buckets[direction].reserve(len(data))
                wait = done - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                if conn.closed.is_set():
                    return
                try:
                    dst.sendall(data)
                except OSError:
                    with self._lock:
                        self._close(conn)
                    return
                if direction == "up":
                    self.stats.bytes_up += len(data)
                else:
                    self.stats.bytes_down += len(data)
                if cut_here:
                    with self._lock:
                        self._close(conn)
                    return

        self._spawn(read)
        self._spawn(write)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--target", required=True, help="host:port of the server")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--kbit", type=float, default=64, help="bandwidth each way (64)")
    parser.add_argument("--rtt-ms", type=float, default=400, help="added round trip (400)")
    parser.add_argument("--drop-every", type=float, default=30, help="seconds (30; 0: never)")
    args = parser.parse_args()
    host, port = args.target.rsplit(":", 1)
    proxy = ThrottleProxy(
        (host, int(port)),
        bandwidth_bps=args.kbit * 1000,
        latency_s=args.rtt_ms / 2000,
        drop_every_s=args.drop_every or None,
        listen_port=args.port,
    ).start()
    print(f"proxy on {proxy.url} -> {args.target}; Ctrl-C to stop")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        proxy.stop()


if __name__ == "__main__":
    main()
