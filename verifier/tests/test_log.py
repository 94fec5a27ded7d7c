"""The offline log verifier against honest and tampered exports: each failure names its seq."""

from __future__ import annotations

import base64
import io
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from agegate_verifier._inputs import MAX_JWKS_BYTES, Unreadable, load_jwks
from agegate_verifier._lines import MAX_LINE_BYTES
from agegate_verifier.chain import link_hash
from agegate_verifier.cli import main
from agegate_verifier.log import ExportInvalid, ExportReport, JWKSInvalid, verify_export

N = 8
K = 4


def edited(line: bytes, change: Callable[[dict[str, Any]], None]) -> bytes:
    obj = json.loads(line)
    change(obj)
    return json.dumps(obj, ensure_ascii=False).encode() + b"\n"


def rejection(lines: Any, jwks: dict[str, Any], **kwargs: Any) -> ExportInvalid:
    with pytest.raises(ExportInvalid) as caught:
        verify_export(lines, jwks, **kwargs)
    return caught.value


def b64(obj: Any) -> str:
    raw = obj if isinstance(obj, bytes) else json.dumps(obj, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


# Honest exports


def test_a_whole_export_verifies_and_reports_what_it_proves(exports: Any, signer: Any, parser: str) -> None:
    lines = exports.export(N)
    head = json.loads(lines[-2])["hash"]
    assert verify_export(lines, signer.jwks, issuer="https://agegate.test") == ExportReport(
        tenant="t-acme", first_seq=1, last_seq=N, count=N, head=head, kid=signer.kid
    )


def test_an_export_starting_mid_chain_verifies(exports: Any, signer: Any) -> None:
    report = verify_export(exports.export(N, start=K, nonascii=True), signer.jwks)
    assert (report.first_seq, report.last_seq, report.count) == (K, N, N - K + 1)


def test_an_empty_export_verifies_at_the_chain_tip_before_the_window(
    exports: Any, signer: Any
) -> None:
    report = verify_export(exports.export(K - 1, start=K), signer.jwks)
    assert (report.first_seq, report.last_seq, report.count) == (K, K - 1, 0)
    assert report.head == exports.chain(K - 1)[-1].hash


def test_an_empty_export_of_an_empty_log_verifies_at_genesis(exports: Any, signer: Any) -> None:
    report = verify_export(exports.export(0), signer.jwks)
    assert (report.first_seq, report.last_seq, report.count, report.head) == (1, 0, 0, "0" * 64)


def test_lines_may_be_str_as_well_as_bytes(exports: Any, signer: Any) -> None:
    assert verify_export([l.decode() for l in exports.export(N)], signer.jwks).count == N


def test_the_verifier_stops_reading_at_the_first_bad_line(exports: Any, signer: Any) -> None:
    lines = exports.export(N)
    lines[K - 1] = edited(lines[K - 1], lambda o: o["event"].update(scopes=[]))
    read: list[int] = []

    def stream() -> Iterator[bytes]:
        for i, line in enumerate(lines):
            read.append(i)
            yield line

    assert rejection(stream(), signer.jwks).seq == K
    assert len(read) == K


# Tampered events: (reason, seq named)


def test_an_edited_event_is_named_by_its_seq(exports: Any, signer: Any) -> None:
    lines = exports.export(N)
    lines[K - 1] = edited(lines[K - 1], lambda o: o["event"].update(child_ref="u-999"))
    error = rejection(lines, signer.jwks)
    assert (error.seq, error.reason, error.line_no) == (K, "hash_mismatch", K)


def test_an_edited_and_rehashed_event_breaks_the_next_link_naming_the_edited_seq(
    exports: Any, signer: Any
) -> None:
    lines = exports.export(N)

    def rehash(o: dict[str, Any]) -> None:
        o["event"]["scopes"] = ["companion"]
        o["hash"] = link_hash(o["prev"], o["event"])

    lines[K - 1] = edited(lines[K - 1], rehash)
    error = rejection(lines, signer.jwks)
    assert (error.seq, error.reason, error.line_no) == (K, "prev_mismatch", K + 1)


def test_a_dropped_line_names_the_missing_seq(exports: Any, signer: Any) -> None:
    lines = exports.export(N)
    del lines[K - 1]
    error = rejection(lines, signer.jwks)
    assert (error.seq, error.reason) == (K, "seq_gap")


def test_a_dropped_last_event_names_its_seq_at_the_checkpoint(exports: Any, signer: Any) -> None:
    lines = exports.export(N)
    del lines[N - 1]
    error = rejection(lines, signer.jwks)
    assert (error.seq, error.reason, error.line_no) == (N, "checkpoint_mismatch", N)


def test_a_dropped_first_line_is_caught_by_the_signed_count(exports: Any, signer: Any) -> None:
    lines = exports.export(N, start=K)
    del lines[0]
    error = rejection(lines, signer.jwks)
    assert (error.seq, error.reason) == (K, "checkpoint_mismatch")


def test_reordered_lines_name_the_first_seq_out_of_order(exports: Any, signer: Any) -> None:
    lines = exports.export(N)
    lines[K - 1], lines[K] = lines[K], lines[K - 1]
    error = rejection(lines, signer.jwks)
    assert (error.seq, error.reason, error.line_no) == (K, "seq_gap", K)


def test_a_duplicated_line_names_the_seq_it_repeats(exports: Any, signer: Any) -> None:
    lines = exports.export(N)
    lines.insert(K, lines[K - 1])
    error = rejection(lines, signer.jwks)
    assert (error.seq, error.reason, error.line_no) == (K, "seq_not_increasing", K + 1)


def test_an_inserted_forged_line_names_the_seq_it_usurps(exports: Any, signer: Any) -> None:
    lines = exports.export(N)

    def forge(o: dict[str, Any]) -> None:
        o["seq"] = K + 1
        o["prev"] = json.loads(lines[K - 1])["hash"]
        o["event"]["type"] = "withdrawn"
        o["hash"] = link_hash(o["prev"], o["event"])

    lines.insert(K, edited(lines[K - 1], forge))
    error = rejection(lines, signer.jwks)
    assert (error.seq, error.reason) == (K + 1, "seq_not_increasing")


def test_a_forged_line_with_the_rest_renumbered_breaks_the_chain_after_it(
    exports: Any, signer: Any
) -> None:
    lines = exports.export(N)
    forged = edited(lines[K - 1], lambda o: o.update(seq=K + 1, prev=o["hash"]))
    forged = edited(forged, lambda o: o.update(hash=link_hash(o["prev"], o["event"])))
    renumbered = [edited(l, lambda o: o.update(seq=o["seq"] + 1)) for l in lines[K:-1]]
    error = rejection(lines[:K] + [forged] + renumbered + lines[-1:], signer.jwks)
    assert (error.seq, error.reason) == (K + 1, "prev_mismatch")


def test_a_duplicate_json_member_is_refused(exports: Any, signer: Any, parser: str) -> None:
    lines = exports.export(N)
    lines[K - 1] = lines[K - 1].replace(b'"tenant":"t-acme"', b'"tenant":"t-acme","tenant":"t-x"')
    error = rejection(lines, signer.jwks)
    assert (error.seq, error.reason) == (K, "duplicate_member")


def test_a_truncated_line_names_the_seq_expected_there(exports: Any, signer: Any) -> None:
    lines = exports.export(N)
    error = rejection(lines[: K - 1] + [lines[K - 1][:100]], signer.jwks)
    assert (error.seq, error.reason, error.line_no) == (K, "malformed_json", K)


def test_a_file_truncated_between_lines_misses_its_checkpoint(exports: Any, signer: Any) -> None:
    error = rejection(exports.export(N)[:K], signer.jwks)
    assert (error.seq, error.reason, error.line_no) == (K, "missing_checkpoint", K + 1)


def test_an_empty_file_misses_its_checkpoint(signer: Any) -> None:
    error = rejection([], signer.jwks)
    assert (error.seq, error.reason, error.line_no) == (None, "missing_checkpoint", 1)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda o: o["event"].update(type=""), "bad_event"),
        (lambda o: o["event"].update(type=7), "bad_event"),
        (lambda o: o["event"].pop("tenant"), "bad_event"),
        (lambda o: o["event"].update(client_id=2**60), "bad_event"),
        (lambda o: o["event"].update(client_id=0.5), "hash_mismatch"),
        (lambda o: o["event"].update(extra=1), "hash_mismatch"),
        (lambda o: o["event"].pop("policy"), "hash_mismatch"),
        (lambda o: o["event"].update(type="updated"), "hash_mismatch"),
        (lambda o: o["event"].update(tenant="t-other"), "tenant_mismatch"),
        (lambda o: o.update(hash=o["hash"].upper()), "bad_line"),
        (lambda o: o.update(extra=True), "bad_line"),
    ],
)
def test_a_malformed_event_line_is_named_by_its_seq(
    exports: Any, signer: Any, change: Callable[[dict[str, Any]], None], reason: str, parser: str
) -> None:
    lines = exports.export(N)
    lines[K - 1] = edited(lines[K - 1], change)
    error = rejection(lines, signer.jwks)
    assert (error.seq, error.reason) == (K, reason)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"\n", "malformed_json"),
        (b'{"kind":"event","seq":NaN}\n', "malformed_json"),
        (b"[" * 5000 + b"]" * 5000, "malformed_json"),
        ('{"kind":"event"}'.encode("utf-16"), "malformed_json"),
        (b"[1]\n", "bad_line"),
        (b'{"kind":"note"}\n', "bad_line"),
        (b'"' + b"a" * MAX_LINE_BYTES + b'"\n', "line_too_long"),
    ],
)
def test_a_line_that_is_not_an_export_line_names_the_seq_expected(
    exports: Any, signer: Any, line: bytes, reason: str
) -> None:
    lines = exports.export(N)
    lines.insert(K - 1, line)
    error = rejection(lines, signer.jwks)
    assert (error.seq, error.reason, error.line_no) == (K, reason, K)


