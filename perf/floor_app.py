"""Fair ceilings (issue 17): the least each agegate path must do, and nothing more.

Served by the same gunicorn.conf.py as the service (`gunicorn -c gunicorn.conf.py
perf.floor_app:app`), against the service's own migrated database through the same engine
factory (pool size, pre-ping, timeouts), so service/floor is the cost of agegate's own code:

- `POST /floor/token`: one SELECT of a subject by primary key and one Ed25519 signature of a
  900-byte payload -- the floor of token issuance (a) (no auth, no decrypt, no policy);
- `POST /floor/consent`: one transaction writing what a consent grant writes -- a consent
  row, a consent-log entry and the tenant's chain-head update (the head row locked as the
  service locks it) -- floor (b) for `POST /v1/consents`;
- `POST /floor/subject`: one transaction writing what a registration writes -- a status slot
  and a subject row -- floor (b) for `POST /v1/subjects`.

The JSON body is parsed (the service parses one too) and ignored beyond that.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import uuid
from datetime import datetime, timezone

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Flask, request
from sqlalchemy import insert, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert

from service.store.db import make_engine
from service.store.models import Consent, ConsentLogEntry, LogHead, StatusSlot, Subject
from service.tokens.signing import sign_compact

app = Flask("floor")
_engine = make_engine(os.environ["AGEGATE_DATABASE_URL"])
_key = Ed25519PrivateKey.generate()
_payload = {"pad": "x" * 860}  # with the claim name and JSON punctuation: 900 bytes
_subject_ids: list[int] = []
_cycle = itertools.count()
_pid = os.getpid()


def _next_subject_id() -> int:
    if not _subject_ids:
        with _engine.connect() as conn:
            _subject_ids.extend(conn.scalars(select(Subject.id).order_by(Subject.id).limit(1000)))
    return _subject_ids[next(_cycle) % len(_subject_ids)] if _subject_ids else 0


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/floor/token")
def token() -> tuple[dict[str, object], int]:
    request.get_json(silent=True)
    with _engine.connect() as conn:
        row = conn.execute(select(Subject.subject_ref, Subject.assurance).where(Subject.id == _next_subject_id())).first()
    signed = sign_compact("age-bracket+jwt", {**_payload, "sub": row[0] if row else None}, kid="floor", private_key=_key)
    return {"token": signed}, 201


@app.post("/floor/consent")
def consent() -> tuple[dict[str, object], int]:
    request.get_json(silent=True)
    now = datetime.now(timezone.utc)
    tenant = "floor"
    consent_id = str(uuid.uuid4())
    with _engine.begin() as conn:
        head = conn.execute(
            pg_insert(LogHead)
            .values(tenant=tenant, seq=0, hash="0" * 64)
            .on_conflict_do_update(index_elements=["tenant"], set_={"seq": LogHead.seq})
            .returning(LogHead.seq, LogHead.hash)
        ).one()
        conn.execute(
            insert(Consent).values(
                consent_id=consent_id, tenant=tenant, child_ref=f"c-{_pid}", guardian_ref=f"g-{_pid}",
                relationship="parent", scopes="pi_processing companion", method="in_app_parent_account",
                evidence_ref="floor", notice_version="v3", policy="floor", expires_at=None, granted_at=now,
                client_id="floor",
            )
        )
        seq = head.seq + 1
        event = '{"consent_id":"%s","seq":%d}' % (consent_id, seq)
        digest = hashlib.sha256(bytes.fromhex(head.hash) + event.encode()).hexdigest()
        conn.execute(insert(ConsentLogEntry).values(tenant=tenant, seq=seq, event=event, prev=head.hash, hash=digest, recorded_at=now))
        conn.execute(
            text("UPDATE consent_log_heads SET seq = :seq, hash = :hash, recorded_at = :at WHERE tenant = :tenant"),
            {"seq": seq, "hash": digest, "at": now, "tenant": tenant},
        )
    return {"consent_id": consent_id}, 201


@app.post("/floor/subject")
def subject() -> tuple[dict[str, object], int]:
    request.get_json(silent=True)
    now = datetime.now(timezone.utc)
    with _engine.begin() as conn:
        slot = conn.execute(insert(StatusSlot).returning(StatusSlot.id)).scalar_one()
        conn.execute(
            insert(Subject).values(
                tenant="floor", subject_ref=uuid.uuid4().hex, birth_date_enc=os.urandom(38), assurance="self_declared",
                method="self_declared", resident_id_hmac=None, attester=None, verified_at=now, created_at=now,
                status_slot=slot,
            )
        )
    return {"ok": True}, 201
