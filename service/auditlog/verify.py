"""The regulator's offline verifier of a consent-log export (CONTRACT.md §8).

Reads the NDJSON stream line by line in constant memory, with no database and no service:
only the export and the service's JWKS. Every check that fails raises
:class:`ExportInvalid` naming the first seq the export fails to prove:

- a line that cannot be read: the seq expected there (None before the first event);
- a seq discontinuity (dropped, reordered, duplicated or inserted line): the lower of the
  seq expected and the seq found, i.e. the first position the chain does not cover;
- an event that does not hash to its ``hash``, or a bad event: that event's seq;
- a ``prev`` that is not the previous ``hash``: the previous seq, since either line may be
  the edited one (an editor who re-hashes event k breaks the link to k+1);
- a checkpoint whose seq or count disagrees with the lines: the first seq one side has and
  the other lacks; any other checkpoint failure: the last event's seq (the checkpoint's
  own seq for an empty export); a missing checkpoint: the last seq read, or None.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import IO, Any, NoReturn, TextIO

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from service.auditlog.chain import GENESIS, check_event, is_hash, link_hash
from service.auditlog.export import CHECKPOINT_CLAIMS, CHECKPOINT_TYP

# An event line is well under 2 KiB; the cap keeps one hostile line from eating memory.
MAX_LINE_BYTES = 64 * 1024
MAX_JWS_CHARS = 4096
MAX_JWKS_BYTES = 1024 * 1024
JWKS_TIMEOUT_SECONDS = 10

_EVENT_KEYS = frozenset({"kind", "seq", "event", "prev", "hash"})
_CHECKPOINT_KEYS = frozenset({"kind", "seq", "head", "count", "jws"})
_B64URL = re.compile(r"[A-Za-z0-9_-]*")

_Fail = Callable[..., NoReturn]


class ExportInvalid(Exception):
    """The export fails a check. ``reason`` is a stable code; ``detail`` is for humans."""

    def __init__(self, seq: int | None, reason: str, line_no: int, detail: str = "") -> None:
        super().__init__(f"seq {seq} (line {line_no}): {reason}{': ' + detail if detail else ''}")
        self.seq = seq
        self.reason = reason
        self.line_no = line_no
        self.detail = detail


class JWKSInvalid(ValueError):
    """The JWKS is not a usable JSON Web Key Set (bad input, not a bad export)."""


@dataclass(frozen=True)
class ExportReport:
    """What a valid export proves. For an empty export ``first_seq == last_seq + 1``."""

    tenant: str
    first_seq: int
    last_seq: int
    count: int
    head: str
    kid: str


class _DuplicateMember(ValueError):
    pass


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        # Two parsers may keep different copies of a duplicate (RFC 8259 leaves it open).
        raise _DuplicateMember("duplicate member name")
    return obj


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _strict_json(data: bytes | str) -> Any:
    """Parse UTF-8 JSON, refusing duplicate members and NaN/Infinity; raise ``ValueError``."""
    try:
        # Decode ourselves: json.loads(bytes) would also accept UTF-16 and UTF-32.
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        return json.loads(text, object_pairs_hook=_unique_members, parse_constant=_reject_constant)
    except RecursionError as e:
        raise ValueError("JSON nested too deeply") from e


def _ed25519_keys(jwks: Mapping[str, Any]) -> dict[str, Ed25519PublicKey]:
    """Return the JWKS's Ed25519 signing keys by kid; skip other key types."""
    keys_list = jwks.get("keys") if isinstance(jwks, Mapping) else None
    if not isinstance(keys_list, list):
        raise JWKSInvalid('JWKS must be an object with a "keys" array')
    keys: dict[str, Ed25519PublicKey] = {}
    for jwk in keys_list:
        if not isinstance(jwk, Mapping) or jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
            continue
        kid, x = jwk.get("kid"), jwk.get("x")
        if jwk.get("alg", "EdDSA") not in ("EdDSA", "Ed25519") or jwk.get("use", "sig") != "sig":
            continue
        if not isinstance(kid, str) or kid in keys:
            raise JWKSInvalid(f"Ed25519 key with a missing or repeated kid {kid!r}")
        raw = _b64url_decode(x) if isinstance(x, str) else None
        if raw is None or len(raw) != 32:
            raise JWKSInvalid(f"Ed25519 key {kid!r}: x is not 32 bytes of base64url")
        keys[kid] = Ed25519PublicKey.from_public_bytes(raw)
    return keys


