"""The default key and status sources (JWKS and status lists over ``fetch``) and the fetcher."""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from agegate_verifier import HttpJwks, JwksUnavailable, Revoked, StaticKeys, StatusUnavailable, UnknownKey, Verifier
from agegate_verifier.jose import HttpFetcher
from agegate_verifier.testing import Clock, MemoryFetch, TestIssuer

JWKS = "https://agegate.example/.well-known/jwks.json"


def test_fetches_the_jwks_once_and_the_status_list_once(
    http_verifier: Verifier, issuer: TestIssuer, fetch: MemoryFetch
) -> None:
    for _ in range(3):
        http_verifier.verify(issuer.token())
    assert fetch.calls == [JWKS, issuer.status_uri()]


def test_an_unknown_kid_refetches_the_jwks_at_most_every_five_seconds(
    http_verifier: Verifier, issuer: TestIssuer, fetch: MemoryFetch, clock: Clock
) -> None:
    http_verifier.verify(issuer.token())
    rotated = TestIssuer(issuer.url, clock=clock)
    token = rotated.token()
    clock.advance(5)
    for _ in range(3):
        with pytest.raises(UnknownKey):
            http_verifier.verify(token)
    assert fetch.calls.count(JWKS) == 2
    fetch.routes[JWKS] = json.dumps({"keys": [issuer.jwk, rotated.jwk]}).encode()
    clock.advance(4)
    with pytest.raises(UnknownKey):
        http_verifier.verify(token)
    clock.advance(1)
    assert http_verifier.verify(token)["iss"] == issuer.url
    assert fetch.calls.count(JWKS) == 3


def test_a_failed_jwks_refresh_keeps_the_known_keys(issuer: TestIssuer, clock: Clock) -> None:
    fetch = MemoryFetch().publish(issuer)
    keys = HttpJwks(JWKS, fetch, clock, max_age=60)
    assert keys.public_key(issuer.kid) is not None
    fetch.routes[JWKS] = OSError("down")
    clock.advance(61)
    assert keys.public_key(issuer.kid) is not None
    assert fetch.calls == [JWKS, JWKS]


def test_old_keys_disappear_after_max_age(issuer: TestIssuer, clock: Clock) -> None:
    fetch = MemoryFetch().publish(issuer)
    keys = HttpJwks(JWKS, fetch, clock, max_age=60)
    assert keys.public_key(issuer.kid) is not None
    fetch.routes[JWKS] = b'{"keys": []}'
    clock.advance(61)
    assert keys.public_key(issuer.kid) is None


@pytest.mark.parametrize(
    "change",
    [
        {"kty": "EC"},
        {"crv": "Ed448"},
        {"use": "enc"},
        {"alg": "ES256"},
        {"key_ops": ["sign"]},
        {"d": "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"},
        {"kid": "another-kid"},
        {"x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHUR"},
        {"x": "not base64!"},
    ],
)
def test_only_public_ed25519_signing_keys_under_their_thumbprint_are_used(
    issuer: TestIssuer, change: dict[str, object]
) -> None:
    assert StaticKeys.from_jwks({"keys": [{**issuer.jwk, **change}]}).public_key(issuer.kid) is None
    assert StaticKeys.from_jwks({"keys": [issuer.jwk]}).public_key(issuer.kid) is not None


@pytest.mark.parametrize("jwks", [{}, {"keys": {}}, [], {"keys": "x"}])
def test_a_document_that_is_not_a_jwks_is_refused(jwks: object) -> None:
    with pytest.raises(ValueError):
        StaticKeys.from_jwks(jwks)  # type: ignore[arg-type]


def test_a_revoked_bit_in_the_status_list_revokes(issuer: TestIssuer, clock: Clock) -> None:
    uri = issuer.status_uri("7")
    fetch = MemoryFetch().publish(issuer, lists={uri: issuer.status_list_token(uri, [0, 0, 1, 0])})
    verifier = Verifier(issuer.url, issuer.audience, fetch=fetch, clock=clock)
    assert verifier.verify(issuer.token(status={"status_list": {"idx": 1, "uri": uri}}))
    with pytest.raises(Revoked):
        verifier.verify(issuer.token(status={"status_list": {"idx": 2, "uri": uri}}))


