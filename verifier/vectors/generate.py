"""Writes agegate's published test vectors (this folder) from fixed keys and a fixed time.

    python verifier/vectors/generate.py          # rewrite the files here
    python verifier/vectors/generate.py --check  # exit 1 if any file here is stale

Ed25519 signatures are deterministic, so the same keys, claims and time give the same bytes:
``verifier/tests/test_vectors.py`` rebuilds everything and compares it with the files, then
checks every vector against ``agegate_verifier``. The keys are TEST KEYS, published on
purpose: never trust them anywhere else.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from agegate_verifier import STATUS_LIST_TYPE
from agegate_verifier.forgeries import forged_tokens
from agegate_verifier.jose import b64url_decode, b64url_encode, compact_json
from agegate_verifier.testing import DROP, TestIssuer

HERE = Path(__file__).resolve().parent
ISSUER = "https://agegate.test"
AUDIENCE = "persona-chat"
NOW = 1_790_000_000  # 2026-09-21T12:53:20Z: verify every vector at this instant
STATUS_URI = f"{ISSUER}/v1/status-lists/1"
STATUSES = [0, 1, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]  # idx 1 revoked, idx 4 suspended


def _key(label: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(f"agegate test vectors: {label}".encode()).digest())


def _json_file(value: Any) -> bytes:
    return json.dumps(value, indent=2, ensure_ascii=False).encode("utf-8") + b"\n"


def _private_jwk(issuer: TestIssuer) -> dict[str, str]:
    d = issuer.key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    return {**issuer.jwk, "d": b64url_encode(d)}


def _age_claims(issuer: TestIssuer, name: str, idx: int, **overrides: Any) -> dict[str, Any]:
    return issuer.age_claims(
        sub=f"u-{name}", jti=hashlib.sha256(name.encode()).hexdigest()[:32], iat=NOW - 60, nbf=NOW - 60,
        exp=NOW + 540, status={"status_list": {"idx": idx, "uri": STATUS_URI}}, **overrides,
    )


def _tokens(issuer: TestIssuer) -> dict[str, Any]:
    adult = {name: {"decision": "allow", "obligations": []} for name in ("companion", "virtual_intimacy", "digital_human")}
    cases = [
        ("minor", 0, {}, {"companion": {"allowed": True, "decision": "allow", "obligations": ["minor_mode"]},
                          "virtual_intimacy": {"allowed": False, "decision": "deny", "reason": "minor_ban"},
                          "digital_human": {"allowed": False, "decision": "needs_consent",
                                            "reason": "guardian_consent_required"}}),
        ("adult", 2, {"age_bracket": "adult", "features": adult},
         {"virtual_intimacy": {"allowed": True, "decision": "allow", "obligations": []}}),
        ("fully-specified-alg-name", 3, {}, {"companion": {"allowed": True, "decision": "allow",
                                                           "obligations": ["minor_mode"]}}),
        ("revoked", 1, {}, {"companion": {"allowed": False, "decision": "deny", "reason": "revoked"}}),
        ("suspended", 4, {}, {"companion": {"allowed": False, "decision": "deny", "reason": "revoked"}}),
    ]
    tokens = []
    for name, idx, overrides, gate in cases:
        claims = _age_claims(issuer, name, idx, **overrides)
        header = issuer.header(alg="Ed25519") if name == "fully-specified-alg-name" else issuer.header()
        valid = name not in ("revoked", "suspended")
        tokens.append({"name": name, "token": issuer.sign(claims, header=header), "valid": valid,
                       "reason": None if valid else "revoked", "claims": claims, "gate": gate})
    return {"issuer": ISSUER, "audience": AUDIENCE, "now": NOW, "jwks": "keys/jwks.json",
            "status_list": {"uri": STATUS_URI, "file": "status-lists/1.jwt"}, "tokens": tokens}


def _forged(issuer: TestIssuer) -> dict[str, Any]:
    forgeries = forged_tokens(issuer, _age_claims(issuer, "forged", 0), other_key=_key("attacker"))
    return {"issuer": ISSUER, "audience": AUDIENCE, "now": NOW,
            "note": "each must be refused; reason is what agegate's verifiers answer (the check that fails first)",
            "tokens": [{"name": f.name, "vectors_md_class": f.attack_class, "reason": f.reason, "token": f.token}
                       for f in forgeries]}


def _status_lists(issuer: TestIssuer) -> tuple[bytes, dict[str, Any]]:
    listing = issuer.status_list_token(STATUS_URI, STATUSES, 2, ttl=300, iat=NOW - 60, exp=NOW + 3600)
    bomb = b64url_encode(zlib.compress(bytes(16 << 20), 9))

    def forged(name: str, why: str, token: str) -> dict[str, str]:
        return {"name": name, "why": why, "token": token, "reason": "status_unavailable"}

    def variant(**overrides: Any) -> str:
        return issuer.status_list_token(STATUS_URI, STATUSES, 2, **{"ttl": 300, "iat": NOW - 60, "exp": NOW + 3600, **overrides})

    cases = [
        forged("sub-differs-from-uri", "sub names another list", variant(sub=f"{ISSUER}/v1/status-lists/2")),
        forged("expired", "exp is at or before now", variant(exp=NOW)),
        forged("issued-in-the-future", "iat beyond the leeway", variant(iat=NOW + 3600)),
        forged("no-ttl", "ttl missing", variant(ttl=DROP)),
        forged("zlib-bomb", "lst inflates to 16 MiB, past the 2 MiB cap", variant(status_list={"bits": 1, "lst": bomb})),
        forged("bits-3", "bits must be 1, 2, 4 or 8", variant(status_list={"bits": 3, "lst": "eNrbuRgAAhcBXQ"})),
        forged("age-token-typ", "typ is not statuslist+jwt",
               issuer.sign(json.loads(_payload(variant())), header=issuer.header())),
        forged("another-key", "signed by a key the issuer does not publish",
               issuer.status_list_token(STATUS_URI, STATUSES, 2, ttl=300, iat=NOW - 60, exp=NOW + 3600,
                                        key=_key("attacker"))),
    ]
    note = ("verify token 'minor' of tokens/genuine.json with each list served at the status URI: "
            "every one must make the verifier fail closed")
    return listing.encode("ascii") + b"\n", {"uri": STATUS_URI, "now": NOW, "note": note, "lists": cases,
                                            "type": STATUS_LIST_TYPE}


def _payload(token: str) -> bytes:
    return b64url_decode(token.split(".")[1])


def _events() -> list[dict[str, Any]]:
    kinds = ["granted", "declined", "withdrawn", "expired", "granted", "subject_erased"]
    events = []
    for seq, kind in enumerate(kinds * 2, start=1):
        events.append({
            "type": kind, "consent_id": f"c-{seq:04d}", "tenant": "t-acme", "child_ref": f"孩子-{seq}",
            "guardian_ref": f"g-{seq}", "relationship": "parent", "scopes": ["pi_processing", "companion"],
            "method": "hosted_page", "evidence_ref": None if seq % 3 else f"ev-{seq}",
            "notice_version": "privacy-notice-v3", "policy": "2026-07-15.2",
            "occurred_at": f"2026-09-21T08:{seq:02d}:00Z", "recorded_at": f"2026-09-21T08:{seq:02d}:01Z",
            "client_id": "cl-app",
        })
    return events


def _logs(issuer: TestIssuer) -> dict[str, bytes]:
    lines = issuer.export(_events(), tenant="t-acme")
    early = issuer.export(_events()[:7], tenant="t-acme")

    def edited(index: int, change: Callable[[dict[str, Any]], None]) -> list[bytes]:
        line = json.loads(lines[index])
        change(line)
        return [*lines[:index], compact_json(line) + b"\n", *lines[index + 1:]]

    tampered = [
        ("edited-event", edited(4, lambda o: o["event"].update(child_ref="someone-else")), 5, "hash_mismatch"),
        ("dropped-line", [*lines[:4], *lines[5:]], 5, "seq_gap"),
        ("reordered-lines", [*lines[:4], lines[5], lines[4], *lines[6:]], 5, "seq_gap"),
        ("dropped-last-event", [*lines[:11], lines[12]], 12, "checkpoint_mismatch"),
        ("duplicate-member", [*lines[:2], lines[2].replace(b'"tenant":"t-acme"', b'"tenant":"t-acme","tenant":"t-x"'),
                              *lines[3:]], 3, "duplicate_member"),
        ("checkpoint-other-key", [*lines[:-1], _resigned_checkpoint(lines[-1], _key("attacker"), issuer)], 12,
         "bad_signature"),
    ]
    files = {"log/export.ndjson": b"".join(lines), "log/earlier-checkpoint.ndjson": early[-1]}
    index = []
    for name, content, seq, reason in tampered:
        files[f"log/tampered/{name}.ndjson"] = b"".join(content)
        index.append({"file": f"log/tampered/{name}.ndjson", "first_bad_seq": seq, "reason": reason})
    files["log/tampered.json"] = _json_file({
        "jwks": "keys/jwks.json", "genuine": "log/export.ndjson",
        "since_checkpoint": {"file": "log/earlier-checkpoint.ndjson",
                             "note": "the checkpoint of an earlier export of seq 1..7; log/export.ndjson extends it"},
        "tampered": index,
    })
    return files


def _resigned_checkpoint(line: bytes, key: Ed25519PrivateKey, issuer: TestIssuer) -> bytes:
    checkpoint = json.loads(line)
    claims = json.loads(_payload(checkpoint["jws"]))
    checkpoint["jws"] = issuer.sign(claims, header=json.loads(_header(checkpoint["jws"])), key=key)
    return compact_json(checkpoint) + b"\n"


def _header(token: str) -> bytes:
    return b64url_decode(token.split(".")[0])


def _receipts(issuer: TestIssuer) -> dict[str, bytes]:
    export = [json.loads(line) for line in issuer.export(_events(), tenant="t-acme")]
    entry = export[0]
    claims = {"tenant": "t-acme", "request_id": "cr-0001", "consent_id": "c-0001", "child_ref": "孩子-1",
              "guardian_ref": "g-1", "granted": ["pi_processing", "companion"], "declined": ["digital_human"],
              "recorded_at": "2026-09-21T08:01:01Z", "log": {"seq": entry["seq"], "hash": entry["hash"]}}
    forged = [
        ("granted-edited", issuer.sign({**json.loads(_payload(issuer.receipt(**claims))), "granted": ["virtual_intimacy"]},
                                       header=issuer.header("consent-receipt+jwt"), key=_key("attacker")), "bad_signature"),
        ("age-token-typ", issuer.sign(json.loads(_payload(issuer.receipt(**claims)))), "bad_header"),
        ("granted-and-declined-overlap", issuer.receipt(**{**claims, "declined": ["companion"]}), "bad_claims"),
        ("log-seq-missing", issuer.receipt(**{**claims, "log": {"hash": entry["hash"]}}), "bad_claims"),
    ]
    return {
        "receipts/receipt.jwt": issuer.receipt(**claims).encode("ascii") + b"\n",
        "receipts/forged.json": _json_file({"jwks": "keys/jwks.json", "receipts": [
            {"name": name, "token": token, "reason": reason} for name, token, reason in forged]}),
    }


def build() -> dict[str, bytes]:
    """Every vector file, by its path relative to this folder."""
    issuer = TestIssuer(ISSUER, audience=AUDIENCE, clock=lambda: NOW, key=_key("issuer"))
    listing, forged_lists = _status_lists(issuer)
    return {
        "keys/jwks.json": _json_file(issuer.jwks()),
        "keys/issuer-private.jwk.json": _json_file(_private_jwk(issuer)),
        "tokens/genuine.json": _json_file(_tokens(issuer)),
        "tokens/forged.json": _json_file(_forged(issuer)),
        "status-lists/1.jwt": listing,
        "status-lists/forged.json": _json_file(forged_lists),
        **_logs(issuer),
        **_receipts(issuer),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report stale files")
    args = parser.parse_args()
    stale = [path for path, data in build().items() if not (HERE / path).is_file() or (HERE / path).read_bytes() != data]
    if args.check:
        for path in stale:
            print(f"stale: verifier/vectors/{path}")
        return 1 if stale else 0
    for path, data in build().items():
        (HERE / path).parent.mkdir(parents=True, exist_ok=True)
        (HERE / path).write_bytes(data)
    print(f"wrote {len(stale)} changed file(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