def test_a_first_line_claiming_seq_1_must_start_at_genesis(exports: Any, signer: Any) -> None:
    lines = exports.export(N, start=K)
    lines[0] = edited(lines[0], lambda o: o.update(seq=1))
    error = rejection(lines, signer.jwks)
    assert (error.seq, error.reason) == (1, "bad_genesis")


# The checkpoint


def test_a_missing_checkpoint_names_the_last_seq(exports: Any, signer: Any) -> None:
    error = rejection(exports.export(N)[:-1], signer.jwks)
    assert (error.seq, error.reason) == (N, "missing_checkpoint")


@pytest.mark.parametrize("extra", ["event", "checkpoint"])
def test_nothing_may_follow_the_checkpoint(exports: Any, signer: Any, extra: str) -> None:
    lines = exports.export(N)
    lines.append(lines[-1] if extra == "checkpoint" else lines[0])
    error = rejection(lines, signer.jwks)
    assert (error.seq, error.reason, error.line_no) == (N, "line_after_checkpoint", N + 2)


def test_a_checkpoint_signed_by_another_key_under_our_kid_is_refused(
    exports: Any, signer: Any, new_signer: Any
) -> None:
    impostor = new_signer()
    impostor.kid = signer.kid
    error = rejection(exports.export(N, signer=impostor), signer.jwks)
    assert (error.seq, error.reason, error.line_no) == (N, "bad_signature", N + 1)


