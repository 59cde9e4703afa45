"""An OIDC issuer's signing keys: its discovery document and JWK Set fetched with care (HTTPS
only, public addresses only, no redirects, small bodies, short timeouts, unless settings allow
more: app/outbound.py's guard, which connects to the address it checked) and kept per process
for a bounded time, fetched again once when a token names a key the cached set does not have
(the issuer rotated its keys). Knows nothing of HTTP requests to the service or of the
database."""
import collections
import json
import threading
import time
import urllib.parse

import jwt

from . import outbound

DISCOVERY_PATH = "/.well-known/openid-configuration"
# A discovery document or a JWK Set is a few kilobytes; more is refused unread.
MAX_DOCUMENT_BYTES = 256 * 1024


# A verification key of a set: the key itself, and the JWK's `kty`, `alg` (or None) and `crv`.
SigningKey = collections.namedtuple("SigningKey", "key kty alg crv")


# What a refused address is called, and what the refusal adds (app/outbound.py).
WHAT = "the issuer's host"
HINT = ("it is a non-public address; issuers must be reachable at public addresses (an operator "
        "can allow private ones with OIDC_ALLOW_PRIVATE_NETWORKS)")


class KeysUnavailable(Exception):
    """The issuer's keys could not be had (unreachable, refused address, bad document)."""


class Fetcher:
    """GETs JSON documents from issuers, under the OIDC_* settings of app/config.py."""

    def __init__(self, *, allow_http=False, allow_private=False, timeout=5.0):
        self.allow_http = allow_http
        self.allow_private = allow_private
        self.timeout = timeout

    def check_url(self, url):
        """The parts and port of a URL the service may fetch, or KeysUnavailable: another scheme
        than https (http only when allowed), credentials, a query or a fragment. Its addresses
        are checked when it is fetched (app/outbound.py)."""
        try:
            parts = urllib.parse.urlsplit(url)
            port = parts.port
        except ValueError as err:
            raise KeysUnavailable(f"not a valid URL: {err}") from None
        schemes = ("https", "http") if self.allow_http else ("https",)
        if parts.scheme not in schemes:
            raise KeysUnavailable("the URL must use https" if not self.allow_http
                            else "the URL must use https or http")
        if not parts.hostname or parts.username is not None or parts.password is not None:
            raise KeysUnavailable("the URL must name a host and carry no credentials")
        if parts.query or parts.fragment:
            raise KeysUnavailable("the URL must have no query or fragment")
        return parts, port or (443 if parts.scheme == "https" else 80)

    def _allowed(self):
        return outbound.EVERYWHERE if self.allow_private else []

    def get_json(self, url, thumbprints=()):
        """The JSON object at `url`; with `thumbprints`, from a server whose certificate is one
        of them (app/outbound.py)."""
        self.check_url(url)
        response = outbound.request(
            "GET", url, None, {"Accept": "application/json"}, timeout=self.timeout,
            allowed=self._allowed(), max_body=MAX_DOCUMENT_BYTES + 1, hint=HINT, what=WHAT,
            thumbprints=thumbprints)
        if response.status == 0:
            raise KeysUnavailable(response.error.removeprefix("refused: ")
                                  if response.error.startswith("refused: ")
                                  else f"cannot fetch {url}: {response.error.split(':')[0]}")
        if response.status != 200:
            raise KeysUnavailable(f"{url} answered {response.status}")
        body = response.data
        if len(body) > MAX_DOCUMENT_BYTES:
            raise KeysUnavailable(f"{url} answered more than {MAX_DOCUMENT_BYTES} bytes")
        try:
            document = json.loads(body)
        except ValueError:
            raise KeysUnavailable(f"{url} did not answer JSON") from None
        if not isinstance(document, dict):
            raise KeysUnavailable(f"{url} did not answer a JSON object")
        return document

    def discover(self, url, thumbprints=()):
        """The issuer's discovery document: (its `issuer`, its `jwks_uri`). The `issuer` must be
        the URL it was found at (OpenID Connect Discovery 1.0, section 4.3)."""
        document = self.get_json(url.rstrip("/") + DISCOVERY_PATH, thumbprints)
        issuer, jwks_uri = document.get("issuer"), document.get("jwks_uri")
        if not isinstance(issuer, str) or not isinstance(jwks_uri, str):
            raise KeysUnavailable("the discovery document has no issuer or jwks_uri")
        if issuer.rstrip("/") != url.rstrip("/"):
            raise KeysUnavailable(f"the discovery document names another issuer ({issuer})")
        return issuer, jwks_uri

    def key_set(self, url, thumbprints=()):
        """The JWK Set of the issuer at `url`, found through its discovery document (both
        fetched from servers whose certificates are among `thumbprints`, when given)."""
        _, jwks_uri = self.discover(url, thumbprints)
        return key_set(self.get_json(jwks_uri, thumbprints))


