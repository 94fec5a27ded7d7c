"""Offline `Verifier` against its ceilings, in one process, same tokens:

- raw:    `Ed25519PublicKey.verify(signature, signing_input)` from `cryptography`, inputs
          already split and decoded: the ceiling no verifier can beat for a new token;
- new:    `Verifier.verify(token)`, a different token every call (fresh Verifier per run),
          with the optional orjson (`pip install './verifier[fast]'`) and without it;
- repeat: `Verifier.verify` and `Verifier.gate` on tokens it has already seen; exp, nbf and
          the status bit are still checked on every call (the status source is called);
- pyjwt:  `jwt.decode` with EdDSA, aud, iss and required exp/nbf (no typ or status check).

Every rate is per second of this process's CPU time (`time.process_time`): on a machine
shared with other work, wall-clock rates swing with whoever else runs, CPU time much less.
Tokens are signed by the service's own `service.tokens.signing.sign_compact`, with the claim
set `issue_token` produces; keys and statuses are in-memory (`StaticKeys`, a StatusSource).

    python perf/bench_verifier.py [--tokens 4000] [--rounds 7] [--json OUT] [--record]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import alternate, command_line, emit, figure, median, record_section  # noqa: E402

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat  # noqa: E402

from agegate_verifier import TOKEN_TYPE, StaticKeys, Verifier, _json, jwk_thumbprint  # noqa: E402
from agegate_verifier.jose import b64url_decode, b64url_encode  # noqa: E402

from service.tokens.signing import sign_compact  # noqa: E402

ISSUER = "http://127.0.0.1:8000"
AUDIENCE = "persona-chat"


class CountingStatuses:
    """An in-memory status source; counts calls to prove the status is checked every time."""

    def __init__(self) -> None:
        self.calls = 0

    def status(self, uri: str, idx: int) -> int:
        self.calls += 1
        return 0


def make_tokens(key: Ed25519PrivateKey, kid: str, count: int) -> list[str]:
    now = int(time.time())
    tokens = []
    for i in range(count):
        claims = {
            "iss": ISSUER, "sub": f"u-{i}", "aud": AUDIENCE, "iat": now, "nbf": now, "exp": now + 3600,
            "jti": uuid.uuid4().hex, "age_bracket": "minor", "assurance": "document",
            "verified_at": "2026-07-15", "policy": "2026-07-15.1",
            "features": {
                "companion": {"decision": "allow", "obligations": ["minor_mode", "time_limit"]},
                "virtual_intimacy": {"decision": "deny", "reason": "minor_ban"},
                "digital_human": {"decision": "needs_consent"},
            },
            "consents": [],
            "status": {"status_list": {"idx": i, "uri": f"{ISSUER}/v1/status-lists/1"}},
        }
        tokens.append(sign_compact(TOKEN_TYPE, claims, kid=kid, private_key=key))
    return tokens


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=4000, help="distinct tokens per run")
    parser.add_argument("--repeat-calls", type=int, default=200_000, help="calls per repeat run")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--record", action="store_true", help="write the figures into perf/RESULTS.md")
    args = parser.parse_args()

    import jwt  # PyJWT, from the perf extra

    key = Ed25519PrivateKey.generate()
    public = key.public_key()
    kid = jwk_thumbprint({"kty": "OKP", "crv": "Ed25519",
                          "x": b64url_encode(public.public_bytes(Encoding.Raw, PublicFormat.Raw))})
    tokens = make_tokens(key, kid, args.tokens)
    split = []
    for token in tokens:
        head, payload, sig = token.split(".")
        split.append(((head + "." + payload).encode(), b64url_decode(sig)))
    keys = StaticKeys({kid: public})

    def raw() -> float:
        verify = public.verify
        started = time.process_time()
        for signing_input, signature in split:
            verify(signature, signing_input)
        return len(split) / (time.process_time() - started)

    def new() -> float:
        verifier = Verifier(ISSUER, AUDIENCE, keys=keys, statuses=CountingStatuses())
        verify = verifier.verify
        started = time.process_time()
        for token in tokens:
            verify(token)
        return len(tokens) / (time.process_time() - started)

    def new_stdlib() -> float:
        fast = _json._orjson
        _json._orjson = None  # as if the "fast" extra were not installed
        try:
            return new()
        finally:
            _json._orjson = fast

    def pyjwt() -> float:
        decode = jwt.decode
        options = {"require": ["exp", "nbf", "iat", "iss", "aud"]}
        started = time.process_time()
        for token in tokens:
            decode(token, public, algorithms=["EdDSA"], audience=AUDIENCE, issuer=ISSUER, options=options)
        return len(tokens) / (time.process_time() - started)

    hot = tokens[:100]
    statuses = CountingStatuses()
    warm = Verifier(ISSUER, AUDIENCE, keys=keys, statuses=statuses)
    for token in hot:
        warm.verify(token)

    def repeat() -> float:
        verify = warm.verify
        calls = args.repeat_calls // len(hot)
        before = statuses.calls
        started = time.process_time()
        for _ in range(calls):
            for token in hot:
                verify(token)
        rate = calls * len(hot) / (time.process_time() - started)
        assert statuses.calls - before == calls * len(hot), "status not checked on every call"
        return rate

    def gate() -> float:
        check = warm.gate
        calls = args.repeat_calls // len(hot)
        started = time.process_time()
        for _ in range(calls):
            for token in hot:
                check(token, "companion")
        return calls * len(hot) / (time.process_time() - started)

    if _json._orjson is None:
        raise SystemExit("install the verifier's fast extra: pip install './verifier[fast]'")
    for fn in (raw, new, new_stdlib, pyjwt, repeat, gate):  # warm-up: imports, caches, branch predictors
        fn()
    variants = {"raw": raw, "new": new, "new_stdlib": new_stdlib, "pyjwt": pyjwt, "repeat": repeat, "gate": gate}
    runs = alternate(variants, args.rounds)
    m = {name: median(values) for name, values in runs.items()}
    ceiling = m["raw"]
    figures = [
        figure("offline `Verifier.verify`, a new token each call (orjson extra)", value=m["new"],
               unit="verifications/s", runs=runs["new"], ceiling=ceiling, ceiling_name="raw Ed25519 verify (cryptography)",
               ceiling_runs=runs["raw"], target=">= 0.90x raw Ed25519", passed=m["new"] / ceiling >= 0.90,
               detail=f"{args.tokens} distinct tokens per run, {len(tokens[0])} bytes each"),
        figure("offline `Verifier.verify`, a new token each call (cryptography only)", value=m["new_stdlib"],
               unit="verifications/s", runs=runs["new_stdlib"], ceiling=ceiling,
               ceiling_name="raw Ed25519 verify (cryptography)", ceiling_runs=runs["raw"],
               target=">= 0.90x raw Ed25519", passed=m["new_stdlib"] / ceiling >= 0.90),
        figure("offline `Verifier.verify`, same token again", value=m["repeat"], unit="verifications/s",
               runs=runs["repeat"], ceiling=ceiling, ceiling_name="raw Ed25519 verify (cryptography)",
               ceiling_runs=runs["raw"], target=">= 100x raw Ed25519 (exp/nbf/status checked)",
               passed=m["repeat"] / ceiling >= 100,
               detail="100 hot tokens cycled; the status source is asserted to be called on every call"),
        figure("offline `Verifier.gate`, same token again", value=m["gate"], unit="decisions/s",
               runs=runs["gate"], ceiling=ceiling, ceiling_name="raw Ed25519 verify (cryptography)",
               ceiling_runs=runs["raw"], target=">= 100x raw Ed25519 (exp/nbf/status checked)",
               passed=m["gate"] / ceiling >= 100),
        figure("PyJWT `jwt.decode` (EdDSA, aud, iss, exp), new token each call", value=m["pyjwt"],
               unit="verifications/s", runs=runs["pyjwt"], ceiling=ceiling,
               ceiling_name="raw Ed25519 verify (cryptography)", ceiling_runs=runs["raw"],
               target="comparison only", passed=None,
               detail="PyJWT checks no typ and no status list"),
    ]
    document = {"script": "bench_verifier.py", "command": command_line(), "figures": figures,
                "notes": [f"verifier new/PyJWT speed: {m['new'] / m['pyjwt']:.2f}x"]}
    emit(document, args.json)
    if args.record:
        record_section("agegate-verifier: `Verifier.verify` (perf/bench_verifier.py)", [
            f"`{command_line()}` on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.machine()},"
            f" {os.cpu_count()} cpu, load {os.getloadavg()[0]:.1f}; rates per second of CPU time, median of"
            f" {args.rounds} alternating rounds",
            "",
            "| figure | measured | ratio to raw Ed25519 | target | result |",
            "| --- | --- | --- | --- | --- |",
            *(f"| {f['figure']} | {f['value']:,.0f} {f['unit']} | {f['ratio']:.2f}x | {f['target']} | {f['status']} |"
              for f in figures),
            f"| raw Ed25519 verify (the ceiling) | {ceiling:,.0f} verifications/s | 1.00x | - | - |",
        ])
    return 0


if __name__ == "__main__":
    sys.exit(main())
