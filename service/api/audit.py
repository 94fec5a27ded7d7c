"""Regulators' consent-log export (CONTRACT §8); the reports are in service.api.reports."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

from flask import Blueprint, Response, g, request, stream_with_context
from marshmallow import Schema, fields, validate

from service.api.auth import require_scope
from service.auditlog.export import checkpoint_claims, checkpoint_line, sign_checkpoint, stored_event_line
from service.runtime import current_runtime
from service.store import audit_log

blueprint = Blueprint("audit", __name__)

# Export lines go out in chunks of this many (~64 KB): one socket write (and one HTTP chunk)
# per line would cost more than reading the line from the database.
EXPORT_CHUNK_LINES = 100


class ExportQuery(Schema):
    tenant = fields.String(validate=validate.Length(min=1, max=128))
    since = fields.AwareDateTime(format="iso")
    until = fields.AwareDateTime(format="iso")
    from_seq = fields.Integer(strict=False, validate=validate.Range(min=1))


EXPORT_QUERY = ExportQuery()  # schemas are stateless: build each once, not per request


@blueprint.get("/v1/audit/consent-log")
@require_scope("audit:export")
def export_consent_log() -> Response:
    """Stream the tenant's log window as NDJSON, closed by a signed checkpoint."""
    runtime = current_runtime()
    query = EXPORT_QUERY.load(request.args.to_dict())
    tenant = query.get("tenant", g.caller.tenant)
    since, until, from_seq = query.get("since"), query.get("until"), query.get("from_seq", 1)
    snapshot = runtime.keyring.snapshot()

    # Open the transaction and read where the chain stands before answering, so a database
    # outage is a 503 rather than a 200 that breaks off without its checkpoint.
    stack = ExitStack()
    session = stack.enter_context(runtime.reporting.transaction())
    try:
        session.connection()  # connect now: the first query may come only after the 200
        start = audit_log.head_before(session, tenant, since, from_seq)
    except BaseException:
        stack.close()
        raise

    def lines() -> Iterator[bytes]:
        with stack:
            seq, head = start
            count = 0
            chunk: list[bytes] = []
            for entry in audit_log.entries(session, tenant, since, until, from_seq):
                chunk.append(stored_event_line(entry.seq, entry.event, entry.prev, entry.hash))
                if len(chunk) == EXPORT_CHUNK_LINES:
                    yield b"".join(chunk)
                    chunk = []
                seq, head, count = entry.seq, entry.hash, count + 1
            if chunk:
                yield b"".join(chunk)
        claims = checkpoint_claims(
            issuer=runtime.settings.issuer, tenant=tenant, seq=seq, head=head, count=count,
            iat=int(runtime.clock().timestamp()),
        )
        yield checkpoint_line(seq=seq, head=head, count=count, jws=sign_checkpoint(claims, snapshot.private_key, snapshot.kid))

    return Response(stream_with_context(lines()), mimetype="application/x-ndjson")
