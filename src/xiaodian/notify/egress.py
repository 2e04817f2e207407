"""Webhook egress: where a webhook may go, and going only there (issue 11 S1).

A webhook URL is chosen by whoever holds an app or a console login, and the server then makes
the request from inside its own network. Left open, that turns xiaodian into a proxy towards
the machine it runs on (``http://127.0.0.1:5432``), the office LAN, or the cloud's metadata
service (``http://169.254.169.254/`` hands out instance credentials). So:

- ``parse_url`` reads a URL strictly: http/https only, no ``user:pass@``, and the host
  normalised the way browsers and resolvers read it — ``0x7f000001``, ``2130706433``,
  ``127.1``, ``0177.0.0.1``, ``[::1]``, ``[::ffff:127.0.0.1]``, full-width digits — so no
  spelling of an address slips past the check.
- ``forbidden_reason`` refuses loopback, private (RFC 1918), link-local, CGNAT (100.64/10),
  unique-local (fc00::/7), multicast, unspecified, reserved and cloud metadata addresses,
  including IPv4 addresses carried inside IPv6 (mapped, 6to4, NAT64).
- ``check_destination`` runs at registration: an IP literal, ``localhost``, or a name that
  resolves to any refused address is refused with ``webhook_url_forbidden``. A name that does
  not resolve yet is accepted — the delivery checks again.
- ``post`` runs at every delivery: it resolves the name once, refuses if *any* answer is
  refused, then connects to the address it checked (pinned) while sending the original
  ``Host`` header and verifying the TLS certificate for the hostname (SNI). A DNS answer that
  changes after the check is never used. Redirects are not followed; the whole delivery (DNS,
  connect, TLS, send, response head) has one hard deadline; the response body is never read.

``allow_loopback`` (setting ``webhooks.allow_loopback``) lets 127.0.0.0/8 and ::1 through for
local development; everything else stays refused. The resolver is a parameter so that tests
can give a name the answers they need (e.g. one that changes between registration and delivery).
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import ipaddress
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from xiaodian.errors import ValidationFailed

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Sequence[str]]
"""``resolver(host, port)`` → the addresses (text) the name stands for; raises on failure."""

MAX_URL_LENGTH = 500
# Most of an answer body read when a dialect checks it (``post(answer_ok=…)``).
ANSWER_LIMIT = 4096

METADATA_ADDRESSES: frozenset[IPAddress] = frozenset(
    {
        ipaddress.IPv4Address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack …
        ipaddress.IPv4Address("169.254.170.2"),  # AWS ECS task credentials
        ipaddress.IPv4Address("100.100.100.200"),  # Alibaba Cloud
        ipaddress.IPv6Address("fd00:ec2::254"),  # AWS over IPv6
    }
)
_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")
_UNIQUE_LOCAL = ipaddress.IPv6Network("fc00::/7")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")

REASONS: dict[str, tuple[str, str]] = {
    "loopback": ("本机回环地址", "a loopback address"),
    "private": ("内网地址", "a private-network address"),
    "link_local": ("链路本地地址", "a link-local address"),
    "cgnat": ("运营商级 NAT 地址（100.64.0.0/10）", "a carrier-grade NAT address (100.64.0.0/10)"),
    "unique_local": ("IPv6 内网地址（fc00::/7）", "an IPv6 unique-local address (fc00::/7)"),
    "multicast": ("组播地址", "a multicast address"),
    "unspecified": ("未指定地址（0.0.0.0 或：：）", "the unspecified address (0.0.0.0 or ::)"),
    "reserved": ("保留地址", "a reserved address"),
    "metadata": ("云服务器元数据地址", "a cloud metadata address"),
}


@dataclass(frozen=True)
class Target:
    """A parsed webhook URL: ``host`` is the normalised name or address (no brackets)."""

    scheme: str
    host: str
    port: int
    path: str  # path and query, as sent on the request line
    literal: IPAddress | None  # the address when the URL names one directly


@dataclass(frozen=True)
class Outcome:
    """One delivery: the status code (``None`` if no answer) and an error class.

    ``error`` is ``""`` on a 2xx answer, else a short class of what went wrong — ``HTTP 503``,
    ``ConnectError``, ``Timeout``, ``TLSError``, ``DNSError``, ``EgressRefused: loopback`` … —
    never the receiver's words: its body is not even read.
    """

    status_code: int | None
    error: str


class _Refused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Unresolved(Exception):
    pass


class _DeadlinePassed(Exception):
    pass


# ----- parsing -----------------------------------------------------------------------------

_HEX = re.compile(r"0[xX][0-9a-fA-F]*")
_OCT = re.compile(r"0[0-7]+")
_DEC = re.compile(r"0|[1-9][0-9]*")
_PATH_SAFE = "/%:@!$&'()*+,;=?~-._"  # sent as given; anything else (e.g. 中文) is %-encoded
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


def _invalid() -> ValidationFailed:
    return ValidationFailed(
        "invalid_url",
        "请填写 http:// 或 https:// 开头的完整地址",
        "Give a full http:// or https:// URL",
        field="url",
    )


def _forbidden(reason: str) -> ValidationFailed:
    zh, en = REASONS.get(reason, REASONS["reserved"])
    return ValidationFailed(
        "webhook_url_forbidden",
        f"Webhook 地址不能指向{zh}，请填写公网可访问的地址",
        f"A webhook URL may not point to {en}; give an address reachable on the public internet",
        field="url",
    )


def _parse_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """The WHATWG URL reading of a host whose last label is a number: 1–4 parts, each
    decimal, octal (leading 0) or hex (0x); the last part fills the remaining bytes. A host
    that ends in a number but is no such address is not a URL at all (``1.2.3.09``)."""
    labels = host.split(".")
    if not (_DEC.fullmatch(labels[-1]) or _HEX.fullmatch(labels[-1]) or labels[-1].isdigit()):
        return None
    if len(labels) > 4:
        raise _invalid()
    numbers = []
    for label in labels:
        if _HEX.fullmatch(label):
            numbers.append(int(label[2:] or "0", 16))
        elif _OCT.fullmatch(label):
            numbers.append(int(label, 8))
        elif _DEC.fullmatch(label):
            numbers.append(int(label))
        else:
            raise _invalid()
    if any(n > 255 for n in numbers[:-1]) or numbers[-1] >= 256 ** (5 - len(numbers)):
        raise _invalid()
    value = numbers[-1] + sum(n << (8 * (3 - i)) for i, n in enumerate(numbers[:-1]))
    return ipaddress.IPv4Address(value)


def parse_url(url: str) -> Target:
    """Read a webhook URL strictly (see the module docstring); raise ``invalid_url`` or
    ``webhook_url_forbidden`` (credentials in the URL)."""
    raw = (url or "").strip()
    if not raw or len(raw) > MAX_URL_LENGTH or "\\" in raw:
        raise _invalid()
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in raw):
        raise _invalid()
    try:
        parts = urlsplit(raw)
    except ValueError:
        raise _invalid() from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.netloc:
        raise _invalid()
    if "@" in parts.netloc:
        raise ValidationFailed(
            "webhook_url_forbidden",
            "Webhook 地址不能包含用户名或密码（user:pass@）",
            "A webhook URL may not carry a user name or password (user:pass@)",
            field="url",
        )
    netloc = parts.netloc
    literal: IPAddress | None = None
    if netloc.startswith("["):
        end = netloc.find("]")
        if end < 0:
            raise _invalid()
        host, port_text = netloc[1:end], netloc[end + 1 :]
        if "%" in host:  # zone ids name an interface of this machine
            raise _invalid()
        try:
            literal = ipaddress.IPv6Address(host)
        except ValueError:
            raise _invalid() from None
    else:
        host, colon, port_text = netloc.partition(":")
        port_text = colon + port_text
        if not host:
            raise _invalid()
        try:  # full-width characters, 。 as a dot, upper case: read as a resolver would
            host = host.encode("idna").decode("ascii").lower()
        except UnicodeError:
            raise _invalid() from None
        host = host[:-1] if host.endswith(".") else host
        if not host or len(host) > 253:
            raise _invalid()
        literal = _parse_ipv4(host)
        if literal is None and not all(_LABEL.fullmatch(label) for label in host.split(".")):
            raise _invalid()
    port = _parse_port(port_text, 443 if scheme == "https" else 80)
    if literal is not None:
        host = str(literal)
    path = quote(parts.path or "/", safe=_PATH_SAFE)
    if parts.query:
        path += "?" + quote(parts.query, safe=_PATH_SAFE)
    return Target(scheme=scheme, host=host, port=port, path=path, literal=literal)


def _parse_port(text: str, default: int) -> int:
    if text in ("", ":"):
        return default
    if not text.startswith(":") or not text[1:].isascii() or not text[1:].isdigit():
        raise _invalid()
    port = int(text[1:])
    if not 0 < port < 65536:
        raise _invalid()
    return port


# ----- addresses ---------------------------------------------------------------------------


def forbidden_reason(address: IPAddress, *, allow_loopback: bool = False) -> str | None:
    """Why a webhook may not go to ``address`` (a key of ``REASONS``), or ``None``."""
    if isinstance(address, ipaddress.IPv6Address):
        address = ipaddress.IPv6Address(int(address))  # drop any zone id
        if address.ipv4_mapped is not None:
            return forbidden_reason(address.ipv4_mapped, allow_loopback=allow_loopback)
        if address.teredo is not None:
            return "reserved"
        carried = address.sixtofour
        if carried is None and (address in _NAT64 or address in _NAT64_LOCAL):
            carried = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if carried is not None:
            reason = forbidden_reason(carried, allow_loopback=False)
            if reason is not None:
                return reason
    if address in METADATA_ADDRESSES:
        return "metadata"
    if address.is_loopback:
        return None if allow_loopback else "loopback"
    if address.is_unspecified:
        return "unspecified"
    if address.is_multicast:
        return "multicast"
    if address.is_link_local:
        return "link_local"
    if isinstance(address, ipaddress.IPv4Address) and address in _CGNAT:
        return "cgnat"
    if isinstance(address, ipaddress.IPv6Address) and address in _UNIQUE_LOCAL:
        return "unique_local"
    if isinstance(address, ipaddress.IPv6Address) and address.is_site_local:
        return "private"
    if address.is_reserved:
        return "reserved"
    if address.is_private:
        return "private"
    if not address.is_global:
        return "reserved"
    return None


def system_resolver(host: str, port: int) -> list[str]:
    """The operating system's answer (``getaddrinfo``), every address of every family."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return [str(info[4][0]) for info in infos]


