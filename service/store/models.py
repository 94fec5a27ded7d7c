"""Tables. Personal fields are ciphertext or keyed hashes; consent rows are never updated."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, CheckConstraint, Date, ForeignKey, ForeignKeyConstraint, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from service.store.base import Base, UTCDateTime


class Client(Base):
    """An OAuth2 client of the service; the secret is kept only as a SHA-256 digest.

    A regulator client belongs to no tenant (tenant NULL) and names the tenant it reads.
    A revoked client keeps its row, so its id is never reused and the tenant stays known.
    """

    __tablename__ = "clients"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant: Mapped[str | None] = mapped_column(String(128), index=True)
    name: Mapped[str] = mapped_column(String(200))
    secret_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[str] = mapped_column(String(500))
    audience: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    secret_rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Audience(Base):
    """A persona service id, owned by the one tenant that registered it first (CONTRACT §16):
    only that tenant's tokens may name it as `aud`."""

    __tablename__ = "audiences"

    audience: Mapped[str] = mapped_column(String(200), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AccessToken(Base):
    """An issued bearer token, kept as a SHA-256 digest so a database leak grants nothing."""

    __tablename__ = "access_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.client_id", ondelete="CASCADE"), index=True)
    scopes: Mapped[str] = mapped_column(String(500))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class Subject(Base):
    """One end user of a tenant. Erasure deletes the row; consent-log events stay."""

    __tablename__ = "subjects"
    __table_args__ = (
        UniqueConstraint("tenant", "subject_ref"),
        # one subject per resident ID and tenant; NULLs (no ID given) do not collide
        Index("ix_subjects_tenant_resident_id_hmac", "tenant", "resident_id_hmac", unique=True),
        # reports count brackets by birth month and registration time from this index alone
        Index("ix_subjects_tenant_birth_month_created_at", "tenant", "birth_month", "created_at"),
        # the annual report groups one year's registrations by birth month from this one
        Index("ix_subjects_tenant_created_at_birth_month", "tenant", "created_at", "birth_month"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(128))
    subject_ref: Mapped[str] = mapped_column(String(128))
    # AES-GCM ciphertext of the ISO birth date, bound to (tenant, subject_ref) as associated data
    birth_date_enc: Mapped[bytes] = mapped_column(LargeBinary)
    # Year and month of birth in clear (YYYYMM, never the day), so reports count brackets in
    # SQL and decrypt only boundary months (service.domain.age_counts). NULL: not yet known.
    birth_month: Mapped[int | None] = mapped_column(Integer)
    assurance: Mapped[str] = mapped_column(String(20))
    method: Mapped[str] = mapped_column(String(20))
    # HMAC of the resident ID number, for duplicate detection; the number itself is never stored
    resident_id_hmac: Mapped[str | None] = mapped_column(String(64))
    attester: Mapped[str | None] = mapped_column(String(200))
    verified_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The status-list slot shared by all of this subject's live tokens; a revocation sets the
    # bit of this slot and gives the subject a fresh one.
    status_slot: Mapped[int] = mapped_column(ForeignKey("status_slots.id"))


class SubjectActivity(Base):
    """The last local day a token was issued for a subject: monthly active subjects.

    Written in batches off the issuance path (service.reports.activity), at most once per
    subject and flush; erasing the subject deletes its row.
    """

    __tablename__ = "subject_activity"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant", "subject_ref"], ["subjects.tenant", "subjects.subject_ref"], ondelete="CASCADE"
        ),
        Index("ix_subject_activity_tenant_last_issued_on", "tenant", "last_issued_on"),
    )

    tenant: Mapped[str] = mapped_column(String(128), primary_key=True)
    subject_ref: Mapped[str] = mapped_column(String(128), primary_key=True)
    last_issued_on: Mapped[date] = mapped_column(Date)


