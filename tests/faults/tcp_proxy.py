"""A TCP proxy that a fault test can cut: the real server stays up, its clients lose it.

`down()` closes every open connection and stops listening, so new connections are refused (what
a crashed or restarting server looks like); `blackhole()` keeps accepting but never forwards a
byte (a server that hangs); `up()` forwards again on the same port.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from typing import Literal

Mode = Literal["up", "down", "blackhole"]


class TcpProxy:
    def __init__(self, target_host: str, target_port: int, listen_port: int = 0) -> None:
        self.target = (target_host, target_port)
        self.mode: Mode = "up"
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._stopped = False
        self.port = self._listen(listen_port)
        self.connections = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _listen(self, port: int) -> int:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(128)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return int(listener.getsockname()[1])

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # the listener was closed
            self.connections += 1
            self._track(client)
            if self.mode == "blackhole":
                threading.Thread(target=self._swallow, args=(client,), daemon=True).start()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                self._close(client)
                continue
            self._track(upstream)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.add(sock)

    def _close(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(sock)
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            sock.close()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                if self.mode != "up":
                    break
                sink.sendall(data)
        except OSError:
            pass
        # A hung server answers nothing and never closes: blackholed sockets are left open
        # until down() or up() drops them.
        if self.mode != "blackhole":
            self._close(source)
            self._close(sink)

    def _swallow(self, client: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while client.recv(65536):
                pass

    def _drop_all(self) -> None:
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            self._close(sock)

    def down(self) -> None:
        """Refuse new connections and cut the open ones."""
        self.mode = "down"
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.close()
            self._listener = None
        self._drop_all()

    def blackhole(self) -> None:
        """Accept connections but never answer (open ones stop forwarding too)."""
        self.mode = "blackhole"
        if self._listener is None:
            self._listen(self.port)

    def up(self) -> None:
        was = self.mode
        self.mode = "up"
        if was == "blackhole":
            self._drop_all()  # clients waiting on a hung server see it reset
        if self._listener is None:
            self._listen(self.port)

    def close(self) -> None:
        self.down()


@contextlib.contextmanager
def tcp_proxy(target_host: str, target_port: int) -> Iterator[TcpProxy]:
    proxy = TcpProxy(target_host, target_port)
    try:
        yield proxy
    finally:
        proxy.close()
