"""A real OIDC identity provider for the token-exchange tests: an HTTP server on 127.0.0.1
(or, with tls=True, HTTPS with a certificate made here) serving its discovery document and JWK
Set, with an RSA and an EC key made here, minting ID tokens with the claims a test chooses, and
rotating its keys on demand. It counts what it serves, so a test can tell when the service
fetched the keys."""
import base64
import collections
import datetime
import hashlib
import hmac
import ipaddress
import json
import ssl
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

DISCOVERY = "/.well-known/openid-configuration"
JWKS = "/keys"


def audience(org):
    return f"urn:pulumi:org:{org}"


def self_signed(address):
    """(certificate file, key file, certificate) of a new self-signed certificate for an IP
    address, in a temporary folder."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, address)])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(address))]),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256()))
    folder = Path(tempfile.mkdtemp(prefix="oidc-tls-"))
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_file), str(key_file), certificate


def _b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class Key:
    """A signing key of the issuer: its private key, algorithm and kid."""

    def __init__(self, kid, alg):
        self.kid, self.alg = kid, alg
        if alg.startswith("ES"):
            self.private = ec.generate_private_key(ec.SECP256R1())
            self.jwk = json.loads(ECAlgorithm.to_jwk(self.private.public_key()))
        else:
            self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            self.jwk = json.loads(RSAAlgorithm.to_jwk(self.private.public_key()))
        self.jwk.update(kid=kid, alg=alg, use="sig")

    def public_pem(self):
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


class Issuer:
    """The identity provider at `url` (http://127.0.0.1:<port>). `mint()` makes an ID token
    signed with one of its keys; `rotate()` replaces its RSA key (new kid) in the JWK Set."""

    def __init__(self, subject="repo:acme/infra:ref:refs/heads/main", tls=False):
        self.keys = {"rsa-1": Key("rsa-1", "RS256"), "ec-1": Key("ec-1", "ES256")}
        self.published = ["rsa-1", "ec-1"]
        self.subject = subject
        self.served = collections.Counter()
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                issuer.served[self.path] += 1
                if self.path == DISCOVERY:
                    body = {"issuer": issuer.url, "jwks_uri": issuer.url + JWKS,
                            "id_token_signing_alg_values_supported": ["RS256", "ES256"]}
                elif self.path == JWKS:
                    body = issuer.jwks()
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.cert_file = None
        if tls:
            self.cert_file, key_file, self.certificate = self_signed("127.0.0.1")
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(self.cert_file, key_file)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        scheme = "https" if tls else "http"
        self.url = f"{scheme}://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def thumbprint(self, digest="sha1"):
        """The hex thumbprint of its TLS certificate (tls=True)."""
        return self.certificate.fingerprint(getattr(hashes, digest.upper())()).hex()

    def jwks(self):
        return {"keys": [self.keys[kid].jwk for kid in self.published]}

    def rotate(self):
        """A new RSA key replaces the published one; returns its kid."""
        kid = f"rsa-{len(self.keys)}"
        self.keys[kid] = Key(kid, "RS256")
        self.published = [kid if k.startswith("rsa-") else k for k in self.published]
        return kid

    def claims(self, org="acme", lifetime=300, **overrides):
        now = int(time.time())
        claims = {"iss": self.url, "sub": self.subject, "aud": audience(org), "iat": now,
                  "nbf": now, "exp": now + lifetime, "repository": "acme/infra",
                  "ref": "refs/heads/main"}
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def mint(self, kid="rsa-1", org="acme", headers=None, **claims):
        """An ID token signed by key `kid` (claims: overrides of the defaults; None drops one)."""
        key = self.keys[kid]
        return jwt.encode(self.claims(org, **claims), key.private, algorithm=key.alg,
                          headers={"kid": kid, **(headers or {})})

    def forged(self, kid="rsa-1", org="acme", **claims):
        """A token naming the issuer's key `kid` but signed with another key."""
        other = Key(kid, self.keys[kid].alg)
        return jwt.encode(self.claims(org, **claims), other.private, algorithm=other.alg,
                          headers={"kid": kid})

    def unsigned(self, org="acme", **claims):
        """`alg: none`: no signature at all."""
        header = _b64(json.dumps({"alg": "none", "typ": "JWT", "kid": "rsa-1"}).encode())
        body = _b64(json.dumps(self.claims(org, **claims)).encode())
        return f"{header}.{body}."

    def hmac_with_public_key(self, kid="rsa-1", org="acme", **claims):
        """HS256 keyed with the issuer's public key (which anyone can fetch): the classic
        algorithm-confusion forgery."""
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
        body = _b64(json.dumps(self.claims(org, **claims)).encode())
        signature = hmac.new(self.keys[kid].public_pem(), f"{header}.{body}".encode(),
                             hashlib.sha256).digest()
        return f"{header}.{body}.{_b64(signature)}"


GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
ID_TOKEN = "urn:ietf:params:oauth:token-type:id_token"


def exchange_fields(token, org="acme", token_type="organization", scope="", expiration="7200"):
    """The form the CLI posts (`client.go::ExchangeOidcToken`)."""
    return {"audience": audience(org), "grant_type": GRANT,
            "requested_token_type": f"urn:pulumi:token-type:access_token:{token_type}",
            "scope": scope, "subject_token_type": ID_TOKEN, "subject_token": token,
            "expiration": expiration}


def _json(response):
    """The JSON body of a Flask test response or of a `requests` one."""
    return response.get_json() if hasattr(response, "get_json") else response.json()


def trust(admin, issuer, policies, org="acme", **registration):
    """Register `issuer` with `org` as `admin` (an Api client, or an HttpApi on a real server)
    and set its policies; returns the registered issuer's JSON."""
    created = admin.post(f"/api/orgs/{org}/oidc/issuers",
                         body={"name": registration.pop("name", "ci"), "url": issuer.url,
                               **registration})
    assert created.status_code == 200, _json(created)
    found = _json(created)
    policy = _json(admin.get(f"/api/orgs/{org}/auth/policies/oidcissuers/{found['id']}"))
    updated = admin.patch(f"/api/orgs/{org}/auth/policies/{policy['id']}",
                          body={"policies": policies})
    assert updated.status_code == 200, _json(updated)
    return found


class HttpApi:
    """The Api client's post/get/patch over real HTTP, against a started Service."""

    def __init__(self, service, token):
        self.service, self.token = service, token

    def get(self, path):
        return self.service.api("GET", path, self.token)

    def post(self, path, body=None):
        return self.service.api("POST", path, self.token, json=body)

    def patch(self, path, body=None):
        return self.service.api("PATCH", path, self.token, json=body)


def allow(token_type="organization", rules=None, **extra):
    """A policy that allows `token_type` to tokens of the default subject (or `rules`)."""
    return {"decision": "allow", "tokenType": token_type,
            "rules": rules or {"sub": "repo:acme/infra:*"}, **extra}