class SigningKey(Base):
    """An Ed25519 token-signing key; the private half is encrypted under the KEK."""

    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    # production keys sign production tokens; sandbox keys sign every sandbox tenant's (CONTRACT §15)
    realm: Mapped[str] = mapped_column(String(16), server_default="production")
    private_key_enc: Mapped[bytes] = mapped_column(LargeBinary)
    public_jwk: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    # Set when a newer key takes over; the key stays published until every token it signed expired.
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    publish_until: Mapped[datetime | None] = mapped_column(UTCDateTime())


class StatusSlot(Base):
    """One status-list slot, handed out once and never reused.

    Slot n is index (n - 1) % LIST_CAPACITY of list (n - 1) // LIST_CAPACITY + 1 (see
    service.store.status). An identity column hands them out, so concurrent writers never
    queue on a shared counter row.
    """

    __tablename__ = "status_slots"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)


class StatusRevocation(Base):
    """A set bit: the slot's tokens are invalid (status 1)."""

    __tablename__ = "status_revocations"

    slot: Mapped[int] = mapped_column(ForeignKey("status_slots.id"), primary_key=True)
    revoked_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Consent(Base):
    """A guardian consent as granted. Never updated: its end is a ConsentEnding row."""

    __tablename__ = "consents"
    __table_args__ = (Index("ix_consents_tenant_child_ref", "tenant", "child_ref"),)

    consent_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(128))
    child_ref: Mapped[str] = mapped_column(String(128))
    guardian_ref: Mapped[str] = mapped_column(String(128), index=True)
    relationship: Mapped[str] = mapped_column(String(20))
    scopes: Mapped[str] = mapped_column(String(500))  # space-separated feature categories
    method: Mapped[str] = mapped_column(String(64))
    evidence_ref: Mapped[str] = mapped_column(String(200))
    notice_version: Mapped[str] = mapped_column(String(64))
    policy: Mapped[str] = mapped_column(String(32))
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    client_id: Mapped[str] = mapped_column(String(64))