def test_a_checkpoint_signed_by_an_unpublished_key_is_refused(
    exports: Any, signer: Any, new_signer: Any
) -> None:
    error = rejection(exports.export(N, signer=new_signer()), signer.jwks)
    assert (error.seq, error.reason) == (N, "unknown_kid")


def test_a_key_published_for_another_use_does_not_verify(exports: Any, signer: Any) -> None:
    with pytest.raises(JWKSInvalid):
        verify_export(exports.export(N), {"keys": [{**signer.jwk, "use": "enc"}]})


@pytest.mark.parametrize("field", ["head", "count", "seq"])
def test_a_signed_checkpoint_with_a_wrong_value_names_the_seq(
    exports: Any, signer: Any, field: str
) -> None:
    lines = exports.export(N)
    cp = json.loads(lines[-1])
    wrong = {"head": {"head": "ab" * 32}, "count": {"count": N - 1},
             "seq": {"seq": N + 1, "count": N + 1}}[field]
    lines[-1] = exports.checkpoint(**{**{k: cp[k] for k in ("seq", "head", "count")}, **wrong})
    error = rejection(lines, signer.jwks)
    # A count one short means the first line (seq 1) is one the checkpoint does not cover.
    assert (error.seq, error.reason) == ({"head": N, "count": 1, "seq": N + 1}[field],
                                         "checkpoint_mismatch")