def test_a_suspended_entry_counts_as_revoked(issuer: TestIssuer, clock: Clock) -> None:
    uri = issuer.status_uri()
    fetch = MemoryFetch().publish(issuer, lists={uri: issuer.status_list_token(uri, [2, 0], bits=2)})
    verifier = Verifier(issuer.url, issuer.audience, fetch=fetch, clock=clock)
    assert verifier.gate(issuer.token(), "companion").reason == "revoked"


def test_the_list_is_refetched_after_its_ttl_and_a_flip_takes_effect(
    http_verifier: Verifier, issuer: TestIssuer, fetch: MemoryFetch, clock: Clock
) -> None:
    uri = issuer.status_uri()
    token = issuer.token()
    http_verifier.verify(token)
    fetch.routes[uri] = lambda: issuer.status_list_token(uri, [1] + [0] * 15).encode()
    clock.advance(59)
    http_verifier.verify(token)  # still within ttl: the cached list answers
    clock.advance(1)
    with pytest.raises(Revoked):
        http_verifier.verify(token)
    assert fetch.calls.count(uri) == 2


def test_a_stale_list_that_cannot_be_refetched_fails_closed_and_backs_off(
    http_verifier: Verifier, issuer: TestIssuer, fetch: MemoryFetch, clock: Clock
) -> None:
    uri = issuer.status_uri()
    token = issuer.token()
    http_verifier.verify(token)
    fetch.routes[uri] = OSError("issuer down")
    clock.advance(60)
    for _ in range(3):
        with pytest.raises(StatusUnavailable):
            http_verifier.verify(token)
    assert fetch.calls.count(uri) == 2  # one failed refetch, then a second of back-off
    clock.advance(1)
    fetch.routes[uri] = lambda: issuer.status_list_token(uri, [0] * 16).encode()
    assert http_verifier.verify(token)


def test_the_list_expires_at_exp_even_within_ttl(issuer: TestIssuer, clock: Clock) -> None:
    uri = issuer.status_uri()
    listing = issuer.status_list_token(uri, [0], ttl=3600, exp=int(clock()) + 30)
    fetch = MemoryFetch().publish(issuer, lists={uri: listing})
    verifier = Verifier(issuer.url, issuer.audience, fetch=fetch, clock=clock)
    token = issuer.token()
    verifier.verify(token)
    clock.advance(30)
    with pytest.raises(StatusUnavailable):
        verifier.verify(token)  # refetched the same, now expired, list


class _Handler(BaseHTTPRequestHandler):
    routes: dict[str, tuple[int, dict[str, str], bytes]] = {}

    def do_GET(self) -> None:
        status, headers, body = self.routes.get(self.path, (404, {}, b"no"))
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    _Handler.routes = {
        "/ok": (200, {}, b"hello"),
        "/big": (200, {}, b"x" * 2048),
        "/hop": (302, {"Location": "/ok"}, b""),
        "/away": (302, {"Location": "http://localhost:1/ok"}, b""),
        "/file": (302, {"Location": "file:///etc/passwd"}, b""),
        "/gone": (500, {}, b"oops"),
        "/gzip": (200, {"Content-Encoding": "gzip"}, gzip.compress(b"hello")),
        "/gzip-bomb": (200, {"Content-Encoding": "gzip"}, gzip.compress(b"\0" * (1 << 20))),
        "/brotli": (200, {"Content-Encoding": "br"}, b"hello"),
    }
    yield base
    httpd.shutdown()
    httpd.server_close()


def test_fetcher_gets_a_body_and_follows_a_same_origin_redirect(server: str) -> None:
    fetch = HttpFetcher(server)
    assert fetch(f"{server}/ok") == b"hello"
    assert fetch(f"{server}/hop") == b"hello"


@pytest.mark.parametrize("path", ["/away", "/file", "/gone"])
def test_fetcher_refuses_redirects_off_the_origin_and_errors(server: str, path: str) -> None:
    with pytest.raises(OSError):
        HttpFetcher(server)(f"{server}{path}")