class ConsentEnding(Base):
    """How and when a consent stopped counting: withdrawn, expired, or its subject erased."""

    __tablename__ = "consent_endings"

    consent_id: Mapped[str] = mapped_column(ForeignKey("consents.consent_id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(String(500))
    ended_at: Mapped[datetime] = mapped_column(UTCDateTime())
    client_id: Mapped[str | None] = mapped_column(String(64))


class IdempotencyRecord(Base):
    """The first answer to a client's Idempotency-Key, replayed for a repeat of the same request."""

    __tablename__ = "idempotency_keys"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response_body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class ConsentLogEntry(Base):
    """One link of a tenant's hash chain. Append-only; Postgres refuses UPDATE and DELETE."""

    __tablename__ = "consent_log"
    __table_args__ = (Index("ix_consent_log_tenant_recorded_at", "tenant", "recorded_at"),)

    tenant: Mapped[str] = mapped_column(String(128), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    event: Mapped[str] = mapped_column(Text)  # the event as JSON, exactly as hashed
    prev: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ConsentLogCount(Base):
    """Log entries per tenant, UTC hour and event type: reports count the year's consent
    decisions from here instead of parsing every event. Kept by a database trigger on each
    insert into consent_log (migration 0007), so no writer can forget it."""

    __tablename__ = "consent_log_counts"

    tenant: Mapped[str] = mapped_column(String(128), primary_key=True)
    hour: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    event_type: Mapped[str] = mapped_column(String(64), primary_key=True)
    events: Mapped[int] = mapped_column(Integer)


class LogHead(Base):
    """The tip of a tenant's chain; locking this row serialises that tenant's writers only."""

    __tablename__ = "consent_log_heads"

    tenant: Mapped[str] = mapped_column(String(128), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class WebhookSubscription(Base):
    """Where a tenant wants its events sent. The secret signs, so it is encrypted, not hashed."""

    __tablename__ = "webhook_subscriptions"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(128), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[str] = mapped_column(String(1000))  # space-separated webhook types
    # AES-GCM ciphertext of the whsec_ secret under the KEK, bound to the subscription id
    secret_enc: Mapped[bytes] = mapped_column(LargeBinary)
    # The last log seq of the tenant that fan-out has considered for this subscription:
    # everything up to it has a delivery row (if subscribed), nothing after it has one yet.
    cursor_seq: Mapped[int] = mapped_column(Integer)
    # Set by a replay: deliveries fanned out up to this seq are marked as replays.
    replay_until_seq: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))  # active | failing
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    client_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class WebhookDelivery(Base):
    """One event (or test ping) owed to one subscription, until delivered or given up."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_state_next_attempt_at", "state", "next_attempt_at"),
        Index("ix_webhook_deliveries_subscription_id_id", "subscription_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subscription_id: Mapped[str] = mapped_column(ForeignKey("webhook_subscriptions.id"))
    tenant: Mapped[str] = mapped_column(String(128))
    seq: Mapped[int] = mapped_column(Integer)  # the log seq; 0 for a test ping
    event_type: Mapped[str] = mapped_column(String(64))  # the webhook type
    message_id: Mapped[str] = mapped_column(String(64))
    origin: Mapped[str] = mapped_column(String(10))  # live | replay | test
    state: Mapped[str] = mapped_column(String(10))  # pending | delivered | failed | cancelled
    attempts: Mapped[int] = mapped_column(Integer)
    # When pending: due time; while a worker holds it, the end of that worker's lease.
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    claim: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    first_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class WebhookAttempt(Base):
    """One HTTP attempt of a delivery: what came back, how long it took, what went wrong."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("webhook_deliveries.id"), index=True)
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status_code: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[int] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(200))
    # At most 256 characters of the receiver's answer: enough to debug, too little to hoard.
    response_prefix: Mapped[str | None] = mapped_column(String(256))


class Deletion(Base):
    """A deletion the app owes (Art. 20 of the children's PI Provisions), until acknowledged."""

    __tablename__ = "deletions"
    __table_args__ = (Index("ix_deletions_tenant_due_by", "tenant", "due_by"),)

    deletion_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(128))
    child_ref: Mapped[str] = mapped_column(String(128))
    cause: Mapped[str] = mapped_column(String(20))
    consent_id: Mapped[str | None] = mapped_column(String(36))
    required_at: Mapped[datetime] = mapped_column(UTCDateTime())
    due_by: Mapped[datetime] = mapped_column(UTCDateTime())
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    acknowledged_by: Mapped[str | None] = mapped_column(String(64))


class BracketChangeEmitted(Base):
    """That one subject's bracket change was logged, so no worker logs it twice.

    The key is a keyed hash of (tenant, subject_ref, new bracket, instant): a reader of the
    table learns how many changes happened, never whose or on which day.
    """

    __tablename__ = "bracket_changes_emitted"

    marker: Mapped[str] = mapped_column(String(64), primary_key=True)
    emitted_at: Mapped[datetime] = mapped_column(UTCDateTime())


class BracketScanDay(Base):
    """A civil day (service time zone) whose 00:00 bracket changes have all been logged."""

    __tablename__ = "bracket_scan_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime())

