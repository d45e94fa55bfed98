"""An HTTP proxy that injects S3 faults between the readers and a real S3 server.

    readers (aiobotocore) ──► FaultProxy (127.0.0.1, a free port) ──► embedded moto server

Every request is forwarded on a kept-alive connection of its own; the server's whole response
is read, then delivered either as is or with a fault, drawn at independent rates:

    slowdown   503 with an S3 XML error body, Code SlowDown           (botocore retries it)
    internal   500 with an S3 XML error body, Code InternalError      (botocore retries it)
    drop       a TCP reset before any byte of the response            (botocore retries it)
    reset      headers and part of the body, then a TCP reset (RST)    (the reader resumes)
    truncate   fewer bytes than Content-Length, then a clean close    (the reader resumes)
    corrupt    one byte of an object's body flipped, length intact    (only checksums see it)
    latency    a pause before the response, on top of any other fault

Only GETs of objects under ``prefix`` (and, with ``lists=True``, LISTs of that prefix) are
eligible, so HEAD/PUT/marker traffic passes untouched. ``always`` maps keys to a fault every
GET of that key gets. ``ignore_range=True`` plays a store that answers every ranged GET with
the whole object (200, no Content-Range).

Decisions are drawn from a generator seeded with (seed, request, how many times that request
was seen before), so they depend neither on thread scheduling nor on the prefix the data lives
under. How many bytes a reset lets through before the RST lands is up to the kernels, so the
Range of a resumed request, and the draws for it, can vary.
"""

from __future__ import annotations

import http.client
import random
import socket
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import parse_qs, unquote, urlsplit

BODY_FAULTS = ("reset", "truncate", "corrupt")
STATUS_FAULTS = {
    "slowdown": (503, "Slow Down", "SlowDown", "Please reduce your request rate."),
    "internal": (
        500,
        "Internal Server Error",
        "InternalError",
        "We encountered an internal error. Please try again.",
    ),
}
FAULT_KINDS = (*STATUS_FAULTS, "drop", *BODY_FAULTS)

# Headers that describe one hop of the connection, not the message: never forwarded.
_HOP_HEADERS = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "expect",
    "content-length",
}


@dataclass(frozen=True)
class FaultRates:
    """Probability of each fault per eligible request; each is drawn independently."""

    slowdown: float = 0.0
    internal: float = 0.0
    drop: float = 0.0
    reset: float = 0.0
    truncate: float = 0.0
    corrupt: float = 0.0
    latency: float = 0.0
    latency_s: float = 0.2


@dataclass(frozen=True)
class Injection:
    kind: str
    op: str  # "GET" or "LIST"
    key: str
    range: str  # the request's Range header, "" for a whole object
    status: int  # the status the reader saw
    body_bytes: int  # bytes of the body the reader was sent


@dataclass
class _Request:
    op: str  # GET, LIST, HEAD, PUT, ...
    key: str
    eligible: bool


