"""agegate-verify: plain, gzip and stdin exports, exit codes, --since-checkpoint, receipts, tokens."""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from agegate_verifier.cli import main
from agegate_verifier.testing import TestIssuer

N = 8


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def run(*args: str, err: io.StringIO | None = None) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(args), out=out, err=err or io.StringIO())
    return code, out.getvalue()


@pytest.fixture
def files(tmp_path: Path, exports: Any, signer: Any) -> dict[str, str]:
    lines = exports.export(N)
    paths = {"plain": tmp_path / "log.ndjson", "gzip": tmp_path / "log.ndjson.gz", "jwks": tmp_path / "jwks.json"}
    paths["plain"].write_bytes(b"".join(lines))
    paths["gzip"].write_bytes(gzip.compress(b"".join(lines)))
    paths["jwks"].write_text(json.dumps(signer.jwks))
    return {name: str(path) for name, path in paths.items()}


@pytest.mark.parametrize("kind", ["plain", "gzip"])
def test_a_plain_or_gzip_export_verifies(files: dict[str, str], kind: str) -> None:
    code, out = run("log", files[kind], "--jwks", files["jwks"])
    assert code == 0 and out.startswith(f"OK: tenant t-acme, seq 1..{N}, {N} events, head ")


@pytest.mark.parametrize("kind", ["plain", "gzip"])
def test_an_export_on_stdin_verifies(files: dict[str, str], kind: str) -> None:
    with open(files[kind], "rb") as export:
        done = subprocess.run([sys.executable, "-m", "agegate_verifier.cli", "log", "-", "--jwks", files["jwks"]],
                              stdin=export, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0 and done.stdout.startswith("OK: tenant t-acme"), done.stdout + done.stderr
    assert done.stderr == ""  # stderr is no terminal: no progress line


@pytest.mark.parametrize(
    "data",
    [b"\x1f\x8b\x08\x00garbage that is no gzip stream", b"\x00\x01\x02\xff\xfe binary\n{}\n",
     b"\xff\xd8\xff\xe0 a JPEG, say\n", gzip.compress(b'{"kind":"event"}\n')[:-12]],
    ids=["broken-gzip", "binary", "not-utf8", "truncated-gzip"],
)
def test_unreadable_input_is_exit_2_not_a_tampering_verdict(files: dict[str, str], tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "garbage"
    path.write_bytes(data)
    code, out = run("log", str(path), "--jwks", files["jwks"])
    assert code == 2 and out.startswith("ERROR: cannot read input"), out


def test_a_tampered_gzip_export_is_exit_1_naming_the_seq(files: dict[str, str], tmp_path: Path, exports: Any) -> None:
    lines = exports.export(N)
    del lines[3]
    path = tmp_path / "tampered.ndjson.gz"
    path.write_bytes(gzip.compress(b"".join(lines)))
    code, out = run("log", str(path), "--jwks", files["jwks"])
    assert (code, out) == (1, "FAIL at seq 4 (line 4): seq_gap: expected seq 4, found 5\n")


def test_a_progress_line_goes_to_a_terminal_and_is_cleared(files: dict[str, str]) -> None:
    err = Terminal()
    code, _ = run("log", files["plain"], "--jwks", files["jwks"], err=err)
    assert code == 0 and err.getvalue().startswith("\ragegate-verify: ") and err.getvalue().endswith("\r\x1b[K")


# --since-checkpoint (contract section 16) ----------------------------------------------


def checkpoint_of(lines: list[bytes]) -> str:
    return lines[-1].decode()


@pytest.mark.parametrize("form", ["line", "jws", "file"])
def test_a_new_export_extends_an_old_checkpoint(files: dict[str, str], exports: Any, tmp_path: Path, form: str) -> None:
    old = checkpoint_of(exports.export(5))
    value = {"line": old, "jws": json.loads(old)["jws"], "file": str(tmp_path / "old.ndjson")}[form]
    (tmp_path / "old.ndjson").write_text(old)
    code, out = run("log", files["plain"], "--jwks", files["jwks"], "--since-checkpoint", value)
    assert code == 0 and "OK: extends the signed checkpoint at seq 5" in out


def test_an_export_starting_right_after_the_old_checkpoint_extends_it(exports: Any, tmp_path: Path,
                                                                      files: dict[str, str]) -> None:
    (tmp_path / "new.ndjson").write_bytes(b"".join(exports.export(N, start=6)))
    code, out = run("log", str(tmp_path / "new.ndjson"), "--jwks", files["jwks"], "--since-checkpoint",
                    checkpoint_of(exports.export(5)))
    assert code == 0, out


def test_a_rewritten_history_fails_even_with_a_valid_new_checkpoint(exports: Any, tmp_path: Path,
                                                                    files: dict[str, str]) -> None:
    old = checkpoint_of(exports.export(5, tenant="t-acme"))
    rewritten = exports.export(N, nonascii=True)  # another, validly signed history of t-acme
    (tmp_path / "new.ndjson").write_bytes(b"".join(rewritten))
    assert run("log", str(tmp_path / "new.ndjson"), "--jwks", files["jwks"])[0] == 0
    code, out = run("log", str(tmp_path / "new.ndjson"), "--jwks", files["jwks"], "--since-checkpoint", old)
    assert code == 1 and out.startswith("FAIL at seq 5 (line 5): history_rewritten"), out


def test_a_truncated_history_fails(exports: Any, tmp_path: Path, files: dict[str, str]) -> None:
    (tmp_path / "new.ndjson").write_bytes(b"".join(exports.export(4)))
    code, out = run("log", str(tmp_path / "new.ndjson"), "--jwks", files["jwks"], "--since-checkpoint",
                    checkpoint_of(exports.export(6)))
    assert code == 1 and "FAIL at seq 6" in out and "history_truncated" in out


def test_an_export_that_starts_after_the_old_checkpoint_cannot_show_it(exports: Any, tmp_path: Path,
                                                                        files: dict[str, str]) -> None:
    (tmp_path / "new.ndjson").write_bytes(b"".join(exports.export(N, start=7)))
    code, out = run("log", str(tmp_path / "new.ndjson"), "--jwks", files["jwks"], "--since-checkpoint",
                    checkpoint_of(exports.export(5)))
    assert code == 1 and "checkpoint_not_covered" in out


def test_an_old_checkpoint_of_another_tenant_fails(exports: Any, files: dict[str, str]) -> None:
    code, out = run("log", files["plain"], "--jwks", files["jwks"], "--since-checkpoint",
                    checkpoint_of(exports.export(5, tenant="t-other")))
    assert code == 1 and "tenant_mismatch" in out


def test_an_old_checkpoint_whose_key_was_retired_is_taken_as_kept(exports: Any, files: dict[str, str],
                                                                 new_signer: Any) -> None:
    old = checkpoint_of(exports.export(5, signer=new_signer()))
    code, out = run("log", files["plain"], "--jwks", files["jwks"], "--since-checkpoint", old)
    assert code == 0 and "extends the kept (its key is no longer published) checkpoint at seq 5" in out


def test_a_forged_old_checkpoint_under_a_published_kid_is_unusable(exports: Any, files: dict[str, str],
                                                                  signer: Any, new_signer: Any) -> None:
    impostor = new_signer()
    impostor.kid = signer.kid
    code, out = run("log", files["plain"], "--jwks", files["jwks"], "--since-checkpoint",
                    checkpoint_of(exports.export(5, signer=impostor)))
    assert code == 2 and "bad_signature" in out


# receipts and tokens ----------------------------------------------------------------------


def test_a_receipt_verifies_and_a_forged_one_is_exit_1(tmp_path: Path) -> None:
    issuer = TestIssuer()
    (tmp_path / "jwks.json").write_text(json.dumps(issuer.jwks()))
    (tmp_path / "receipt.jwt").write_text(issuer.receipt() + "\n")
    code, out = run("receipt", str(tmp_path / "receipt.jwt"), "--jwks", str(tmp_path / "jwks.json"))
    assert code == 0 and out.startswith("OK: receipt of tenant t1, request cr-1, granted ['companion']")
    stranger = TestIssuer()
    code, out = run("receipt", stranger.receipt(), "--jwks", str(tmp_path / "jwks.json"))
    assert code == 1 and out.startswith("INVALID: unknown_kid")


@pytest.fixture
def live_issuer() -> Iterator[TestIssuer]:
    """A TestIssuer published over real HTTP on a loopback port."""
    routes: dict[str, bytes] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            body = routes.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    issuer = TestIssuer(f"http://127.0.0.1:{httpd.server_address[1]}")
    routes["/.well-known/jwks.json"] = json.dumps(issuer.jwks()).encode()
    routes["/v1/status-lists/1"] = issuer.status_list_token(issuer.status_uri(), [0, 1]).encode()
    yield issuer
    httpd.shutdown()
    httpd.server_close()


def test_a_token_is_checked_against_the_live_issuer(live_issuer: TestIssuer) -> None:
    where = ("--issuer", live_issuer.url + "/", "--audience", live_issuer.audience)
    code, out = run("token", live_issuer.token(), *where, "--feature", "companion")
    assert code == 0 and out.startswith('ALLOW: {"feature": "companion", "decision": "allow"')
    code, out = run("token", live_issuer.token(), *where, "--feature", "virtual_intimacy")
    assert code == 1 and out.startswith("DENY:")
    revoked = live_issuer.token(status={"status_list": {"idx": 1, "uri": live_issuer.status_uri()}})
    assert run("token", revoked, *where)[1].startswith("INVALID: revoked")


def test_an_unreachable_issuer_is_exit_2() -> None:
    issuer = TestIssuer("http://127.0.0.1:9")
    code, out = run("token", issuer.token(), "--issuer", issuer.url, "--audience", issuer.audience)
    assert code == 2 and out.startswith("ERROR: jwks_unavailable")
