"""Bounded HTTP exchanges: a total deadline, a decompressed body cap, abort on shutdown.

``requests`` bounds only each socket operation (connect and read timeouts): a server
that drips one byte a second, sends a gzip bomb or an endless chunked stream holds a
thread and memory for ever. :class:`Transport` sends one prepared request and reads
its body under three bounds:

* a total deadline per exchange, enforced by one watch thread that shuts the socket down
  (:mod:`exporter.upstream.deadlines`), so a slow header phase is cut as surely as a slow
  body;
* a cap on the *decoded* body: the body is read raw and inflated as it comes with
  ``zlib``'s ``max_length`` (:mod:`exporter.upstream.inflate`), so a 2 MB gzip bomb never
  grows past the cap;
* a stop event: :meth:`Transport.abort_all` shuts down every socket in flight, so the
  exporter's stop does not wait for a stuck upstream.

Failures become :class:`~exporter.errors.UpstreamError` subclasses that name the API,
the host and the cause class, never a header value or an exception text (a
``requests`` or ``http.client`` message can carry a header, a URL or the prepared
request).
"""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
import urllib3

from exporter.config.settings import HTTPConfig
from exporter.errors import AuthError, InvalidResponseError, UpstreamUnavailableError
from exporter.upstream.causes import bad_header, network_cause
from exporter.upstream.deadlines import DeadlineWatch
from exporter.upstream.inflate import Inflater, TooLarge
from exporter.upstream.sockets import Tracker, TrackingAdapter

# Bodies are read in chunks of this many raw bytes; the deadline and stop are checked per chunk.
_CHUNK = 64 * 1024
TOO_LARGE = "body larger than"  # how the cause of an answer cut at the body cap starts


def too_large(error: Exception) -> bool:
    """True for the error of an answer whose body passed the cap (http.max_body_bytes)."""
    return isinstance(error, InvalidResponseError) and error.cause.startswith(TOO_LARGE)


def tls_verify(http: HTTPConfig) -> bool | str:
    """The ``verify`` argument for ``requests``: the CA bundle path, or the on/off switch."""
    return http.ca_file or http.tls_verify


@dataclass(frozen=True)
class Limits:
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    deadline: float = 60.0
    max_body_bytes: int = 8 * 1024 * 1024

    @classmethod
    def of(cls, http: HTTPConfig) -> Limits:
        return cls(http.connect_timeout, http.read_timeout, http.call_deadline, http.max_body_bytes)