def _b64url_decode(segment: str) -> bytes | None:
    """Decode canonical unpadded base64url, or return None (padding, stray bits, bad chars)."""
    if not _B64URL.fullmatch(segment) or len(segment) % 4 == 1:
        return None
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except binascii.Error:
        return None
    # Re-encoding catches non-zero trailing bits, which would give one value two spellings.
    return raw if base64.urlsafe_b64encode(raw).rstrip(b"=").decode() == segment else None


def _verified_jws(
    jws: object, keys: Mapping[str, Ed25519PublicKey], fail: _Fail
) -> tuple[str, dict[str, Any]]:
    """Return ``(kid, claims)`` of a checkpoint JWS whose signature verifies; else ``fail``."""
    if not isinstance(jws, str) or len(jws) > MAX_JWS_CHARS or jws.count(".") != 2:
        fail("bad_jws", "not a compact JWS of three segments within the size cap")
    segments = jws.split(".")
    raw_header, raw_claims, signature = (_b64url_decode(s) for s in segments)
    if raw_header is None or raw_claims is None or signature is None:
        fail("bad_jws", "a segment is not canonical unpadded base64url")
    try:
        header, claims = _strict_json(raw_header), _strict_json(raw_claims)
    except ValueError as e:
        fail("bad_jws", f"header or claims are not strict JSON: {e}")
    # Only these three members: jwk/jku/x5u/x5c/crit/cty must never steer verification.
    if not isinstance(header, dict) or header.keys() != {"alg", "typ", "kid"}:
        fail("bad_header", "header must hold exactly alg, typ and kid")
    if header["alg"] not in ("EdDSA", "Ed25519") or header["typ"] != CHECKPOINT_TYP:
        fail("bad_header", f"want alg EdDSA and typ {CHECKPOINT_TYP}")
    kid = header["kid"]
    key = keys.get(kid) if isinstance(kid, str) else None
    if key is None:
        fail("unknown_kid", f"no Ed25519 key {kid!r} in the JWKS")
    try:
        key.verify(signature, f"{segments[0]}.{segments[1]}".encode("ascii"))
    except InvalidSignature:
        fail("bad_signature", f"signature does not verify with key {kid!r}")
    if not isinstance(claims, dict) or claims.keys() != set(CHECKPOINT_CLAIMS):
        fail("bad_claims", f"claims must be exactly {list(CHECKPOINT_CLAIMS)}")
    # type() rather than isinstance: True must not pass for the integer 1.
    if not all(type(claims[name]) is int for name in ("seq", "count", "iat")):
        fail("bad_claims", "seq, count and iat must be integers")
    if not isinstance(claims["iss"], str) or not isinstance(claims["tenant"], str):
        fail("bad_claims", "iss and tenant must be strings")
    return kid, claims


