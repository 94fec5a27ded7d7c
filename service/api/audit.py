"""Regulators' consent-log export (CONTRACT §8); the reports are in service.api.reports."""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from contextlib import ExitStack

from flask import Blueprint, Response, g, request, stream_with_context
from marshmallow import Schema, fields, validate

from service.api.auth import require_scope
from service.api.realm import caller_runtime
from service.api.tenancy import readable_tenant
from service.auditlog.export import checkpoint_claims, checkpoint_line, sign_checkpoint, stored_event_line
from service.store import audit_log

blueprint = Blueprint("audit", __name__)

# Export lines go out in chunks of this many (~64 KB): one socket write (and one HTTP chunk)
# per line would cost more than reading the line from the database.
EXPORT_CHUNK_LINES = 100


class ExportQuery(Schema):
    tenant = fields.String(validate=validate.Length(min=1, max=128))
    since = fields.AwareDateTime(format="iso")
    until = fields.AwareDateTime(format="iso")
    from_seq = fields.Integer(validate=validate.Range(min=1, max=2**53))


EXPORT_QUERY = ExportQuery()  # schemas are stateless: build each once, not per request


@blueprint.get("/v1/audit/consent-log")
@require_scope("audit:export")
def export_consent_log() -> Response:
    """Stream the tenant's log window (since/until on recorded_at, from_seq on seq) as NDJSON,
    closed by a signed checkpoint; gzip-compressed when the caller accepts it."""
    # A sandbox tenant's own export is signed with the sandbox keys as `<issuer>/sandbox`, so
    # it can never pass for a production log (CONTRACT §15); regulators reach production only.
    runtime = caller_runtime()
    query = EXPORT_QUERY.load(request.args.to_dict())
    since, until, from_seq = query.get("since"), query.get("until"), query.get("from_seq")
    snapshot = runtime.keyring.snapshot()

    # Open the transaction and read where the chain stands before answering, so a database
    # outage is a 503 rather than a 200 that breaks off without its checkpoint.
    stack = ExitStack()
    session = stack.enter_context(runtime.reporting.transaction())
    try:
        session.connection()  # connect now: the first query may come only after the 200
        tenant = readable_tenant(session, g.caller, query.get("tenant"))
        start = audit_log.head_before(session, tenant, since, from_seq)
    except BaseException:
        stack.close()
        raise

    def lines() -> Iterator[bytes]:
        with stack:
            seq, head = start
            count = 0
            chunk: list[bytes] = []
            for entry in audit_log.entries(session, tenant, since, until, from_seq=from_seq):
                chunk.append(stored_event_line(entry.seq, entry.event, entry.prev, entry.hash))
                if len(chunk) == EXPORT_CHUNK_LINES:
                    yield b"".join(chunk)
                    chunk = []
                seq, head, count = entry.seq, entry.hash, count + 1
            if chunk:
                yield b"".join(chunk)
        claims = checkpoint_claims(
            issuer=runtime.token_issuer, tenant=tenant, seq=seq, head=head, count=count,
            iat=int(runtime.clock().timestamp()),
        )
        yield checkpoint_line(seq=seq, head=head, count=count, jws=sign_checkpoint(claims, snapshot.private_key, snapshot.kid))

    if request.accept_encodings.quality("gzip") <= 0:
        response = Response(stream_with_context(lines()), mimetype="application/x-ndjson")
    else:
        response = Response(stream_with_context(gzip_stream(lines())), mimetype="application/x-ndjson")
        response.headers["Content-Encoding"] = "gzip"
    response.headers["Vary"] = "Accept-Encoding"
    return response


def gzip_stream(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """gzip the chunks as they come, each flushed so the stream keeps moving. Level 1: a
    million-event export is ~600 MB of JSON, and level 1 already shrinks its repetitive
    lines several times over at a fraction of the default level's CPU."""
    compressor = zlib.compressobj(1, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    for chunk in chunks:
        out = compressor.compress(chunk) + compressor.flush(zlib.Z_SYNC_FLUSH)
        if out:
            yield out
    yield compressor.flush()