def _within(seconds: float, work: Callable[[], Any]) -> Any:
    """Run ``work`` but wait at most ``seconds`` for it (``getaddrinfo`` takes no timeout; an
    abandoned lookup ends on its own in a daemon thread)."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = work()
        except BaseException as exc:  # handed to the waiting thread
            box["error"] = exc

    thread = threading.Thread(target=run, name="xiaodian-webhook-dns", daemon=True)
    thread.start()
    thread.join(max(seconds, 0.0))
    if thread.is_alive():
        raise _DeadlinePassed
    if "error" in box:
        raise box["error"]
    return box["value"]


def vet(
    target: Target,
    *,
    allow_loopback: bool,
    resolver: Resolver | None = None,
    timeout: float = 5.0,
) -> list[IPAddress]:
    """The addresses to connect to, checked: raise ``_Refused`` if the host is, or resolves
    to, any refused address (every answer must pass), ``_Unresolved`` if it does not
    resolve."""
    if target.literal is not None:
        addresses: list[IPAddress] = [target.literal]
    else:
        localhost = target.host == "localhost" or target.host.endswith(".localhost")
        if localhost and not allow_loopback:  # RFC 6761: this machine, whatever DNS says
            raise _Refused("loopback")
        lookup = resolver or system_resolver
        try:
            answers = _within(timeout, lambda: list(lookup(target.host, target.port)))
        except _DeadlinePassed:
            raise
        except (OSError, UnicodeError, ValueError) as exc:
            raise _Unresolved from exc
        addresses = []
        for answer in answers:
            try:
                addresses.append(ipaddress.ip_address(answer))
            except ValueError:
                raise _Unresolved from None
        if not addresses:
            raise _Unresolved
    for address in addresses:
        reason = forbidden_reason(address, allow_loopback=allow_loopback)
        if reason is not None:
            raise _Refused(reason)
    return addresses


def check_destination(
    url: str,
    *,
    allow_loopback: bool,
    resolver: Resolver | None = None,
    timeout: float = 5.0,
) -> Target:
    """At registration: refuse a URL that names, or resolves to, a refused address.

    A name that does not resolve (yet) passes: nothing is sent until a delivery resolves it,
    and every delivery checks again."""
    target = parse_url(url)
    try:
        vet(target, allow_loopback=allow_loopback, resolver=resolver, timeout=timeout)
    except _Refused as refused:
        raise _forbidden(refused.reason) from None
    except (_Unresolved, _DeadlinePassed):
        pass
    return target


# ----- delivery ----------------------------------------------------------------------------


class _PinnedHTTP(http.client.HTTPConnection):
    """Connects to the checked address, whatever the name resolves to by now; the hostname
    stays the request's ``Host``. ``abort`` (the deadline timer) shuts the socket, which ends
    any read or write in progress in the delivering thread."""

    def __init__(self, host: str, port: int, *, addresses: list[str], timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.addresses, self.aborted = addresses, False

    def connect(self) -> None:
        self.sock = _open(self)

    def abort(self) -> None:
        _abort(self)


class _PinnedHTTPS(http.client.HTTPSConnection):
    """As ``_PinnedHTTP``, and the certificate is verified for the hostname (SNI)."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        addresses: list[str],
        timeout: float,
        context: ssl.SSLContext,
    ) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self.addresses, self.aborted, self.tls_context = addresses, False, context

    def connect(self) -> None:
        raw = _open(self)
        tls = self.tls_context.wrap_socket(
            raw, server_hostname=self.host, do_handshake_on_connect=False
        )
        self.sock = tls
        if self.aborted:
            raise _DeadlinePassed
        tls.do_handshake()

    def abort(self) -> None:
        _abort(self)