def test_a_checkpoint_line_edited_to_cover_a_dropped_tail_fails_on_the_claims(
    exports: Any, signer: Any
) -> None:
    lines = exports.export(N)
    signed_jws = json.loads(lines[-1])["jws"]
    last = json.loads(lines[-3])
    lines = lines[:-2] + [exports.checkpoint_line(seq=N - 1, head=last["hash"], count=N - 1,
                                          jws=signed_jws)]
    error = rejection(lines, signer.jwks)
    assert (error.seq, error.reason) == (N - 1, "claims_mismatch")


def test_an_empty_export_claiming_events_is_refused(exports: Any, signer: Any) -> None:
    chain = exports.chain(K)
    lines = [exports.checkpoint(seq=K, head=chain[-1].hash, count=2)]
    error = rejection(lines, signer.jwks)
    assert (error.seq, error.reason) == (K - 1, "checkpoint_mismatch")


@pytest.mark.parametrize(
    "line",
    [
        {"kind": "checkpoint", "seq": N, "head": "ab" * 32, "count": N},
        {"kind": "checkpoint", "seq": "8", "head": "ab" * 32, "count": N, "jws": "a.b.c"},
        {"kind": "checkpoint", "seq": N, "head": "0" * 64, "count": N, "jws": "a.b.c"},
        {"kind": "checkpoint", "seq": N, "head": "ab" * 32, "count": N + 1, "jws": "a.b.c"},
    ],
)
def test_a_malformed_checkpoint_line_is_refused(
    exports: Any, signer: Any, line: dict[str, Any]
) -> None:
    lines = exports.export(N)[:-1] + [json.dumps(line).encode()]
    error = rejection(lines, signer.jwks)
    assert error.seq == N and error.reason in {"bad_line", "bad_checkpoint"}


def test_a_checkpoint_for_another_tenant_is_refused(exports: Any, signer: Any) -> None:
    lines = exports.export(N, claims={"tenant": "t-other"})
    assert rejection(lines, signer.jwks).reason == "tenant_mismatch"


def test_the_issuer_is_checked_when_given(exports: Any, signer: Any) -> None:
    error = rejection(exports.export(N), signer.jwks, issuer="https://elsewhere.test")
    assert (error.seq, error.reason) == (N, "wrong_issuer")


@pytest.mark.parametrize(
    "claims",
    [{"seq": True, "count": True}, {"iat": "now"}, {"iss": ["https://agegate.test"]},
     {"tenant": None}],
)
def test_checkpoint_claims_of_the_wrong_type_are_refused(
    exports: Any, signer: Any, claims: dict[str, Any]
) -> None:
    chain = exports.chain(1)
    lines = exports.export(1)[:-1]
    lines.append(exports.checkpoint(seq=1, head=chain[0].hash, count=1, claims=claims))
    assert rejection(lines, signer.jwks).reason == "bad_claims"


def _resigned(signer: Any, header: dict[str, Any], claims: dict[str, Any]) -> str:
    signing_input = f"{b64(header)}.{b64(claims)}"
    return f"{signing_input}.{b64(signer.key.sign(signing_input.encode()))}"