def host_of_url(url: str) -> str:
    """``host[:port]`` of ``url``: never the user info, path or query."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    return f"{host}:{parts.port}" if parts.port else host


# --------------------------------------------------------------------------- body


class _Expired(Exception):
    pass


# --------------------------------------------------------------------------- transport


class Transport:
    """Sends prepared requests on one session under :class:`Limits`; see the module doc."""

    def __init__(self, session: requests.Session, limits: Limits, pool_maxsize: int = 6) -> None:
        self.session = session
        self.limits = limits
        self._tracker = Tracker()
        self._deadlines = DeadlineWatch(self._tracker.cut)
        adapter = TrackingAdapter(self._tracker, pool_maxsize)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        # Only encodings Inflater can bound; urllib3 would otherwise offer br/zstd too.
        session.headers["Accept-Encoding"] = "gzip, deflate"

    def remount(self, pool_maxsize: int) -> None:
        adapter = TrackingAdapter(self._tracker, pool_maxsize)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    @property
    def thread(self) -> threading.Thread:
        """The thread that enforces the deadlines (the process needs it: see exporter.fatal)."""
        return self._deadlines.thread

    def abort_all(self) -> None:
        """Cut every exchange in flight and refuse new ones (shutdown)."""
        self._tracker.cut_all()
        self._deadlines.close()

    def exchange(
        self,
        api: str,
        prepared: requests.PreparedRequest,
        verify: bool | str,
        max_body_bytes: int | None = None,
        on_done: Callable[[str], None] | None = None,
    ) -> tuple[requests.Response, bytes]:
        """Send ``prepared`` and read its whole body within the limits.

        Returns the response (``content`` already set) and the decoded body bytes. Any
        status is returned; failures without a usable answer raise UpstreamError.
        ``on_done`` gets the status code or ``"error"`` once the exchange ends.
        """
        limits = self.limits
        host = host_of_url(prepared.url or "")
        cap = max_body_bytes or limits.max_body_bytes
        if self._tracker.closed:
            raise UpstreamUnavailableError(api, host=host, cause="exporter shutting down")
        token = self._deadlines.arm(threading.get_ident(), limits.deadline)
        code = "error"
        try:
            deadline_at = time.monotonic() + limits.deadline
            resp, content = self._send_and_read(api, prepared, verify, cap, host, deadline_at)
            code = str(resp.status_code)
        finally:
            self._deadlines.disarm(token)
            # A cut socket may look like a clean end of body: never trust what it returned.
            cut = self._tracker.unbind()
            if on_done is not None:
                on_done("error" if cut else code)
            if cut:
                # Report the cut, not its symptom (a reset or a short body).
                raise UpstreamUnavailableError(api, host=host, cause=self._cut_cause()) from None
        return resp, content

    def _send_and_read(
        self,
        api: str,
        prepared: requests.PreparedRequest,
        verify: bool | str,
        cap: int,
        host: str,
        deadline_at: float,
    ) -> tuple[requests.Response, bytes]:
        limits = self.limits
        failure = ""
        try:
            resp = self.session.send(
                prepared,
                timeout=(limits.connect_timeout, limits.read_timeout),
                verify=verify,
                allow_redirects=False,
                stream=True,
            )
        except ValueError:
            # http.client's "Invalid header value b'...'" quotes the value: name its source only.
            failure = "header"
        except requests.RequestException as e:
            failure = network_cause(e)
        except OSError as e:  # a socket cut by the deadline timer mid-handshake
            failure = network_cause(e)
        # Raised outside the except blocks: the requests exception holds the prepared
        # request (headers, body with a password) and must not become __context__.
        if failure == "header":
            raise AuthError(
                api,
                host=host,
                cause=f"invalid character in {bad_header(prepared)}: check it for a trailing newline",
            )
        if failure:
            raise UpstreamUnavailableError(api, host=host, cause=failure)
        lost = ""
        try:
            content = self._read(resp, cap, deadline_at)
        except _Expired:
            lost = self._cut_cause()
        except TooLarge:
            failure = f"{TOO_LARGE} {cap} bytes decoded (http.max_body_bytes)"
        except ValueError as e:  # unsupported encoding or corrupt compressed data
            failure = str(e) if "Content-Encoding" in str(e) else "corrupt compressed body"
        except zlib.error:
            failure = "corrupt compressed body"
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as e:
            lost = network_cause(e)
        if lost:
            # Outside the except block: the requests exception may hold the prepared request.
            resp.close()
            raise UpstreamUnavailableError(api, resp.status_code, host=host, cause=lost)
        if failure:
            resp.close()
            raise InvalidResponseError(api, resp.status_code, host=host, cause=failure)
        resp._content = content
        resp._content_consumed = True  # type: ignore[attr-defined]
        return resp, content

    def _read(self, resp: requests.Response, cap: int, deadline_at: float) -> bytes:
        inflater = Inflater(resp.headers.get("Content-Encoding", ""))
        chunks: list[bytes] = []
        size = 0
        while True:
            # read1: whatever one socket read brings, so a drip cannot hide in a 64 kB read.
            raw = resp.raw.read1(_CHUNK, decode_content=False)
            if not raw:
                break
            # Checked per chunk too, for connections the timer cannot reach (through a proxy).
            if time.monotonic() > deadline_at or self._tracker.closed:
                raise _Expired
            part = inflater.feed(raw, cap - size)
            size += len(part)
            chunks.append(part)
        resp.close()  # the body was read whole: returns the connection to the pool
        return b"".join(chunks)

    def _cut_cause(self) -> str:
        if self._tracker.closed:
            return "exporter shutting down"
        return f"total deadline of {self.limits.deadline:g}s exceeded (http.call_deadline)"