class _Reader:
    """The state of one pass over an export: what has been proven so far."""

    def __init__(self) -> None:
        self.first_seq: int | None = None
        self.last_seq: int | None = None
        self.head = GENESIS
        self.count = 0
        self.tenant: str | None = None

    def event(self, line: dict[str, Any], line_no: int) -> None:
        seq, event, prev, hash_ = (line.get(k) for k in ("seq", "event", "prev", "hash"))
        expected = None if self.last_seq is None else self.last_seq + 1
        if line.keys() != _EVENT_KEYS or type(seq) is not int or seq < 1:
            raise ExportInvalid(expected, "bad_line", line_no, "not an event line")
        if not is_hash(prev) or not is_hash(hash_):
            raise ExportInvalid(seq, "bad_line", line_no, "prev and hash must be 64 lowercase hex")
        if expected is None:
            # An export may start mid-chain; only seq 1 may (and must) start from GENESIS.
            if (seq == 1) != (prev == GENESIS):
                raise ExportInvalid(seq, "bad_genesis", line_no, "prev is GENESIS iff seq is 1")
        elif seq != expected:
            reason = "seq_gap" if seq > expected else "seq_not_increasing"
            detail = f"expected seq {expected}, found {seq}"
            raise ExportInvalid(min(seq, expected), reason, line_no, detail)
        elif prev != self.head:
            raise ExportInvalid(self.last_seq, "prev_mismatch", line_no,
                                f"prev of seq {seq} is not the hash of seq {self.last_seq}")
        try:
            check_event(event)
            computed = link_hash(prev, event)
        except ValueError as e:
            raise ExportInvalid(seq, "bad_event", line_no, str(e)) from None
        if self.tenant is None:
            self.tenant = event["tenant"]
        elif event["tenant"] != self.tenant:
            raise ExportInvalid(seq, "tenant_mismatch", line_no, f"tenant is not {self.tenant!r}")
        if computed != hash_:
            raise ExportInvalid(seq, "hash_mismatch", line_no, "event does not hash to its hash")
        if self.first_seq is None:
            self.first_seq = seq
        self.last_seq, self.head, self.count = seq, hash_, self.count + 1

    def checkpoint(
        self, line: dict[str, Any], line_no: int, keys: Mapping[str, Ed25519PublicKey],
        issuer: str | None,
    ) -> ExportReport:
        seq, head, count = line.get("seq"), line.get("head"), line.get("count")
        if line.keys() != _CHECKPOINT_KEYS or type(seq) is not int or type(count) is not int:
            raise ExportInvalid(self.last_seq, "bad_line", line_no, "not a checkpoint line")
        if not is_hash(head) or not 0 <= count <= seq or (seq == 0) != (head == GENESIS):
            raise ExportInvalid(self.last_seq, "bad_checkpoint", line_no,
                                "seq, head and count do not describe a chain")
        default_at = seq if self.last_seq is None else self.last_seq

        def fail(reason: str, detail: str, at: int | None = None) -> NoReturn:
            raise ExportInvalid(default_at if at is None else at, reason, line_no, detail)

        self._check_covers(seq, head, count, fail)
        kid, claims = _verified_jws(line.get("jws"), keys, fail)
        if (claims["seq"], claims["head"], claims["count"]) != (seq, head, count):
            fail("claims_mismatch", "signed seq/head/count differ from the checkpoint line")
        tenant = claims["tenant"]
        if self.tenant is not None and tenant != self.tenant:
            fail("tenant_mismatch", f"checkpoint signed for tenant {tenant!r}")
        if issuer is not None and claims["iss"] != issuer:
            fail("wrong_issuer", f"checkpoint issued by {claims['iss']!r}")
        first = seq + 1 if self.first_seq is None else self.first_seq
        return ExportReport(tenant=tenant, first_seq=first, last_seq=seq, count=count,
                            head=head, kid=kid)

    def _check_covers(self, seq: int, head: str, count: int, fail: _Fail) -> None:
        """Fail unless the checkpoint's seq/head/count are exactly what was read."""
        if self.first_seq is None or self.last_seq is None:
            if count != 0:
                fail("checkpoint_mismatch", f"count {count} but no event lines", seq - count + 1)
            return
        if seq != self.last_seq:
            # Dropped tail or appended line: the first seq one side has and the other lacks.
            fail("checkpoint_mismatch", f"checkpoint seq {seq}, last event seq {self.last_seq}",
                 min(seq, self.last_seq) + 1)
        if count != self.count:
            # Same last seq, other count: lines dropped from (or added at) the start.
            claimed_first = seq - count + 1
            at = claimed_first if 1 <= claimed_first < self.first_seq else self.first_seq
            fail("checkpoint_mismatch", f"checkpoint count {count}, {self.count} event lines", at)
        if head != self.head:
            fail("checkpoint_mismatch", f"checkpoint head is not the hash of seq {seq}")