def _header(signer: Any, **changes: Any) -> dict[str, Any]:
    return {"alg": "EdDSA", "typ": "log-checkpoint+jwt", "kid": signer.kid, **changes}


@pytest.mark.parametrize(
    ("make_jws", "reason"),
    [
        (lambda s, c: _resigned(s, _header(s, alg="none"), c), "bad_header"),
        (lambda s, c: _resigned(s, _header(s, alg="eddsa"), c), "bad_header"),
        (lambda s, c: _resigned(s, _header(s, typ="JWT"), c), "bad_header"),
        (lambda s, c: _resigned(s, _header(s, typ="statuslist+jwt"), c), "bad_header"),
        (lambda s, c: _resigned(s, _header(s, crit=[]), c), "bad_header"),
        (lambda s, c: _resigned(s, _header(s, jwk=s.jwk), c), "bad_header"),
        (lambda s, c: _resigned(s, _header(s, jku="https://evil.test/jwks"), c), "bad_header"),
        (lambda s, c: _resigned(s, {"alg": "EdDSA", "typ": "log-checkpoint+jwt"}, c),
         "bad_header"),
        (lambda s, c: _resigned(s, _header(s, kid="../../etc/passwd"), c), "unknown_kid"),
        (lambda s, c: _resigned(s, _header(s), c) + "=", "bad_jws"),
        (lambda s, c: _resigned(s, _header(s), c)[:-1] + "=", "bad_jws"),
        (lambda s, c: _resigned(s, _header(s), c) + ".x", "bad_jws"),
        (lambda s, c: b64(json.dumps(_header(s)).replace('"alg"', '"alg":"none","alg"').encode())
         + ".e30.AA", "bad_jws"),
        (lambda s, c: "." * 2 + "A" * 5000, "bad_jws"),
        (lambda s, c: _resigned(s, _header(s), c).rsplit(".", 1)[0] + ".", "bad_signature"),
    ],
)
def test_checkpoint_jws_attacks_are_refused(
    exports: Any, signer: Any, make_jws: Callable[[Any, dict[str, Any]], str], reason: str
) -> None:
    lines = exports.export(N)
    cp = json.loads(lines[-1])
    claims = {"iss": "https://agegate.test", "tenant": "t-acme", "seq": N, "head": cp["head"],
              "count": N, "iat": 1}
    lines[-1] = exports.checkpoint_line(seq=N, head=cp["head"], count=N, jws=make_jws(signer, claims))
    error = rejection(lines, signer.jwks)
    assert (error.seq, error.reason) == (N, reason)


def test_a_trailing_bit_variant_of_the_signature_is_refused(exports: Any, signer: Any) -> None:
    lines = exports.export(N)
    cp = json.loads(lines[-1])
    # 64 bytes end in a 2-char group with 4 unused bits; flip the lowest one.
    last = cp["jws"][-1]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    twin = alphabet[alphabet.index(last) ^ 1]
    lines[-1] = exports.checkpoint_line(seq=N, head=cp["head"], count=N, jws=cp["jws"][:-1] + twin)
    assert rejection(lines, signer.jwks).reason == "bad_jws"


# The JWKS and the command-line entry point