def test_fetcher_refuses_an_oversized_body(server: str) -> None:
    with pytest.raises(ValueError, match="larger"):
        HttpFetcher(server, max_bytes=1024)(f"{server}/big")


@pytest.mark.parametrize("url", ["file:///etc/passwd", "https://elsewhere.example/x", "data:,x"])
def test_fetcher_refuses_urls_off_the_origin(url: str) -> None:
    with pytest.raises(ValueError):
        HttpFetcher("https://agegate.example")(url)


def test_fetcher_inflates_a_gzip_body(server: str) -> None:
    assert HttpFetcher(server)(f"{server}/gzip") == b"hello"


def test_fetcher_refuses_a_gzip_body_that_inflates_past_the_cap(server: str) -> None:
    with pytest.raises(ValueError, match="inflates"):
        HttpFetcher(server, max_bytes=4096)(f"{server}/gzip-bomb")


def test_fetcher_refuses_an_encoding_it_did_not_ask_for(server: str) -> None:
    with pytest.raises(ValueError, match="Content-Encoding"):
        HttpFetcher(server)(f"{server}/brotli")


class _Proxy(BaseHTTPRequestHandler):
    """A forward proxy that answers every absolute-form GET itself, recording the target."""

    seen: list[str] = []

    def do_GET(self) -> None:
        self.seen.append(self.path)
        body = b"via proxy"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Proxy)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    for name in ("HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy", "HTTP_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{httpd.server_address[1]}")
    _Proxy.seen = []
    yield _Proxy.seen
    httpd.shutdown()
    httpd.server_close()


def test_fetcher_goes_through_the_proxy_of_the_environment(proxy: list[str]) -> None:
    # issuer.invalid resolves nowhere: only the proxy can answer.
    assert HttpFetcher("http://issuer.invalid")("http://issuer.invalid/.well-known/jwks.json") == b"via proxy"
    assert proxy == ["http://issuer.invalid/.well-known/jwks.json"]


def test_fetcher_skips_the_proxy_for_hosts_in_no_proxy(proxy: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("no_proxy", "example.org,issuer.invalid")
    with pytest.raises(OSError):
        HttpFetcher("http://issuer.invalid", timeout=2)("http://issuer.invalid/.well-known/jwks.json")
    assert proxy == []


def test_fetcher_never_proxies_a_loopback_issuer(proxy: list[str], server: str) -> None:
    assert HttpFetcher(server)(f"{server}/ok") == b"hello"
    assert proxy == []


def test_an_unknown_kid_while_the_jwks_cannot_be_fetched_is_jwks_unavailable(issuer: TestIssuer, clock: Clock) -> None:
    fetch = MemoryFetch({f"{issuer.url}/.well-known/jwks.json": OSError("issuer down")})
    verifier = Verifier(issuer.url, issuer.audience, fetch=fetch, clock=clock)
    assert verifier.gate(issuer.token(), "companion").reason == "jwks_unavailable"
    with pytest.raises(JwksUnavailable):
        verifier.verify(issuer.token())
    # Back up, but it publishes no such key: now that is a verdict on the token.
    fetch.routes[f"{issuer.url}/.well-known/jwks.json"] = json.dumps({"keys": []}).encode()
    clock.advance(5)
    assert verifier.gate(issuer.token(), "companion").reason == "unknown_key"


def test_a_status_list_that_cannot_be_fetched_fails_closed_with_its_own_reason(issuer: TestIssuer, clock: Clock) -> None:
    fetch = issuer.fetch()  # the JWKS, but no status list
    verifier = Verifier(issuer.url, issuer.audience, fetch=fetch, clock=clock)
    assert verifier.gate(issuer.token(), "companion").reason == "status_unavailable"


@pytest.mark.parametrize("configured", ["https://agegate.example", "https://agegate.example/"])
def test_an_issuer_with_a_trailing_slash_fetches_the_same_documents(configured: str, issuer: TestIssuer,
                                                                     fetch: MemoryFetch, clock: Clock) -> None:
    assert Verifier(configured, issuer.audience, fetch=fetch, clock=clock).gate(issuer.token(), "companion").allowed
    assert sorted(set(fetch.calls)) == [f"{issuer.url}/.well-known/jwks.json", issuer.status_uri()]
