"""Every accepted connection gets an answer: uvicorn's settings for the listening socket and its connections.

What dropped a request (2,000 requests at 512 connections on MiniLM, 2 busy cores; reproduced, 1-3 per burst): a
kept-alive connection closed by the server's idle timer (uvicorn's 5 s, the same as httpx's own pool expiry) while
the client, itself starved of CPU, had not yet seen the close and sent its next request on it: the kernel resets a
socket that receives data after close, and the client reads an error instead of an answer. With a 75 s keep-alive
none was dropped. So:

- the keep-alive timeout (``--keep-alive``, 75 s) is far longer than client pool expiries and stalls;
- the keep-alive timer never closes a connection that has bytes waiting (a request sent while the server's own
  loop stalled past the timeout: it looks first, and waits another round when it finds one);
- past ``--max-connections`` open connections or requests in flight uvicorn answers 503 at once (rather than
  holding work it cannot finish), and the listen backlog holds a burst of connects.
"""

from __future__ import annotations

import asyncio
import select
from typing import TYPE_CHECKING, Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

if TYPE_CHECKING:
    from lepton.serve.config import ServeConfig

BACKLOG = 4096  # the kernel caps it at net.core.somaxconn


def _bytes_waiting(transport: asyncio.BaseTransport) -> bool:
    """Whether the connection's socket has bytes (or an end of file) the loop has not read yet."""
    sock = transport.get_extra_info("socket")
    if sock is None:
        return False
    poller = select.poll()  # poll, not select: a file descriptor above 1024 is fine
    poller.register(sock.fileno(), select.POLLIN | select.POLLPRI)
    return bool(poller.poll(0))


class PatientHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol whose keep-alive timeout never resets a connection with a request in it."""

    def timeout_keep_alive_handler(self) -> None:
        if not self.transport.is_closing() and _bytes_waiting(self.transport):
            # the loop reads the request on its next turn (and that cancels this timer); look again later
            self.timeout_keep_alive_task = self.loop.call_later(
                self.timeout_keep_alive, self.timeout_keep_alive_handler
            )
            return
        super().timeout_keep_alive_handler()


def connection_options(cfg: ServeConfig) -> dict[str, Any]:
    """The uvicorn.Config keywords that decide whether a connection gets an answer (``serve`` and tests use them)."""
    return {
        "http": f"{__name__}:PatientHttpTools",  # by name: --workers N processes import it again
        "backlog": BACKLOG,
        "limit_concurrency": cfg.max_connections,
        "timeout_keep_alive": int(cfg.keep_alive_s),
    }