def _open(connection: _PinnedHTTP | _PinnedHTTPS) -> socket.socket:
    """Connect to the first checked address that answers (as ``create_connection`` does
    for a name), never to anything else."""
    failure: OSError | None = None
    for address in connection.addresses:
        if connection.aborted:
            raise _DeadlinePassed
        try:
            sock = socket.create_connection((address, connection.port), connection.timeout)
        except OSError as exc:
            failure = exc
            continue
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        connection.sock = sock
        if connection.aborted:
            raise _DeadlinePassed
        return sock
    raise failure or OSError("no address to connect to")


def _abort(connection: _PinnedHTTP | _PinnedHTTPS) -> None:
    connection.aborted = True
    sock = connection.sock
    if sock is not None:
        with contextlib.suppress(OSError):  # the plain socket's shutdown, also under TLS
            socket.socket.shutdown(sock, socket.SHUT_RDWR)


@functools.cache
def default_tls_context() -> ssl.SSLContext:
    """Certificates are verified against the system store and certifi's (as httpx did); built
    once per process (loading the stores is the slow part), shared by every delivery."""
    context = ssl.create_default_context()
    try:
        import certifi

        context.load_verify_locations(certifi.where())
    except (ImportError, OSError):
        pass
    return context


def post(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    allow_loopback: bool,
    deadline_seconds: float,
    resolver: Resolver | None = None,
    tls_context: ssl.SSLContext | None = None,
    answer_ok: Callable[[bytes], bool] | None = None,
) -> Outcome:
    """POST ``body`` to ``url`` under the egress rules, within ``deadline_seconds`` in all.

    ``answer_ok``: a platform dialect whose receivers acknowledge in the body (抖店 push wants
    ``{"code": 0}``, issue 12 D4) reads at most ``ANSWER_LIMIT`` bytes of a 2xx answer, inside
    the same deadline, and counts it as delivered only if the check passes (else
    ``UnexpectedAnswer``: still the class, never the words).

    Never raises for anything the receiver or the network does; returns the outcome."""
    deadline = time.monotonic() + deadline_seconds
    try:
        target = parse_url(url)
    except ValidationFailed:
        return Outcome(None, "InvalidURL")
    try:
        addresses = [
            str(address)
            for address in vet(
                target, allow_loopback=allow_loopback, resolver=resolver, timeout=deadline_seconds
            )
        ]
    except _Refused as refused:
        return Outcome(None, f"EgressRefused: {refused.reason}")
    except _Unresolved:
        return Outcome(None, "DNSError")
    except _DeadlinePassed:
        return Outcome(None, "Timeout")
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        return Outcome(None, "Timeout")
    connection: _PinnedHTTP | _PinnedHTTPS
    if target.scheme == "https":
        connection = _PinnedHTTPS(
            target.host,
            target.port,
            addresses=addresses,
            timeout=remaining,
            context=tls_context or default_tls_context(),
        )
    else:
        connection = _PinnedHTTP(target.host, target.port, addresses=addresses, timeout=remaining)
    timer = threading.Timer(remaining, connection.abort)
    timer.daemon = True
    timer.start()
    connected = False
    try:
        connection.connect()
        connected = True
        connection.request("POST", target.path, body=body, headers=dict(headers))
        response = connection.getresponse()  # status line and headers; the body is not read
        status = response.status
        answer = (
            response.read(ANSWER_LIMIT + 1)
            if answer_ok is not None and 200 <= status < 300
            else b""
        )
    except _DeadlinePassed:
        return Outcome(None, "Timeout")
    except ssl.SSLError:
        return Outcome(None, "Timeout" if connection.aborted else "TLSError")
    except TimeoutError:
        return Outcome(None, "Timeout")
    except (http.client.HTTPException, ValueError):
        return Outcome(None, "Timeout" if connection.aborted else "ProtocolError")
    except OSError:
        if connection.aborted:
            return Outcome(None, "Timeout")
        return Outcome(None, "NetworkError" if connected else "ConnectError")
    finally:
        timer.cancel()
        connection.close()
    if 200 <= status < 300:
        if answer_ok is not None and (len(answer) > ANSWER_LIMIT or not answer_ok(answer)):
            return Outcome(status, "UnexpectedAnswer")
        return Outcome(status, "")
    return Outcome(status, f"HTTP {status}")
