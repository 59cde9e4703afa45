"""Outgoing HTTP to addresses users choose (webhook payload URLs, OIDC issuers' discovery
documents and key sets), behind an SSRF guard: the host is resolved here, every address it
resolves to must be public (or in an allowed network), and the request goes to the address that
was checked (no second lookup a DNS rebinding could answer differently), with a timeout and
without following redirects."""
import dataclasses
import hashlib
import ipaddress
import socket
import time
from urllib.parse import urlsplit

import urllib3

MAX_URL = 2048

# Every address: what an "allow private networks" setting allows.
EVERYWHERE = [ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0")]
# What a refusal tells the caller, for webhooks unless another is given.
WEBHOOK_HINT = ("webhooks may only call public addresses (an operator can allow networks with "
                "WEBHOOK_ALLOWED_NETWORKS)")

# Addresses no payload URL may reach unless allowed by the setting: cloud metadata services are
# link-local (169.254.169.254, fd00:ec2::254 is unique-local) and so already refused, named here
# so that the message says what they are.
_METADATA = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254"),
             ipaddress.ip_address("100.100.100.200")}


class Refused(Exception):
    """The URL may not be called (its form, or an address it resolves to)."""


class Unresolved(Refused):
    """The URL's host does not resolve (now: it may later)."""


def parse_networks(text):
    """WEBHOOK_ALLOWED_NETWORKS: CIDRs or addresses, comma or space separated."""
    networks = []
    for part in (text or "").replace(",", " ").split():
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ValueError(f"WEBHOOK_ALLOWED_NETWORKS: {part!r} is not a network") from None
    return networks


def check_url_form(url):
    """The parts of an http(s) URL with a host, or Refused saying what is wrong."""
    if len(url) > MAX_URL:
        raise Refused(f"the payload URL is longer than {MAX_URL} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as err:
        raise Refused(f"the payload URL is not a valid URL ({err})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Refused("the payload URL must be an http:// or https:// URL with a host")
    if parts.username or parts.password:
        raise Refused("the payload URL may not carry credentials (user:password@)")
    return parts, port or (443 if parts.scheme == "https" else 80)


def _refusal(address, allowed):
    if any(address in network for network in allowed):
        return None
    if address in _METADATA:
        return "a cloud metadata address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_private or not address.is_global or address.is_multicast:
        return "a private or reserved address"
    return None


def resolve(host, port, allowed, hint=WEBHOOK_HINT, what="the payload URL's host"):
    """The addresses `host` resolves to, each allowed; Refused for one that is not (or none)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as err:
        raise Unresolved(f"{what} {host!r} does not resolve ({err})") from None
    addresses = []
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        reason = _refusal(address, allowed)
        if reason is not None:
            raise Refused(f"{what} {host!r} resolves to {address}, {reason}; {hint}")
        if address not in addresses:
            addresses.append(address)
    return addresses


def check_url(url, allowed):
    """Refused unless `url` is an http(s) URL whose host resolves to allowed addresses only; a
    host that does not resolve yet passes (it is checked again whenever it is called)."""
    parts, port = check_url_form(url)
    try:
        resolve(parts.hostname, port, allowed)
    except Unresolved:
        pass


@dataclasses.dataclass
class Response:
    status: int            # 0 when no response came
    headers: str           # "Name: value" lines
    body: str              # truncated
    duration_ms: int
    error: str = ""
    data: bytes = b""      # the body as received (at most max_body bytes)


def post(url, body, headers, *, timeout, allowed, max_body):
    """POST `body` to `url` through the guard; never raises for the remote side's failures."""
    return request("POST", url, body, headers, timeout=timeout, allowed=allowed,
                   max_body=max_body)


def thumbprint(text):
    """A certificate thumbprint as compared: hex digits in lower case, without colons."""
    return text.replace(":", "").strip().lower()


def certificate_thumbprints(der):
    """The SHA-1 and SHA-256 thumbprints of a DER certificate."""
    return {hashlib.sha1(der).hexdigest(), hashlib.sha256(der).hexdigest()}


class NotPinned(Exception):
    """The server's certificate is none of the thumbprints given."""


class _PinnedHTTPSConnection(urllib3.connection.HTTPSConnection):
    """An HTTPS connection that, once its TLS handshake is done (the certificate trusted and
    the host matched), also requires the certificate to be one of `pins`: before a byte of the
    request is sent."""

    def __init__(self, *args, pins=frozenset(), **kwargs):
        super().__init__(*args, **kwargs)
        self.pins = pins

    def connect(self):
        super().connect()
        der = self.sock.getpeercert(binary_form=True)
        if der is None or not certificate_thumbprints(der) & self.pins:
            self.close()
            raise NotPinned("the server's TLS certificate matches none of the registered "
                            "thumbprints")


def request(method, url, body, headers, *, timeout, allowed, max_body, hint=WEBHOOK_HINT,
            what="the payload URL's host", thumbprints=()):
    """`method` `url` through the guard (a Response whose status is 0 when it was refused or
    failed, and whose error says why); never raises for the remote side's failures. With
    `thumbprints` (SHA-1 or SHA-256, hex), the URL must be https and the server's certificate
    one of them (as well as trusted): nothing is sent to any other."""
    started = time.monotonic()

    def failed(message):
        return Response(0, "", "", int((time.monotonic() - started) * 1000), message)

    try:
        parts, port = check_url_form(url)
        address = resolve(parts.hostname, port, allowed, hint, what)[0]
    except Refused as err:
        return failed(f"refused: {err}")
    pins = {thumbprint(t) for t in thumbprints}
    if pins and parts.scheme != "https":
        return failed("refused: certificate thumbprints need an https URL")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host_header = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    if parts.port:
        host_header += f":{parts.port}"
    options = dict(host=str(address), port=port, retries=False, maxsize=1,
                   timeout=urllib3.Timeout(connect=timeout, read=timeout))
    if parts.scheme == "https":
        pool = urllib3.HTTPSConnectionPool(server_hostname=parts.hostname,
                                           assert_hostname=parts.hostname, **options)
        if pins:
            pool.ConnectionCls = _PinnedHTTPSConnection
            pool.conn_kw["pins"] = frozenset(pins)
    else:
        pool = urllib3.HTTPConnectionPool(**options)
    try:
        response = pool.urlopen(method, path, body=body, headers={**headers, "Host": host_header},
                                redirect=False, preload_content=False, assert_same_host=False)
        try:
            data = response.read(max_body, decode_content=True) if max_body else b""
        finally:
            response.release_conn()
        return Response(
            response.status,
            "\n".join(f"{name}: {value}" for name, value in response.headers.items()),
            data.decode("utf-8", "replace").replace("\x00", "\ufffd"),
            int((time.monotonic() - started) * 1000), data=data)
    except NotPinned as err:
        return failed(f"refused: {err}")
    except (urllib3.exceptions.HTTPError, OSError) as err:
        return failed(f"{type(err).__name__}: {err}")
    finally:
        pool.close()
