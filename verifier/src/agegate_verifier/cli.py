"""``agegate-verify``: check what agegate signed, offline, from a shell.

Exit codes: 0 valid, 1 invalid (the first bad ``seq`` or the reason is printed), 2 the input
could not be read or the answer could not be had (no JWKS, issuer unreachable).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from typing import TextIO

from ._inputs import Unreadable, export_lines, kept_text, load_jwks, text_argument
from ._verifier import Verifier
from .checkpoint import CheckpointInvalid, kept_checkpoint
from .errors import InvalidToken, JwksUnavailable, StatusUnavailable
from .log import ExportInvalid, JWKSInvalid, jwks_keys, verify_export
from .receipt import ReceiptInvalid, verify_receipt

VALID, INVALID, UNREADABLE = 0, 1, 2


class _Progress:
    """A line on stderr, rewritten in place, at most a few times a second."""

    def __init__(self, err: TextIO) -> None:
        self._err = err
        self._started = time.monotonic()
        self._shown = float("-inf")

    def __call__(self, lines: int) -> None:
        now = time.monotonic()
        if now - self._shown >= 0.25:
            self._shown = now
            rate = lines / max(now - self._started, 1e-9)
            self._err.write(f"\ragegate-verify: {lines:,} lines, {rate:,.0f} lines/s ")
            self._err.flush()

    def done(self) -> None:
        self._err.write("\r\x1b[K")
        self._err.flush()


def _log(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    progress = _Progress(err) if err.isatty() else None
    try:
        keys = jwks_keys(load_jwks(args.jwks))
        since = kept_checkpoint(kept_text(args.since_checkpoint), keys) if args.since_checkpoint else None
        try:
            report = verify_export(export_lines(args.file), keys, issuer=args.issuer, since=since, progress=progress)
        finally:
            if progress is not None:
                progress.done()
    except ExportInvalid as e:
        at = "-" if e.seq is None else e.seq
        print(f"FAIL at seq {at} (line {e.line_no}): {e.reason}{': ' + e.detail if e.detail else ''}", file=out)
        return INVALID
    except CheckpointInvalid as e:
        print(f"ERROR: the kept checkpoint is not usable: {e}", file=out)
        return UNREADABLE
    except (Unreadable, JWKSInvalid) as e:
        print(f"ERROR: cannot read input: {e}", file=out)
        return UNREADABLE
    span = f"seq {report.first_seq}..{report.last_seq}" if report.count else f"no events after seq {report.last_seq}"
    print(f"OK: tenant {report.tenant}, {span}, {report.count} events, head {report.head}, "
          f"checkpoint signed by kid {report.kid}", file=out)
    if since is not None:
        how = "signed" if since.signature_checked else "kept (its key is no longer published)"
        print(f"OK: extends the {how} checkpoint at seq {since.seq}", file=out)
    return VALID


def _token(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    try:
        token = text_argument(args.token)
        options = {"keys": jwks_keys(load_jwks(args.jwks))} if args.jwks else {}
        verifier = Verifier(args.issuer, args.audience, **options)
    except (Unreadable, JWKSInvalid, ValueError) as e:
        print(f"ERROR: {e}", file=out)
        return UNREADABLE
    try:
        claims = verifier.verify(token)
    except (JwksUnavailable, StatusUnavailable) as e:
        print(f"ERROR: {e.reason}: {e}", file=out)
        return UNREADABLE
    except InvalidToken as e:
        print(f"INVALID: {e.reason}: {e}", file=out)
        return INVALID
    if args.feature:
        decision = verifier.gate(token, args.feature)
        summary = {"feature": args.feature, "decision": decision.decision, "obligations": list(decision.obligations),
                   "reason": decision.reason}
        print(f"{'ALLOW' if decision.allowed else 'DENY'}: {json.dumps(summary, ensure_ascii=False)}", file=out)
        return VALID if decision.allowed else INVALID
    print(f"OK: {json.dumps(claims, ensure_ascii=False, sort_keys=True)}", file=out)
    return VALID


def _receipt(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    try:
        keys = jwks_keys(load_jwks(args.jwks))
        claims = verify_receipt(text_argument(args.file), keys, issuer=args.issuer)
    except ReceiptInvalid as e:
        print(f"INVALID: {e}", file=out)
        return INVALID
    except (Unreadable, JWKSInvalid) as e:
        print(f"ERROR: cannot read input: {e}", file=out)
        return UNREADABLE
    print(f"OK: receipt of tenant {claims['tenant']}, request {claims['request_id']}, granted "
          f"{claims['granted']}, declined {claims['declined']}, recorded at log seq {claims['log']['seq']} "
          f"hash {claims['log']['hash']}", file=out)
    return VALID


def parser() -> argparse.ArgumentParser:
    """The command line's grammar (also used by ``agegate audit verify``)."""
    top = argparse.ArgumentParser(prog="agegate-verify", description=__doc__.splitlines()[0])
    commands = top.add_subparsers(dest="command", required=True)
    log = commands.add_parser("log", help="verify a consent-log export (NDJSON, plain or gzip)")
    log.add_argument("file", help="the export, or - for stdin")
    log.add_argument("--jwks", required=True, help="JWKS file or URL of the issuer")
    log.add_argument("--issuer", help="require this iss in the checkpoint")
    log.add_argument("--since-checkpoint", metavar="OLD",
                     help="a checkpoint kept from an earlier export (its line, its JWS, or a file ending with it)")
    log.set_defaults(run=_log)
    token = commands.add_parser("token", help="verify an age token against its issuer")
    token.add_argument("token", help="the token, a file holding it, or - for stdin")
    token.add_argument("--issuer", required=True)
    token.add_argument("--audience", required=True)
    token.add_argument("--feature", help="print the decision for this feature category")
    token.add_argument("--jwks", help="use this JWKS file or URL instead of the issuer's")
    token.set_defaults(run=_token)
    receipt = commands.add_parser("receipt", help="verify a guardian's consent receipt")
    receipt.add_argument("file", help="the receipt (compact JWS), a file holding it, or - for stdin")
    receipt.add_argument("--jwks", required=True, help="JWKS file or URL of the issuer")
    receipt.add_argument("--issuer", help="require this iss")
    receipt.set_defaults(run=_receipt)
    return top


def main(argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run ``agegate-verify`` with ``argv``; return the exit code."""
    args = parser().parse_args(argv)
    code: int = args.run(args, out or sys.stdout, err or sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
