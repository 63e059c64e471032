"""A loopback HTTP server for the headline tests: the RSS and Atom fixtures of
tests/fixtures/news, and feeds that fail in the ways real ones do.

Paths: ``/rss.xml``, ``/atom.xml``, ``/malformed.xml`` (a truncated document) as stored;
``/slow.xml`` answers the RSS fixture after ``slow_delay`` seconds; ``/trickle.xml`` sends its
headers at once and then one byte every 0.1 s; ``/big.xml`` declares a body of 10 MiB; any
other path is 404. ``hits`` counts the requests per path.
"""

from __future__ import annotations

import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "news"
STORED = {"/rss.xml": "rss.xml", "/atom.xml": "atom.xml", "/malformed.xml": "malformed.xml"}


class NewsServer:
    """Serves the fixture feeds on 127.0.0.1 (a free port) until :meth:`close`."""

    def __init__(self, slow_delay: float = 2.0) -> None:
        self.slow_delay = slow_delay
        self.hits: Counter[str] = Counter()
        self.stopping = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                server.hits[self.path] += 1
                if self.path in STORED:
                    self._send((FIXTURES / STORED[self.path]).read_bytes())
                elif self.path == "/slow.xml":
                    server.stopping.wait(server.slow_delay)
                    self._send((FIXTURES / "rss.xml").read_bytes())
                elif self.path == "/trickle.xml":
                    self.send_response(200)
                    self.send_header("Content-Type", "application/rss+xml")
                    self.end_headers()
                    for byte in (FIXTURES / "rss.xml").read_bytes()[:40]:
                        if server.stopping.wait(0.1):
                            return
                        try:
                            self.wfile.write(bytes([byte]))
                            self.wfile.flush()
                        except OSError:
                            return   # the client gave up (a timeout under test)
                elif self.path == "/big.xml":
                    self.send_response(200)
                    self.send_header("Content-Length", str(10 * 1024 * 1024))
                    self.end_headers()
                else:
                    self.send_error(404)

            def _send(self, body: bytes) -> None:
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/xml; charset=utf-8")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass   # the client gave up (a timeout under test)

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.http.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.http.server_address[1]}"
        self._thread = threading.Thread(target=self.http.serve_forever, daemon=True)
        self._thread.start()

    def url(self, path: str) -> str:
        return self.base + path

    def close(self) -> None:
        self.stopping.set()
        self.http.shutdown()
        self.http.server_close()
