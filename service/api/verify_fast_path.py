"""`POST /v1/tokens/verify` answered without Flask's request cycle, when nothing in the call
needs that cycle.

Online verification is the hottest endpoint (persona services call it per message), and
answering from the verifier's cache costs little next to the request machinery: in-process,
a cached verify took 171 us through Flask against 60 us for a bare Flask endpoint. The
answer itself is `verify_answer`, the view's own function; around it this path runs the
same steps the request cycle would, from the same functions (the edge's UTF-8, JSON and
unstorable-character checks, the schema gate, the request id, the bearer cache, metrics and
the access line, the safety headers), on the WSGI environ directly.

It takes only the plain case, in which each of those steps would pass and the view would
answer 200: POST to exactly this path, no query string, no cookie, `application/json`
with a Content-Length, a bearer token this worker verified lately (its cache) carrying
`tokens:verify`, a body the hand check accepts. Anything else -- no or another kind of
credentials, a token not in the cache, a missing scope, a sandbox tenant's client, a body
the edge or the schema would refuse, a schema behind the code, an unexpected error -- goes
to Flask with the body as it came, and is answered exactly as before. Responses are
Flask's byte for byte, bar the generated request id (tests/api/test_verify_fast_path.py).
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterable
from typing import Any

from agegate_verifier.jose import strict_json
from flask import Flask

from service.api.auth import cached_caller
from service.api.bodies import InputRefused, unstorable_strings, utf8_text
from service.api.edge import header_holds_nul
from service.api.request_ids import log_access, request_id_for
from service.api.tokens import verify_answer, well_formed_verify_body
from service.logs import fast_path_request_id

PATH = "/v1/tokens/verify"
SCOPE = "tokens:verify"

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class VerifyFastPath:
    """WSGI middleware around Flask's wsgi_app (innermost: every other layer still applies)."""

    def __init__(self, app: Flask, flask_wsgi: WSGIApp) -> None:
        self.app = app
        self.flask_wsgi = flask_wsgi

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != PATH or environ.get("REQUEST_METHOD") != "POST":
            return self.flask_wsgi(environ, start_response)
        started = time.perf_counter()
        body = self._body(environ)
        if body is None:
            return self.flask_wsgi(environ, start_response)
        try:
            answered = self._answer(environ, body, started)
        except Exception:  # noqa: BLE001 -- Flask answers it again, through its error handling
            answered = None
        if answered is None:
            environ["wsgi.input"] = io.BytesIO(body)  # the body as it came, for Flask to read
            return self.flask_wsgi(environ, start_response)
        status, headers, payload = answered
        start_response(status, headers)
        return [payload]

    def _body(self, environ: dict[str, Any]) -> bytes | None:
        """The raw body when the request's framing is the plain case, else None (untouched)."""
        if (
            environ.get("QUERY_STRING")
            or "HTTP_COOKIE" in environ
            or "HTTP_TRANSFER_ENCODING" in environ
            or environ.get("CONTENT_TYPE") != "application/json"
            or self.app.debug
        ):
            return None
        length = environ.get("CONTENT_LENGTH", "")
        if not length.isdigit() or not 0 < int(length) <= (self.app.config["MAX_CONTENT_LENGTH"] or 0):
            return None
        body: bytes = environ["wsgi.input"].read(int(length))
        return body  # shorter than said when the client went away: Flask then answers that

    def _answer(self, environ: dict[str, Any], raw: bytes, started: float) -> tuple[str, list[tuple[str, str]], bytes] | None:
        """(status, headers, body) of Flask's answer to this call, or None to let Flask answer."""
        if len(raw) != int(environ["CONTENT_LENGTH"]):
            return None
        # The edge (edge.check_request): no NUL in any header field; the body UTF-8 JSON with
        # no unstorable string. A bearer header has no Basic credentials to check.
        if header_holds_nul(environ):
            return None
        try:
            utf8_text(raw)
            body = strict_json(raw)
        except (InputRefused, ValueError):
            return None
        if not well_formed_verify_body(body) or any(unstorable_strings(body, "body")):
            return None
        if self.app.extensions["agegate.schema_gate"].behind() is not None:
            return None
        caller = cached_caller(self.app.extensions["agegate.bearer_cache"], environ.get("HTTP_AUTHORIZATION", ""))
        if caller is None or SCOPE not in caller.scopes or caller.sandbox:
            return None
        request_id = request_id_for(environ.get("HTTP_X_REQUEST_ID", ""))
        marked = fast_path_request_id.set(request_id)
        try:
            answer = verify_answer(self.app.extensions["agegate"], caller, body)
            payload = (self.app.json.dumps(answer, separators=(",", ":")) + "\n").encode()
            self.app.extensions["agegate.metrics"].observe(PATH, "POST", 200, started)
            log_access(PATH, "POST", 200, started, caller.client_id)
        finally:
            fast_path_request_id.reset(marked)
        headers = [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(payload))),
            ("X-Request-Id", request_id),
            ("X-Content-Type-Options", "nosniff"),
            ("Cache-Control", "no-store"),
        ]
        return "200 OK", headers, payload


# The hooks Flask runs around the verify view, each of which this path does itself (the
# request cycle's two) or has no work for in the plain case (a Retry-After on refusals).
_HOOKS_DONE_HERE = {"before_view", "after_view", "_retry_after_only_when_refused"}


def install_verify_fast_path(app: Flask) -> None:
    """Wrap `app`'s wsgi_app; refuse to when Flask would run a hook around the verify view
    that this path does not know (a rate limit or another step added later would be skipped)."""
    endpoint, _ = app.url_map.bind("localhost").match(PATH, method="POST")
    blueprint = endpoint.rpartition(".")[0]
    for kind, hooks in (("before", app.before_request_funcs), ("after", app.after_request_funcs),
                        ("teardown", app.teardown_request_funcs)):
        unknown = [getattr(hook, "__name__", repr(hook)) for scope in (None, blueprint) for hook in hooks.get(scope, ())
                   if getattr(hook, "__name__", None) not in _HOOKS_DONE_HERE]
        if unknown:
            raise RuntimeError(f"the verify fast path would skip the {kind}_request hooks {unknown}: teach it them")
    app.wsgi_app = VerifyFastPath(app, app.wsgi_app)  # type: ignore[method-assign]