def key_set(document):
    """{kid: SigningKey} of a JWK Set document. Only public RSA and EC keys meant for signatures
    are kept: a symmetric (`oct`) key would turn a public document into a shared secret, a
    private key has no business in a JWK Set."""
    keys = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(keys, list):
        raise KeysUnavailable("a JWK Set must be an object with a `keys` array")
    found = {}
    for entry in keys:
        if (not isinstance(entry, dict) or entry.get("use", "sig") != "sig"
                or entry.get("kty") not in ("RSA", "EC") or "d" in entry):
            continue
        try:
            key = jwt.PyJWK(entry).key
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError):
            continue
        kid = entry.get("kid") if isinstance(entry.get("kid"), str) else None
        found[kid] = SigningKey(key, entry["kty"], entry.get("alg"), entry.get("crv"))
    if not found:
        raise KeysUnavailable("the JWK Set has no usable signing key")
    return found


class KeyCache:
    """Each issuer's key set, per process, for at most `ttl` seconds; a token naming an unknown
    key makes one fetch, at most once per `refresh_interval` seconds per issuer (random key ids
    cannot make the service hammer an issuer)."""

    def __init__(self, fetcher, ttl=3600, refresh_interval=60, clock=time.monotonic):
        self.fetcher = fetcher
        self.ttl = ttl
        self.refresh_interval = refresh_interval
        self.clock = clock
        # (issuer url, its thumbprints) -> (fetched at, {kid: PyJWK}): a set fetched under other
        # thumbprints than the issuer now has is not used.
        self._sets = {}
        self._lock = threading.Lock()

    def _fetch(self, url, thumbprints):
        keys = self.fetcher.key_set(url, thumbprints)
        with self._lock:
            self._sets[(url, thumbprints)] = (self.clock(), keys)
        return keys

    def key(self, url, kid, thumbprints=()):
        """The key `kid` of the issuer at `url` (a token without `kid`: the set's only key),
        or None when the issuer has no such key, even after fetching its set again."""
        thumbprints = frozenset(outbound.thumbprint(t) for t in thumbprints)
        with self._lock:
            cached = self._sets.get((url, thumbprints))
        now = self.clock()
        if cached is None or now - cached[0] > self.ttl:
            return pick(self._fetch(url, thumbprints), kid)
        found = pick(cached[1], kid)
        if found is None and now - cached[0] >= self.refresh_interval:
            found = pick(self._fetch(url, thumbprints), kid)
        return found


def pick(keys, kid):
    if kid is None:
        return next(iter(keys.values())) if len(keys) == 1 else None
    return keys.get(kid)


def init_app(app):
    """The app's fetcher and key cache, from its OIDC_* settings."""
    config = app.config
    fetcher = Fetcher(allow_http=config["OIDC_ALLOW_HTTP"],
                      allow_private=config["OIDC_ALLOW_PRIVATE_NETWORKS"],
                      timeout=config["OIDC_FETCH_TIMEOUT_SECONDS"])
    app.extensions["oidc_keys"] = KeyCache(fetcher, ttl=config["OIDC_JWKS_CACHE_SECONDS"],
                                           refresh_interval=config["OIDC_JWKS_REFRESH_SECONDS"])
