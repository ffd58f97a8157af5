"""Continuous batching for a generation backend: one thread steps the backend; requests join and leave between steps.

``submit`` (on the event loop) admits a request or refuses it with 429 when ``max_streams`` are generating and
``max_waiting`` wait; the thread moves waiting requests into the backend as slots free, steps it, decodes, cuts stop
strings and hands each stream its new text through the loop. ``Stream.cancel`` (a client that went away) aborts the
request in the backend before the thread admits anything else, so its slot is free for the next request. A stream
that waits longer than ``--timeout`` for its first token (queue wait included) or for any token after it is
cancelled the same way and ends with a 504, as a tensor model's request that is not answered in time.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from lepton.errors import ServeError
from lepton.serve.generation.backends import Backend, Finish, Sampling
from lepton.serve.generation.layout import GenerationSettings
from lepton.serve.generation.text import TextStream

log = logging.getLogger("lepton.serve")


class StreamObserver(Protocol):
    """Where a stream's figures go (``serve.metrics``), called on the event loop."""

    def first_token(self, seconds: float) -> None: ...
    def tokens(self, n: int, seconds_each: float | None) -> None: ...
    def finished(self, prompt_tokens: int, completion_tokens: int) -> None: ...


@dataclass(frozen=True)
class Chunk:
    """New text for one stream; ``finish`` set on its last chunk."""

    text: str
    tokens: int  # output tokens this chunk accounts for
    finish: Finish | None = None
    error: str | None = None
    status: int = 500  # of the error


@dataclass
class Stream:
    """One request's output, read on the event loop (``async for chunk in stream``)."""

    rid: int
    prompt_tokens: int
    engine: GenerationEngine
    loop: asyncio.AbstractEventLoop
    observer: StreamObserver | None = None
    chunks: asyncio.Queue[Chunk] = field(default_factory=asyncio.Queue)
    completion_tokens: int = 0
    finish: Finish | None = None
    closed: bool = False
    started: float = field(default_factory=time.perf_counter)
    last: float | None = None
    timeout_s: float | None = None  # the longest wait for the next chunk (--timeout); None: no bound

    def deliver(self, chunk: Chunk, at: float) -> None:
        """Called on the loop (from the thread, through ``call_soon_threadsafe``)."""
        if self.closed:
            return
        if chunk.tokens:
            if self.observer is not None:
                if self.last is None:
                    self.observer.first_token(at - self.started)
                    self.observer.tokens(chunk.tokens, None)
                else:
                    self.observer.tokens(chunk.tokens, (at - self.last) / chunk.tokens)
            self.last = at
            self.completion_tokens += chunk.tokens
        if chunk.finish or chunk.error:
            self.finish = chunk.finish
            self._close()
            if self.observer is not None:
                self.observer.finished(self.prompt_tokens, self.completion_tokens)
        self.chunks.put_nowait(chunk)

    def _close(self) -> None:
        if not self.closed:
            self.closed = True
            self.engine.release()

    def cancel(self) -> None:
        """Abort the request (a client that disconnected): its slot frees before anything else is admitted."""
        if not self.closed:
            self._close()
            self.engine.commands.put(("cancel", self.rid, None))
            self.chunks.put_nowait(Chunk("", 0, error="the request was cancelled (the client went away)", status=499))

    async def __aiter__(self) -> AsyncIterator[Chunk]:
        try:
            while True:
                try:
                    chunk = await asyncio.wait_for(self.chunks.get(), self.timeout_s)
                except TimeoutError:
                    what = "a first token" if self.last is None else "its next token"
                    raise ServeError(
                        f"model {self.engine.name!r} did not produce {what} within {self.timeout_s:g} s (--timeout): "
                        "the request was cancelled; retry later or raise --timeout",
                        504,
                    ) from None
                if chunk.error:
                    raise ServeError(chunk.error, chunk.status)
                yield chunk
                if chunk.finish:
                    return
        finally:
            self.cancel()


@dataclass
class _Live:
    stream: Stream
    text: TextStream
    ids: list[int]
    sampling: Sampling


