"""One HTTP server on 127.0.0.1 for the tests' recorded-response servers.

Each test keeps its own request handler (the bodies it answers with are the test's data);
starting on a free port, serving from a daemon thread, and stopping (shutdown, close the
socket, join the thread) is the same everywhere and lives here.
"""

from __future__ import annotations

import ssl
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer, ThreadingHTTPServer
from types import TracebackType


class LoopbackServer:
    """`handler` served on 127.0.0.1 on a free port; `url` is known before `start()`.

    `threaded=False` answers one request at a time (http.server.HTTPServer); `tls` wraps the
    listening socket so the URL is https.
    """

    def __init__(
        self,
        handler: type[BaseHTTPRequestHandler],
        *,
        threaded: bool = True,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.server = (ThreadingHTTPServer if threaded else HTTPServer)(("127.0.0.1", 0), handler)
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> LoopbackServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