@pytest.mark.parametrize(
    "jwks",
    [{}, {"keys": {}}, {"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "AAAA", "kid": "k"}]},
     {"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "A" * 43}]}],
)
def test_an_unusable_jwks_is_bad_input_not_a_bad_export(
    exports: Any, jwks: dict[str, Any]
) -> None:
    with pytest.raises(JWKSInvalid):
        verify_export(exports.export(1), jwks)


def test_keys_of_other_types_in_the_jwks_are_ignored(exports: Any, signer: Any) -> None:
    jwks = {"keys": [{"kty": "RSA", "kid": signer.kid, "n": "x", "e": "AQAB"}, signer.jwk]}
    assert verify_export(exports.export(N), jwks).kid == signer.kid


def _write(tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def test_the_log_command_prints_ok_and_returns_0(exports: Any, signer: Any, tmp_path: Path) -> None:
    lines = exports.export(N)
    export = _write(tmp_path, "log.ndjson", b"".join(lines))
    jwks = _write(tmp_path, "jwks.json", json.dumps(signer.jwks).encode())
    out = io.StringIO()
    assert main(["log", export, "--jwks", jwks], out=out) == 0
    head = json.loads(lines[-1])["head"]
    assert out.getvalue() == (f"OK: tenant t-acme, seq 1..{N}, {N} events, head {head}, "
                              f"checkpoint signed by kid {signer.kid}\n")


def test_the_log_command_reports_an_empty_export(exports: Any, signer: Any, tmp_path: Path) -> None:
    export = _write(tmp_path, "log.ndjson", b"".join(exports.export(0)))
    jwks = _write(tmp_path, "jwks.json", json.dumps(signer.jwks).encode())
    out = io.StringIO()
    assert main(["log", export, "--jwks", jwks], out=out) == 0
    assert out.getvalue().startswith("OK: tenant t-acme, no events after seq 0, 0 events, ")


def test_the_log_command_prints_the_first_failure_and_returns_1(
    exports: Any, signer: Any, tmp_path: Path
) -> None:
    lines = exports.export(N)
    del lines[K - 1]
    export = _write(tmp_path, "log.ndjson", b"".join(lines))
    jwks = _write(tmp_path, "jwks.json", json.dumps(signer.jwks).encode())
    out = io.StringIO()
    assert main(["log", export, "--jwks", jwks], out=out) == 1
    expected = f"FAIL at seq {K} (line {K}): seq_gap: expected seq {K}, found {K + 1}\n"
    assert out.getvalue() == expected


def test_the_log_command_refuses_an_over_long_line_without_reading_it_whole(
    signer: Any, tmp_path: Path
) -> None:
    export = _write(tmp_path, "log.ndjson", b"[" + b"1," * MAX_LINE_BYTES + b"1]\n")
    jwks = _write(tmp_path, "jwks.json", json.dumps(signer.jwks).encode())
    out = io.StringIO()
    assert main(["log", export, "--jwks", jwks], out=out) == 1
    assert out.getvalue() == "FAIL at seq - (line 1): line_too_long\n"


@pytest.mark.parametrize(
    ("export_data", "jwks_data"),
    [(None, b'{"keys": []}'), (b"", None), (b"", b"not json"), (b"", b'{"keys": 1}'),
     (b"", b'{"keys": [], "keys": []}'), (b"", b" " * MAX_JWKS_BYTES + b'{"keys": []}')],
)
def test_the_log_command_returns_2_on_unreadable_input(
    tmp_path: Path, export_data: bytes | None, jwks_data: bytes | None
) -> None:
    export = str(tmp_path / "missing.ndjson")
    if export_data is not None:
        export = _write(tmp_path, "log.ndjson", export_data)
    jwks = str(tmp_path / "missing.json")
    if jwks_data is not None:
        jwks = _write(tmp_path, "jwks.json", jwks_data)
    out = io.StringIO()
    assert main(["log", export, "--jwks", jwks], out=out) == 2
    assert out.getvalue().startswith("ERROR: ")


@pytest.fixture
def jwks_server(signer: Any) -> Iterator[str]:
    body = json.dumps(signer.jwks).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            self.send_response(200 if self.path == "/jwks.json" else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join()


def test_load_jwks_fetches_a_url(jwks_server: str, signer: Any) -> None:
    assert load_jwks(f"{jwks_server}/jwks.json") == signer.jwks
    with pytest.raises(Unreadable):
        load_jwks(f"{jwks_server}/nope")


def test_load_jwks_reads_a_file(tmp_path: Path, signer: Any) -> None:
    path = _write(tmp_path, "jwks.json", json.dumps(signer.jwks).encode())
    assert load_jwks(path) == signer.jwks