def verify_export(lines: Iterable[bytes | str], jwks: Mapping[str, Any], *,
                  issuer: str | None = None) -> ExportReport:
    """Verify an export read line by line; return what it proves.

    Recomputes every hash, checks seq continuity and prev links, the event shape and tenant,
    that exactly one checkpoint closes the export, that its seq/head/count are what was read,
    and that its JWS verifies with an Ed25519 key of ``jwks`` and signs the same values
    (and ``iss == issuer`` when given). Holds one line at a time.

    Raises :class:`ExportInvalid` at the first failure (see the module docstring for the seq
    it names), and :class:`JWKSInvalid` when ``jwks`` is not a JWKS.
    """
    keys = _ed25519_keys(jwks)
    reader = _Reader()
    report: ExportReport | None = None
    line_no = 0
    for line_no, raw in enumerate(lines, start=1):
        expected = None if reader.last_seq is None else reader.last_seq + 1
        if report is not None:
            raise ExportInvalid(report.last_seq, "line_after_checkpoint", line_no)
        if len(raw) > MAX_LINE_BYTES:
            raise ExportInvalid(expected, "line_too_long", line_no)
        try:
            line = _strict_json(raw)
        except ValueError as e:
            reason = "duplicate_member" if isinstance(e, _DuplicateMember) else "malformed_json"
            raise ExportInvalid(expected, reason, line_no, str(e)) from None
        kind = line.get("kind") if isinstance(line, dict) else None
        if kind == "event":
            reader.event(line, line_no)
        elif kind == "checkpoint":
            report = reader.checkpoint(line, line_no, keys, issuer)
        else:
            raise ExportInvalid(expected, "bad_line", line_no, "kind is not event or checkpoint")
    if report is None:
        raise ExportInvalid(reader.last_seq, "missing_checkpoint", line_no + 1)
    return report


def load_jwks(source: str) -> dict[str, Any]:
    """Load a JWKS from a file path or an http(s) URL (10 s timeout, 1 MiB cap).

    Raises ``OSError`` when it cannot be read (``urllib.error.URLError`` included) and
    :class:`JWKSInvalid` when it is too large, not strict JSON, or has no ``keys`` array.
    """
    if source.startswith(("https://", "http://")):
        with urllib.request.urlopen(source, timeout=JWKS_TIMEOUT_SECONDS) as response:
            data = response.read(MAX_JWKS_BYTES + 1)
    else:
        with open(source, "rb") as f:
            data = f.read(MAX_JWKS_BYTES + 1)
    if len(data) > MAX_JWKS_BYTES:
        raise JWKSInvalid(f"JWKS larger than {MAX_JWKS_BYTES} bytes")
    try:
        jwks = _strict_json(data)
    except ValueError as e:
        raise JWKSInvalid(f"JWKS is not strict JSON: {e}") from None
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
        raise JWKSInvalid('JWKS must be an object with a "keys" array')
    return jwks


def _bounded_lines(f: IO[bytes]) -> Iterator[bytes]:
    # readline with a limit: an over-long line arrives as a MAX+1 chunk that verify_export
    # refuses, instead of being read whole into memory.
    while line := f.readline(MAX_LINE_BYTES + 1):
        yield line


def run_verify(path: str, jwks_source: str, out: TextIO, *, issuer: str | None = None) -> int:
    """Verify the export at ``path``, print one line to ``out``, return the exit code.

    0 when every check passes, 1 when the export fails verification, 2 when the export or
    the JWKS cannot be read or the JWKS is not usable.
    """
    try:
        jwks = load_jwks(jwks_source)
        with open(path, "rb") as f:
            report = verify_export(_bounded_lines(f), jwks, issuer=issuer)
    except ExportInvalid as e:
        at = "-" if e.seq is None else e.seq
        print(f"FAIL at seq {at} (line {e.line_no}): {e.reason}"
              f"{': ' + e.detail if e.detail else ''}", file=out)
        return 1
    except (OSError, JWKSInvalid) as e:
        print(f"ERROR: cannot read input: {e}", file=out)
        return 2
    span = (f"seq {report.first_seq}..{report.last_seq}" if report.count
            else f"no events after seq {report.last_seq}")
    print(f"OK: tenant {report.tenant}, {span}, {report.count} events, head {report.head}, "
          f"checkpoint signed by kid {report.kid}", file=out)
    return 0
