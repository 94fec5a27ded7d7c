"""A small OpenID Connect provider for the tests: discovery, authorize, token, JWKS.

It stands in for a real-name identity provider. It signs real RS256 id_tokens; whoever
opens /authorize is logged in as `subject` at once (the test sets it), which is all a
relying party can observe of a provider's own login.
"""

from __future__ import annotations

import base64
import secrets
import time
from typing import Any
from urllib.parse import urlencode

from flask import Flask, abort, jsonify, redirect, request
from joserfc import jwt
from joserfc.jwk import RSAKey

CLIENT_ID = "agegate-test"
CLIENT_SECRET = "provider-secret-for-tests"


class Provider:
    def __init__(self) -> None:
        self.issuer = ""  # set once the server has a port
        self.subject = "idp-guardian-1"
        self.key = RSAKey.generate_key(2048, parameters={"kid": "test-key", "use": "sig", "alg": "RS256"})
        self.codes: dict[str, dict[str, Any]] = {}
        self.app = self._build()

    def _build(self) -> Flask:
        app = Flask("oidc-provider")

        @app.get("/.well-known/openid-configuration")
        def discovery() -> Any:
            return jsonify(
                issuer=self.issuer,
                authorization_endpoint=f"{self.issuer}/authorize",
                token_endpoint=f"{self.issuer}/token",
                jwks_uri=f"{self.issuer}/jwks",
                response_types_supported=["code"],
                subject_types_supported=["public"],
                id_token_signing_alg_values_supported=["RS256"],
                token_endpoint_auth_methods_supported=["client_secret_basic"],
            )

        @app.get("/jwks")
        def jwks() -> Any:
            return jsonify(keys=[self.key.as_dict(private=False)])

        @app.get("/authorize")
        def authorize() -> Any:
            args = request.args
            if args.get("client_id") != CLIENT_ID or args.get("response_type") != "code" or "openid" not in args.get("scope", ""):
                abort(400)
            code = secrets.token_urlsafe(16)
            self.codes[code] = {"nonce": args.get("nonce"), "redirect_uri": args["redirect_uri"], "subject": self.subject}
            return redirect(args["redirect_uri"] + "?" + urlencode({"code": code, "state": args.get("state", "")}))

        @app.post("/token")
        def token() -> Any:
            expected = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
            if request.headers.get("Authorization") != expected:
                abort(401)
            grant = self.codes.pop(request.form.get("code", ""), None)
            if grant is None or request.form.get("redirect_uri") != grant["redirect_uri"]:
                return jsonify(error="invalid_grant"), 400
            now = int(time.time())
            claims = {"iss": self.issuer, "sub": grant["subject"], "aud": CLIENT_ID, "iat": now, "exp": now + 300, "nonce": grant["nonce"]}
            id_token = jwt.encode({"alg": "RS256", "kid": "test-key"}, claims, self.key)
            return jsonify(access_token=secrets.token_urlsafe(16), token_type="Bearer", expires_in=300, id_token=id_token)

        return app