class GuardianControlsChange(Base):
    """A guardian's controls for a child as set at one instant (CONTRACT §13). Never updated:
    the latest row is in force, and the history answers what was in force at any instant."""

    __tablename__ = "guardian_controls"
    __table_args__ = (Index("ix_guardian_controls_tenant_child_ref_id", "tenant", "child_ref", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(128))
    child_ref: Mapped[str] = mapped_column(String(128))
    guardian_ref: Mapped[str] = mapped_column(String(128))
    controls: Mapped[str] = mapped_column(Text)  # JSON: limits and blocked_categories
    set_at: Mapped[datetime] = mapped_column(UTCDateTime())
    log_seq: Mapped[int] = mapped_column(Integer)  # the controls_changed entry of the tenant's log


class TenantPolicyRevision(Base):
    """One installed revision of a tenant's policy overrides. Never updated: the highest
    revision is in force, earlier ones answer for past instants."""

    __tablename__ = "tenant_policies"

    tenant: Mapped[str] = mapped_column(String(128), primary_key=True)
    revision: Mapped[int] = mapped_column(Integer, primary_key=True)
    document: Mapped[str] = mapped_column(Text)  # the override document as installed (JSON)
    installed_at: Mapped[datetime] = mapped_column(UTCDateTime())

class ConsentRequest(Base):
    """A consent the app asked agegate to collect from a guardian on the hosted page (CONTRACT §12).

    The link token and the guardian code are kept only as keyed hashes and the child's label
    only sealed under the KEK, so a copy of the database opens no page and names no child.
    `state` is pending, completed, locked or expired; a pending request past `expires_at`
    reads as expired before the sweep records it.
    """

    __tablename__ = "consent_requests"
    __table_args__ = (Index("ix_consent_requests_tenant_child_ref", "tenant", "child_ref"),)

    request_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(128))
    client_id: Mapped[str] = mapped_column(String(64))
    child_ref: Mapped[str] = mapped_column(String(128))
    guardian_ref: Mapped[str] = mapped_column(String(128))
    relationship: Mapped[str] = mapped_column(String(20))
    scopes: Mapped[str] = mapped_column(String(500))  # space-separated, in the order asked
    notice_version: Mapped[str] = mapped_column(String(64))
    notice_url: Mapped[str] = mapped_column(String(500))
    child_label_enc: Mapped[bytes] = mapped_column(LargeBinary)
    locale: Mapped[str] = mapped_column(String(8))
    link_hash: Mapped[str] = mapped_column(String(64), unique=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    # keyed hash of the guardian's subject at the real-name identity provider, when the app gave one
    idp_subject_hash: Mapped[str | None] = mapped_column(String(64))
    wrong_codes: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[str] = mapped_column(String(10), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    consent_id: Mapped[str | None] = mapped_column(String(36))
    granted: Mapped[str | None] = mapped_column(String(500))
    declined: Mapped[str | None] = mapped_column(String(500))
    receipt: Mapped[str | None] = mapped_column(Text)  # the signed receipt, for the guardian to download again


class ManageLink(Base):
    """A bounded-time link to a guardian's page for one child, kept only as a keyed hash."""

    __tablename__ = "guardian_manage_links"

    link_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(128))
    child_ref: Mapped[str] = mapped_column(String(128))
    guardian_ref: Mapped[str] = mapped_column(String(128))
    request_id: Mapped[str] = mapped_column(ForeignKey("consent_requests.request_id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class TenantPage(Base):
    """How a tenant appears on the guardian pages: its display name and who may frame them."""

    __tablename__ = "tenant_pages"

    tenant: Mapped[str] = mapped_column(String(128), primary_key=True)
    display_name: Mapped[str] = mapped_column(String(200))
    frame_origins: Mapped[str] = mapped_column(String(2000), default="")  # space-separated origins


class SweepMark(Base):
    """How far a periodic sweep has got (e.g. registrations already checked for consent)."""

    __tablename__ = "sweep_marks"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    upto: Mapped[datetime] = mapped_column(UTCDateTime())


class SandboxTenant(Base):
    """A tenant in test mode (CONTRACT §15): its own issuer and keys, and its own clock.

    A tenant is a sandbox from its first client on and never becomes a production tenant;
    a tenant without a row here is a production tenant. The clock offset is how far the
    tenant's clock runs ahead of the real one (it only moves forward).
    """

    __tablename__ = "sandbox_tenants"
    __table_args__ = (CheckConstraint("clock_offset_seconds >= 0", name="clock_forward"),)

    tenant: Mapped[str] = mapped_column(String(128), primary_key=True)
    clock_offset_seconds: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # the instant of the tenant's clock up to which its subjects' bracket changes are logged
    brackets_logged_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