class FaultProxy:
    """Use as a context manager; ``url`` is the endpoint to give the readers."""

    def __init__(
        self,
        upstream_url: str,
        *,
        prefix: str = "",
        rates: FaultRates | None = None,
        seed: int = 0,
        lists: bool = False,
        always: dict[str, str] | None = None,
        ignore_range: bool = False,
    ) -> None:
        parts = urlsplit(upstream_url)
        if parts.scheme != "http" or not parts.hostname or not parts.port:
            raise ValueError(f"upstream must be http://host:port, got {upstream_url!r}")
        for key, kind in (always or {}).items():
            if kind not in FAULT_KINDS:
                raise ValueError(f"always[{key!r}] = {kind!r}: allowed {', '.join(FAULT_KINDS)}")
        self.upstream = (parts.hostname, parts.port)
        self.prefix = prefix
        self.rates = rates or FaultRates()
        self.seed = seed
        self.lists = lists
        self.always = dict(always or {})
        self.ignore_range = ignore_range
        self.injected: Counter[str] = Counter()
        self.requests: Counter[str] = Counter()
        self.log: list[Injection] = []
        self._seen: Counter[tuple[str, str, str]] = Counter()
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> str:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.proxy = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        return self.url

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FaultProxy:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- what to inject -----------------------------------------------------------------------
    def injected_into(self, op: str = "GET") -> Counter[str]:
        """Injections per kind that hit requests of ``op``."""
        with self._lock:
            return Counter(i.kind for i in self.log if i.op == op)

    def _classify(self, method: str, target: str) -> _Request:
        parts = urlsplit(target)
        bucket, _, key = unquote(parts.path).lstrip("/").partition("/")
        if method == "GET" and key:
            return _Request("GET", key, key.startswith(self.prefix))
        if method == "GET" and bucket:
            query = parse_qs(parts.query)
            if "list-type" in query or "prefix" in query:
                listed = query.get("prefix", [""])[0]
                eligible = self.lists and listed.startswith(self.prefix)
                return _Request("LIST", listed, eligible)
        return _Request(method, key, False)

    def _draw(self, request: _Request, byte_range: str) -> tuple[str | None, bool, random.Random]:
        """(fault kind or None, latency spike?, the generator to cut bodies with)."""
        identity = (request.op, request.key, byte_range)
        with self._lock:
            self.requests[request.op] += 1
            seen = self._seen[identity]
            self._seen[identity] += 1
        # Keys relative to the prefix: the same seed draws the same faults under any prefix.
        name = request.key.removeprefix(self.prefix)
        rng = random.Random(f"{self.seed}|{request.op}|{name}|{byte_range}|{seen}")
        if request.op == "GET" and request.key in self.always:
            return self.always[request.key], False, rng
        if not request.eligible:
            return None, False, rng
        rates = self.rates
        fault = None
        for kind in FAULT_KINDS:
            # Every rate gets a draw whether or not an earlier one fired, so changing one rate
            # does not reshuffle the others.
            if rng.random() < getattr(rates, kind) and fault is None:
                fault = kind
        spike = rng.random() < rates.latency
        return fault, spike, rng

    def _record(self, injection: Injection) -> None:
        with self._lock:
            self.injected[injection.kind] += 1
            self.log.append(injection)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # idle kept-alive connections must not hold up stop()
    request_queue_size = 128
    proxy: FaultProxy


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 60  # an idle client connection is dropped after this
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._upstream: http.client.HTTPConnection | None = None

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            if self._upstream is not None:
                self._upstream.close()

    def log_message(self, format: str, *args: object) -> None:
        pass

    # -- forwarding ---------------------------------------------------------------------------
    def _request_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            pieces = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(pieces)
                pieces.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _exchange(self, body: bytes) -> tuple[int, str, list[tuple[str, str]], bytes, str | None]:
        """Send the request upstream; (status, reason, headers, body, Content-Length of HEAD)."""
        for attempt in (1, 2):
            if self._upstream is None:
                self._upstream = http.client.HTTPConnection(*self.server.proxy.upstream, timeout=60)
            connection = self._upstream
            try:
                connection.putrequest(
                    self.command, self.path, skip_host=True, skip_accept_encoding=True
                )
                ignore_range = self.server.proxy.ignore_range
                for name, value in self.headers.items():
                    lower = name.lower()
                    if lower not in _HOP_HEADERS and not (ignore_range and lower == "range"):
                        connection.putheader(name, value)
                if body or self.command in ("PUT", "POST"):
                    connection.putheader("Content-Length", str(len(body)))
                connection.endheaders(body or None)
                response = connection.getresponse()
                payload = response.read()
            except (ConnectionError, http.client.HTTPException, OSError):
                # A kept-alive upstream connection the server dropped: one fresh try.
                connection.close()
                self._upstream = None
                if attempt == 2:
                    raise
                continue
            if response.will_close:
                connection.close()
                self._upstream = None
            headers = [(k, v) for k, v in response.getheaders() if k.lower() not in _HOP_HEADERS]
            return (
                response.status,
                response.reason,
                headers,
                payload,
                response.getheader("Content-Length"),
            )
        raise AssertionError("unreachable")

    def _send_head(self, status: int, reason: str, headers: list[tuple[str, str]]) -> None:
        lines = [f"HTTP/1.1 {status} {reason}"] + [f"{k}: {v}" for k, v in headers]
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    def _reset(self) -> None:
        """Abort the connection with a TCP RST instead of a clean close."""
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.rfile.close()  # the socket only really closes once its file objects are gone
        self.connection.close()

    def _forward(self) -> None:
        proxy = self.server.proxy
        body = self._request_body()
        try:
            status, reason, headers, payload, head_length = self._exchange(body)
        except (ConnectionError, http.client.HTTPException, OSError):
            self._reset()
            return
        request = proxy._classify(self.command, self.path)
        byte_range = self.headers.get("Range", "")
        fault, spike, rng = proxy._draw(request, byte_range)
        if spike:
            proxy._record(Injection("latency", request.op, request.key, byte_range, status, 0))
            time.sleep(proxy.rates.latency_s)
        if fault in BODY_FAULTS and (status not in (200, 206) or not payload):
            fault = None  # nothing to break: the reader gets the response as it is
        if fault == "corrupt" and request.op != "GET":
            fault = None  # a flipped byte in a listing's XML is no fault S3 makes
        if fault in STATUS_FAULTS:
            status, reason, code, message = STATUS_FAULTS[fault]
            resource = urlsplit(self.path).path
            request_id = f"{rng.getrandbits(64):016X}"
            payload = (
                '<?xml version="1.0" encoding="UTF-8"?>\n'
                f"<Error><Code>{code}</Code><Message>{message}</Message>"
                f"<Resource>{resource}</Resource><RequestId>{request_id}</RequestId></Error>"
            ).encode()
            headers = [
                ("Content-Type", "application/xml"),
                ("x-amz-request-id", request_id),
                ("Date", self.date_time_string()),
            ]
        if fault == "drop":
            proxy._record(Injection(fault, request.op, request.key, byte_range, 0, 0))
            self._reset()
            return
        if self.command == "HEAD":
            if head_length is not None:
                headers.append(("Content-Length", head_length))
            self._send_head(status, reason, headers)
            return
        headers.append(("Content-Length", str(len(payload))))
        if fault == "corrupt":
            position = rng.randrange(len(payload))
            damaged = bytearray(payload)
            damaged[position] ^= 0xFF
            payload = bytes(damaged)
        cut = rng.randrange(len(payload)) if fault in ("reset", "truncate") else len(payload)
        if fault is not None:
            proxy._record(Injection(fault, request.op, request.key, byte_range, status, cut))
        self._send_head(status, reason, headers)
        self.wfile.write(payload[:cut])
        if fault == "reset":
            time.sleep(0.02)  # let the headers and the first bytes reach the reader first
            self._reset()
        elif fault == "truncate":
            self.close_connection = True  # a clean FIN after too few bytes

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _forward