class GenerationEngine:
    """A backend, its thread, and the admission bound (streams generating + waiting)."""

    def __init__(self, opener: Callable[[], Backend], settings: GenerationSettings, name: str = "model") -> None:
        self.opener = opener
        self.backend: Backend = cast("Backend", _Unopened())
        self._opened = threading.Event()
        self._open_error: BaseException | None = None
        self.settings = settings
        self.name = name
        self.commands: queue.SimpleQueue[tuple[str, int, _Live | None]] = queue.SimpleQueue()
        self._ids = itertools.count(1)
        self._load = 0  # admitted and not yet finished or cancelled (event loop only)
        self._lock = threading.Lock()
        self.waiting: deque[_Live] = deque()
        self.active: dict[int, _Live] = {}
        self._thread = threading.Thread(target=self._run, name=f"lepton-generate-{name}", daemon=True)
        self._stopped = False

    @property
    def capacity(self) -> int:
        return self.settings.max_streams + self.settings.max_waiting

    @property
    def load(self) -> int:
        return self._load

    def counts(self) -> tuple[int, int]:
        """(streams generating, requests waiting) as the thread last saw them."""
        return len(self.active), len(self.waiting)

    def start(self) -> Backend:
        """Open the backend on the generation thread (ORT GenAI's Engine answers only the thread that made it) and
        wait until it is ready; its error, if any, is raised here."""
        self._thread.start()
        self._opened.wait()
        if self._open_error is not None:
            raise self._open_error
        return self.backend

    def release(self) -> None:
        with self._lock:
            self._load -= 1

    def submit(
        self, prompt: list[int], sampling: Sampling, stops: tuple[str, ...] = (), observer: StreamObserver | None = None
    ) -> Stream:
        """Admit a request (its stream starts at once) or refuse it: 429 when the engine is full."""
        if self._stopped:
            raise ServeError(f"model {self.name!r} is shutting down", 503)
        with self._lock:
            if self._load >= self.capacity:
                err = ServeError(
                    f"model {self.name!r} is full: {self.settings.max_streams} streams generating and "
                    f"{self.settings.max_waiting} waiting (--max-streams, --stream-queue); retry later",
                    429,
                )
                err.retry_after_s = 1  # type: ignore[attr-defined]
                raise err
            self._load += 1
        rid = next(self._ids)
        stream = Stream(rid, len(prompt), self, asyncio.get_running_loop(), observer)
        stream.timeout_s = self.settings.timeout_s
        live = _Live(stream, TextStream(self.backend.decode, stops), list(prompt), sampling)
        self.commands.put(("add", rid, live))
        return stream

    # -- the thread ---------------------------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            self.backend = self.opener()
        except BaseException as e:  # noqa: BLE001 - handed to start()
            self._open_error = e
            return
        finally:
            self._opened.set()
        while True:
            try:
                idle = not self.active and not self.waiting
                cmd = self.commands.get() if idle else self._poll()
                while cmd is not None:
                    if cmd[0] == "close":
                        self._fail_all("the server is shutting down")
                        self.backend.close()
                        return
                    self._command(cmd)
                    cmd = self._poll()
                self._admit()
                for p in self.backend.step():
                    live = self.active.get(p.rid)
                    if live is not None:
                        self._produced(live, p.tokens, p.finish)
            except Exception as e:  # noqa: BLE001 - a failed step fails its requests; the server goes on
                log.exception("generation step failed for %s", self.name)
                self._fail_all(f"generation failed: {type(e).__name__}: {e}")

    def _poll(self) -> tuple[str, int, _Live | None] | None:
        try:
            return self.commands.get_nowait()
        except queue.Empty:
            return None

    def _command(self, cmd: tuple[str, int, _Live | None]) -> None:
        kind, rid, live = cmd
        if kind == "add" and live is not None:
            if live.stream.closed:  # cancelled before it was seen
                return
            self.waiting.append(live)
        elif kind == "cancel":
            if rid in self.active:
                del self.active[rid]
                self.backend.cancel(rid)
            else:
                self.waiting = deque(w for w in self.waiting if w.stream.rid != rid)

    def _admit(self) -> None:
        while self.waiting and len(self.active) < self.settings.max_streams:
            live = self.waiting.popleft()
            if live.stream.closed:
                continue
            try:
                self.backend.add(live.stream.rid, live.ids, live.sampling)
            except Exception as e:  # noqa: BLE001 - this request fails; the others go on
                log.exception("%s: could not start request %d", self.name, live.stream.rid)
                self._send(live.stream, Chunk("", 0, error=f"generation failed to start: {type(e).__name__}: {e}"))
                continue
            self.active[live.stream.rid] = live

    def _produced(self, live: _Live, tokens: tuple[int, ...], finish: Finish | None) -> None:
        text, stopped = live.text.push(tokens, final=finish is not None)
        if stopped:
            finish = "stop"
            del self.active[live.stream.rid]
            self.backend.cancel(live.stream.rid)
        elif finish is not None:
            del self.active[live.stream.rid]
        if text or tokens or finish:
            self._send(live.stream, Chunk(text, len(tokens), finish))

    def _send(self, stream: Stream, chunk: Chunk) -> None:
        try:
            stream.loop.call_soon_threadsafe(stream.deliver, chunk, time.perf_counter())
        except RuntimeError:  # the loop is closed: nobody is listening
            pass

    def _fail_all(self, message: str) -> None:
        for live in [*self.active.values(), *self.waiting]:
            self._send(live.stream, Chunk("", 0, error=message))
            if live.stream.rid in self.active:
                try:
                    self.backend.cancel(live.stream.rid)
                except Exception:  # noqa: BLE001 - failing already
                    log.debug("cancel after failure", exc_info=True)
        self.active.clear()
        self.waiting.clear()

    # -- shutdown -----------------------------------------------------------------------------------------------
    async def drain(self, timeout_s: float) -> None:
        """Stop admitting, let running streams finish (up to ``timeout_s``), then stop the thread."""
        self._stopped = True
        deadline = time.monotonic() + timeout_s
        while self._load > 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        self.commands.put(("close", 0, None))
        await asyncio.to_thread(self._thread.join, 10.0)


class _Unopened:
    """The backend before the generation thread opened it: nothing may use it yet."""

    name = "unopened"

    def __getattr__(self, attr: str) -> Any:
        raise RuntimeError(f"the generation backend is not open yet (asked for {attr!r})")
