"""The strict JOSE core, for agegate's own service and for tools built on agegate's formats.

Persona services need only the package's top level (``Verifier`` ...). Everything in the
repository that verifies a JWS, parses signed or exported JSON, reads a JWKS or fetches
one uses these, so there is one rule for each:

- ``b64url_encode`` / ``b64url_decode``: canonical unpadded base64url;
- ``strict_json`` / ``json_object``: UTF-8, no duplicate members, no NaN, bounded depth;
  ``compact_json``: how agegate writes what it signs; ``canonical_json``: RFC 8785 (JCS);
- ``CompactVerifier``: compact JWS, Ed25519 only, header exactly ``alg``/``typ``/``kid``;
- ``jwk_thumbprint``, ``public_jwk``, ``keys_from_jwks``: ``kid`` = RFC 7638 thumbprint;
- ``HttpFetcher``: GETs confined to one origin, proxies from the environment.
"""

from ._b64 import b64url_decode, b64url_encode
from ._http import HttpFetcher, normalized_issuer, origin
from ._jcs import canonical_json
from ._json import MAX_JSON_DEPTH, DuplicateMember, compact_json, json_object, strict_json
from ._jwks import HttpJwks, KeySource, StaticKeys, jwk_thumbprint, keys_from_jwks, public_jwk
from ._jws import CompactVerifier

__all__ = [
    "MAX_JSON_DEPTH",
    "CompactVerifier",
    "DuplicateMember",
    "HttpFetcher",
    "HttpJwks",
    "KeySource",
    "StaticKeys",
    "b64url_decode",
    "b64url_encode",
    "canonical_json",
    "compact_json",
    "json_object",
    "jwk_thumbprint",
    "keys_from_jwks",
    "normalized_issuer",
    "origin",
    "public_jwk",
    "strict_json",
]
